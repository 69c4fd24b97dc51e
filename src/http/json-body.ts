// JSON request bodies: application/json in UTF-8 only (415 otherwise), at most 16 KiB (413),
// valid JSON (400). Works on plain node requests (the hot routes) and, as `jsonBody`, in express.
import type { IncomingMessage } from 'node:http';
import contentType from 'content-type';
import type { RequestHandler } from 'express';
import getRawBody from 'raw-body';
import typeis from 'type-is';
import { errors } from '../errors.js';

export const BODY_LIMIT = '16kb';

/** The body of a JSON request, as text (checked for media type, charset, encoding and size). */
export async function readJsonText(req: IncomingMessage): Promise<string> {
  if (!typeis(req, ['application/json'])) throw errors.unsupportedMediaType();
  let charset: string;
  try {
    charset = (contentType.parse(req).parameters['charset'] ?? 'utf-8').toLowerCase();
  } catch {
    throw errors.unsupportedMediaType('the Content-Type header is malformed');
  }
  if (charset !== 'utf-8' && charset !== 'utf8') throw errors.unsupportedMediaType(`unsupported charset "${charset.toUpperCase()}"`);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') throw errors.unsupportedMediaType(`unsupported content encoding "${encoding}"`);
  // raw-body's failures carry the same `type` tags as body-parser's (entity.too.large, ...).
  return (await getRawBody(req, { limit: BODY_LIMIT, length: req.headers['content-length'] })).toString('utf8');
}

/** JSON text parsed; an empty body is `undefined`. */
export function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw errors.invalidJson(cause);
  }
}

export async function readJson(req: IncomingMessage): Promise<unknown> {
  return parseJson(await readJsonText(req));
}

export const jsonBody: RequestHandler = (req, _res, next) => {
  readJson(req).then((body) => {
    req.body = body;
    next();
  }, next);
};
