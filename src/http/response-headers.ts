// The headers every response carries: Cache-Control: no-store and helmet's security headers.
// With our configuration helmet's headers are constants, so they are computed once, by helmet
// itself against a real ServerResponse, and then written with each response in one step (the hot
// routes) or set by one middleware (express routes).
import http from 'node:http';
import net from 'node:net';
import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/** Header names and values, flat: [name, value, name, value, ...] (the form writeHead takes). */
export type HeaderList = readonly string[];

export function fixedHeaders(options: HelmetOptions): HeaderList {
  const res = new http.ServerResponse(new http.IncomingMessage(new net.Socket()));
  let failure: unknown;
  helmet(options)(res.req, res, (err?: unknown) => {
    failure = err;
  });
  if (failure !== undefined) throw failure;
  res.setHeader('Cache-Control', 'no-store');
  const list: string[] = [];
  for (const name of res.getHeaderNames()) list.push(name, String(res.getHeader(name)));
  return Object.freeze(list);
}

/** Sets `headers` on every response of an express app. */
export function applyHeaders(headers: HeaderList): RequestHandler {
  return (_req, res, next) => {
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
    next();
  };
}
