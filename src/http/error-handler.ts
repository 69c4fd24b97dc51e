// The one error handler: whatever was thrown becomes {"error": {"code", "message"}} with the
// catalogued status (and Retry-After). Unexpected errors are 500s, logged with their stack;
// client errors are logged at debug level only.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { errors, QrelayError } from '../errors.js';
import { BODY_LIMIT } from './json-body.js';

/** body-parser and the router tag their errors with `type` and `status`. */
interface HttpishError {
  type?: unknown;
  status?: unknown;
  expose?: unknown;
  message?: unknown;
}

function toQrelayError(err: unknown): QrelayError {
  if (err instanceof QrelayError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as HttpishError;
  switch (e.type) {
    case 'entity.parse.failed':
      return errors.invalidJson(err);
    case 'entity.too.large':
      return errors.payloadTooLarge(BODY_LIMIT.replace('kb', ' KiB'));
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return errors.unsupportedMediaType(String(e.message));
    case 'request.aborted':
    case 'request.size.invalid':
      return errors.badRequest('the request body was incomplete', err);
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new QrelayError('bad_request', e.status, e.expose === true ? String(e.message) : 'bad request', { cause: err });
  }
  return errors.internal(err);
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toQrelayError(err);
    if (e.status >= 500 && e.code !== 'store_unavailable' && e.code !== 'shutting_down') {
      log.error({ err: e.cause ?? e, method: req.method, path: req.path }, 'request failed');
    } else {
      log.debug({ code: e.code, method: req.method, path: req.path }, 'request refused');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e.retryAfterS !== undefined) res.setHeader('Retry-After', String(e.retryAfterS));
    res.status(e.status).json({ error: { code: e.code, message: e.message } });
  };
}

/** The last route of each listener: anything unmatched is a 404 in the catalog's shape. */
export const noRoute: RequestHandler = (req, _res, next) => {
  next(errors.noRoute(req.method, req.path));
};
