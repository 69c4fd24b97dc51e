// Writing responses: JSON encoded once per response, written with one writeHead, and the one error
// shape {"error": {"code", "message"}} for whatever was thrown. Used by the hot routes and by
// express's error handler alike.
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { channels, type Origin } from '../core/channels.js';
import { errors, QrelayError, type ErrorCode } from '../errors.js';
import type { ErrorBody } from './answers.js';
import { BODY_LIMIT } from './json-body.js';
import type { HeaderList } from './response-headers.js';
import { clientErrorStatus, httpAnswer } from './statuses.js';

const JSON_TYPE = 'application/json; charset=utf-8';
const NONE: HeaderList = Object.freeze([]);

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: HeaderList, extra: HeaderList = NONE): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, [...headers, ...extra, 'Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(payload))]);
  res.end(payload);
}

export function sendEmpty(res: ServerResponse, status: number, headers: HeaderList, extra: HeaderList = NONE): void {
  res.writeHead(status, [...headers, ...extra]);
  res.end();
}

/** raw-body and the router tag their errors with `type` and `status`. */
interface HttpishError {
  type?: unknown;
  expose?: unknown;
  message?: unknown;
}

export function toQrelayError(err: unknown): QrelayError {
  if (err instanceof QrelayError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpishError;
  // What raw-body (json-body.ts reads every body with it; JSON, charset and encoding are checked
  // there) and express's router can throw; anything else is a bug.
  switch (e.type) {
    case 'entity.too.large':
      return errors.payloadTooLarge(BODY_LIMIT);
    case 'request.aborted':
    case 'request.size.invalid':
      return errors.badRequest('the request body was incomplete', err);
  }
  if (clientErrorStatus(err) !== undefined) {
    return errors.badRequest(e.expose === true ? String(e.message) : 'bad request', err);
  }
  return errors.internal(err);
}

/** Where a listener reports the errors it answers: its node's log, and their count by code. */
/** Where an error answer goes besides the client: the log, and its node's qrelay:request.refused. */
export interface ErrorSink {
  readonly log: Logger;
  readonly origin: Origin;
}

/** The code of each error answer, for its request line (request-log.ts); set on error answers only. */
const answeredCodes = new WeakMap<ServerResponse, ErrorCode>();

/** The error code `res` was answered with, if it was an error answer sent by sendError. */
export const errorCodeOf = (res: ServerResponse): ErrorCode | undefined => answeredCodes.get(res);

/**
 * Answers with the catalogued error for `err`, at the status statuses.ts gives its code, and
 * publishes it. Unexpected errors (500) are logged with their cause; client errors only at debug level.
 */
export function sendError(res: ServerResponse, err: unknown, headers: HeaderList, sink: ErrorSink, what: { method?: string | undefined; path: string }): void {
  const e = toQrelayError(err);
  const { log } = sink;
  if (channels.refused.hasSubscribers) channels.refused.publish({ origin: sink.origin, code: e.code });
  if (e.code === 'internal_error') {
    log.error({ err: e.cause ?? e, method: what.method, path: what.path }, 'request failed');
  } else {
    log.debug({ code: e.code, method: what.method, path: what.path }, 'request refused');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = { error: { code: e.code, message: e.message } } satisfies ErrorBody;
  const { status, retryAfterS } = httpAnswer(e);
  const { allow } = e.details;
  answeredCodes.set(res, e.code);
  sendJson(res, status, body, headers, retryAfterS !== undefined ? ['Retry-After', String(retryAfterS)] : allow !== undefined ? ['Allow', allow] : NONE);
}
