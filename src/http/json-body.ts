// Request bodies. JSON bodies are application/json in UTF-8 only (415 otherwise), not empty (400),
// at most 16 KiB (413), valid JSON (400), and must arrive within the receive timeout (408: the
// answer closes the connection, as the rest of the body may never come); readJson works on
// plain node requests (the hot routes) and, as `jsonBody`, in express.
//
// A large body nobody reads is not drained. To reuse a connection after answering, Node reads and
// discards whatever body is left, of any size, at the sender's pace; so the response to a request
// that announced a body larger than we would ever read, or a chunked one (of unknown size), closes
// the connection (`closeUnlessBodyRead`, called first thing by both listeners), unless readJson has
// read that body to its end. A body too large, unwanted, or refused before it was read (401, 404,
// 415, 413) therefore costs a few packets, not 200 MiB; a small one (a client that posts `{}` to
// POST /status/new) is drained as usual and keeps its connection, which it reuses for the poll:
// Node drains a body nobody started reading once the response has finished, and readJson drains
// the rest of one whose read it gave up (408, 400) the same way.
//
// The common Content-Type values of a JSON body with a Content-Length skip type-is and
// content-type (JSON_TYPES); every other request goes through both, with the same answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import contentType from 'content-type';
import type { RequestHandler } from 'express';
import getRawBody from 'raw-body';
import typeis from 'type-is';
import { errors } from '../errors.js';
import { defaults } from '../defaults.js';

/** The body limit in words, for refusals and the document. */
export const BODY_LIMIT = `${defaults.bodyLimitBytes / 1024} KiB`;

/**
 * Marks the response to close the connection if the request announced a large or chunked body
 * (see above); a small body nobody read is drained once the response is sent, so the connection
 * can carry the next request (left paused, it would hold that request until a timeout).
 */
export function closeUnlessBodyRead(req: IncomingMessage, res: ServerResponse): void {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && !(Number(length) <= defaults.bodyLimitBytes))) {
    res.setHeader('Connection', 'close');
  }
}

/** Content-Type values of a UTF-8 JSON body as clients commonly send them (see above). */
const JSON_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/json; charset=utf-8',
  'application/json;charset=utf-8',
  'application/json; charset=UTF-8',
  'application/json;charset=UTF-8',
]);

/**
 * Reads `req`'s JSON body as text (checked for media type, charset, encoding and size), at most
 * `timeoutMs` after it is asked for; `res` is the response to it.
 */
export function readJsonText(req: IncomingMessage, res: ServerResponse, timeoutMs: number): Promise<string> {
  const { headers } = req;
  const plain =
    JSON_TYPES.has(headers['content-type'] ?? '') && headers['content-length'] !== undefined && headers['content-encoding'] === undefined;
  if (!plain) {
    try {
      checkMediaType(req);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return receive(req, res, timeoutMs);
}

/**
 * Throws 415 unless `req` has a JSON body in UTF-8 without a content encoding, and 400 empty_body
 * for a request with no body that is JSON or says nothing of its type (a `curl -X POST`).
 */
function checkMediaType(req: IncomingMessage): void {
  if (!typeis.hasBody(req) || req.headers['content-length'] === '0') {
    const type = req.headers['content-type'];
    throw type === undefined || typeis.is(type, ['application/json']) !== false ? errors.emptyBody() : errors.unsupportedMediaType();
  }
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
}

/** JSON text parsed; an empty body (`Content-Length: 0`) is 400 empty_body. */
export function parseJson(text: string): unknown {
  if (text.length === 0) throw errors.emptyBody();
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw errors.invalidJson(cause);
  }
}

/** Reads `req`'s JSON body and parses it (see readJsonText). */
export function readJson(req: IncomingMessage, res: ServerResponse, timeoutMs: number): Promise<unknown> {
  return readJsonText(req, res, timeoutMs).then(parseJson);
}

/**
 * Body reads in progress, each with the moment (performance.now()) it must have ended by and what
 * to do then. One coarse, unref'd tick checks them all (as undici's timers do), instead of a timer
 * made and cleared per body: a read times out up to defaults.bodySweepMs after its deadline.
 */
const reading = new Map<() => void, number>();
let sweeper: NodeJS.Timeout | undefined;

function sweep(): void {
  if (reading.size === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
    return;
  }
  const now = performance.now();
  for (const [onTimeout, deadline] of reading) if (deadline <= now) onTimeout();
}

/**
 * The body as text, or `408 body_timeout` once `timeoutMs` have passed without all of it.
 * raw-body's failures carry the same `type` tags as body-parser's (entity.too.large, ...); a
 * declared length over the limit fails at once, before anything is read. A read given up leaves
 * the rest of the body to be drained once the response has finished, but for a timeout: that rest
 * may never come, and draining it would hold the connection until Node's own request timeout,
 * which then writes a second, bare 408 on it. The 408 closes the connection instead.
 */
function receive(req: IncomingMessage, res: ServerResponse, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown, timedOut = false): void => {
      if (settled) return;
      settled = true;
      reading.delete(onTimeout);
      if (timedOut) res.setHeader('Connection', 'close');
      else {
        res.once('finish', () => {
          if (!req.complete) req.resume();
        });
      }
      reject(err);
    };
    const onTimeout = (): void => fail(errors.bodyTimeout(timeoutMs), true);
    reading.set(onTimeout, performance.now() + timeoutMs);
    if (sweeper === undefined) {
      sweeper = setInterval(sweep, defaults.bodySweepMs);
      sweeper.unref();
    }
    getRawBody(req, { limit: defaults.bodyLimitBytes, length: req.headers['content-length'] }).then((body) => {
      if (settled) return; // timed out: answered already
      settled = true;
      reading.delete(onTimeout);
      res.removeHeader('Connection'); // read to its end: the connection can carry the next request
      resolve(body.toString('utf8'));
    }, fail);
  });
}

/** Express: reads the JSON body into `req.body`. */
export function jsonBody(timeoutMs: number): RequestHandler {
  return (req, res, next) => {
    readJson(req, res, timeoutMs).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}
