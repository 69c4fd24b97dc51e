// The headers every response carries: Cache-Control: no-store and helmet's security headers.
// With our configuration helmet's headers are constants, so they are computed once, by helmet
// itself against a real ServerResponse, and then written with each response in one step (the hot
// routes) or set by one middleware (express routes).
//
// Two sets. Pages, scripts, images and everything express serves get helmet's full document set.
// The JSON answers of the hot routes get the few that still mean something for a response that is
// data, not a document (OWASP's REST Security Cheat Sheet): a CSP under which it loads and runs
// nothing and cannot be framed, X-Frame-Options: DENY for browsers without frame-ancestors,
// nosniff, the same CORP and HSTS as the pages, and no-referrer. The rest govern what a document
// does (popups, process isolation, DNS prefetch of its links, IE's download and XSS filters, Flash
// policy files); a JSON answer does none of it, and writing them cost every wake ~350 bytes and
// five header checks in node:http (docs/performance.md).
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

/**
 * The headers of a JSON answer: helmet's, with the pages' CORP, and only those that matter for
 * data (see above). HSTS and Referrer-Policy are helmet's defaults, as on the pages.
 */
export function jsonAnswerHeaders(shared: { crossOriginResourcePolicy: HelmetOptions['crossOriginResourcePolicy'] }): HeaderList {
  return fixedHeaders({
    crossOriginResourcePolicy: shared.crossOriginResourcePolicy,
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    xFrameOptions: { action: 'deny' },
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  });
}

/** Sets `headers` on every response of an express app. */
export function applyHeaders(headers: HeaderList): RequestHandler {
  return (_req, res, next) => {
    for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
    next();
  };
}
