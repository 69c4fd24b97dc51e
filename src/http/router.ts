// One route table per listener. The hot routes (the ones every login takes, thousands a second)
// are served straight from node:http by method and path; every other request goes to the
// listener's express app, whose routes are listed where it is built. Both listeners dispatch here.
// Another method on a hot route's path is refused here (405 with Allow), as `allowOnly` refuses it
// on an express route's path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors } from '../errors.js';
import type { HeaderList } from './response-headers.js';

/**
 * A hot route's handler; `query` is the raw query string (without `?`), `headers` the ones its
 * answer carries (the listener's, and the request's own, such as its X-Request-Id).
 */
export type HotRoute = (req: IncomingMessage, res: ServerResponse, query: string, headers: HeaderList) => Promise<void>;

/** Serves a request no hot route takes (the listener's express app); `headers` as for a HotRoute. */
export type Fallback = (req: IncomingMessage, res: ServerResponse, headers: HeaderList) => void;

/** Hot routes by `"<METHOD> <path>"`, e.g. `'GET /status/get'`. */
export type HotRoutes = Readonly<Record<string, HotRoute>>;

export interface Dispatch {
  /** Serves `req` by its hot route, or hands it to the fallback (the express app). */
  (req: IncomingMessage, res: ServerResponse, path: string, query: string, headers: HeaderList): void;
  /** Whether `path` is the path of a hot route (by any method). */
  isHot(path: string): boolean;
}

/** The path and the query string of a request URL. */
export function splitUrl(url: string | undefined): { path: string; query: string } {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q === -1 ? { path: u, query: '' } : { path: u.slice(0, q), query: u.slice(q + 1) };
}

export function dispatcher(
  routes: HotRoutes,
  fallback: Fallback,
  onError: (req: IncomingMessage, res: ServerResponse, err: unknown, path: string, headers: HeaderList) => void,
): Dispatch {
  // By path, then method: no "<METHOD> <path>" string built per request.
  const byPath = new Map<string, Map<string | undefined, HotRoute>>();
  for (const [name, route] of Object.entries(routes)) {
    const at = name.indexOf(' ');
    const path = name.slice(at + 1);
    const methods = byPath.get(path) ?? new Map<string | undefined, HotRoute>();
    methods.set(name.slice(0, at), route);
    byPath.set(path, methods);
  }
  const allowed = new Map([...byPath].map(([path, methods]) => [path, [...methods.keys()].join(', ')]));
  const dispatch = (req: IncomingMessage, res: ServerResponse, path: string, query: string, headers: HeaderList): void => {
    const methods = byPath.get(path);
    if (methods === undefined) {
      fallback(req, res, headers);
      return;
    }
    const route = methods.get(req.method);
    if (route === undefined) {
      onError(req, res, errors.methodNotAllowed(req.method ?? '', path, allowed.get(path) ?? ''), path, headers);
      return;
    }
    route(req, res, query, headers).catch((err: unknown) => onError(req, res, err, path, headers));
  };
  return Object.assign(dispatch, { isHot: (path: string) => byPath.has(path) });
}
