// Express's side of the one error shape: anything thrown in an express route goes through
// sendError, like the hot routes' failures.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { errors } from '../errors.js';
import { sendError, type ErrorSink } from './respond.js';

export function errorHandler(sink: ErrorSink): ErrorRequestHandler {
  // The fixed headers were already set by the app's first middleware.
  return (err, req, res, _next) => sendError(res, err, [], sink, { method: req.method, path: req.path });
}

/**
 * The first handler on an express route's path (`app.route(path).all(allowOnly('GET')).get(...)`):
 * any other method is a 405 naming the ones the path answers. Express answers HEAD with a GET route.
 */
export function allowOnly(...methods: string[]): RequestHandler {
  const allowed = new Set(methods.includes('GET') ? [...methods, 'HEAD'] : methods);
  const allow = [...allowed].join(', ');
  return (req, _res, next) => {
    next(allowed.has(req.method) ? undefined : errors.methodNotAllowed(req.method, req.path, allow));
  };
}

/** The last route of each express app: anything unmatched is a 404 in the catalog's shape. */
export const noRoute: RequestHandler = (req, _res, next) => {
  next(errors.noRoute(req.method, req.path));
};
