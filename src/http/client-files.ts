// The browser client (src/client, built into dist/client by `npm run build`) as the public
// listener serves it: GET /qrelay-login.js, an ES module, and GET /qrelay-login.d.ts, its types.
// Both are read once, when the listener is built; they are small and never change while it runs.
//
// Caching: each file has an ETag (a hash of its content) and is sent `Cache-Control: no-cache`:
// a browser keeps it but asks each time, and gets a body-less 304 while it is unchanged, so an
// upgrade of qrelay reaches every page at its next load (an element older than the API it talks to
// is worse than a round trip). Under `?v=<the ETag, without quotes>` it is cacheable for a year
// without asking: a page that names the version it was written for loads nothing at all until it
// names another. Any other `v` (a page naming a version this node no longer serves) gets the
// current file, revalidated like the plain URL, never cached as if it were the one asked for.
//
// A page of another origin loads the module in CORS mode: the browser refuses it unless
// CORS_ORIGINS lists that origin, and says so only in that page's console. The first such request
// from each origin is logged (warn), for whoever runs qrelay; at most WARNED_ORIGINS_MAX origins
// are remembered, so a client sending endless made-up origins costs a bounded set and bounded lines.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { unlistedOrigin } from './cross-site.js';
import { allowOnly } from './error-handler.js';

const FILES = [
  { path: '/qrelay-login.js', name: 'qrelay-login.js', type: 'text/javascript; charset=utf-8' },
  { path: '/qrelay-login.d.ts', name: 'qrelay-login.d.ts', type: 'text/plain; charset=utf-8' },
] as const;

// Beside this module when it runs from dist/; dist/client when it runs from src/ (the tests).
const DIRS = [new URL('../client/', import.meta.url), new URL('../../dist/client/', import.meta.url)];

const REVALIDATE = 'no-cache';
const PINNED = 'public, max-age=31536000, immutable';
export const WARNED_ORIGINS_MAX = 100;

function read(name: string): Buffer | undefined {
  for (const dir of DIRS) {
    try {
      return readFileSync(new URL(name, dir));
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** A file's version: 96 bits of its SHA-256, base64url; its ETag is this in quotes. */
export const fileVersion = (body: Buffer): string => createHash('sha256').update(body).digest('base64url').slice(0, 16);

export function clientFiles(log: Logger, corsOrigins: readonly string[]): express.Router {
  const router = express.Router();
  const unlisted = unlistedOrigin(corsOrigins);
  const warned = new Set<string>();
  let full = false;
  const warnOnce = (origin: string): void => {
    if (full || warned.has(origin)) return;
    if (warned.size === WARNED_ORIGINS_MAX) {
      full = true;
      log.warn(`pages on ${WARNED_ORIGINS_MAX} origins not in CORS_ORIGINS loaded /qrelay-login.js; further origins are not logged`);
      return;
    }
    warned.add(origin);
    log.warn(
      { origin },
      'a page on another origin loads /qrelay-login.js, and its browser refuses it: add the origin to CORS_ORIGINS to let that page use qrelay',
    );
  };
  for (const file of FILES) {
    const body = read(file.name);
    if (body === undefined) {
      log.warn({ file: file.name }, 'the browser client is not built (npm run build); its route answers 404');
      continue;
    }
    const version = fileVersion(body);
    const etag = `"${version}"`;
    router
      .route(file.path)
      .all(allowOnly('GET'))
      .get((req: Request, res: Response) => {
        const origin = unlisted(req);
        if (origin !== undefined) warnOnce(origin.slice(0, 256)); // a real origin is shorter
        res.setHeader('Cache-Control', req.query['v'] === version ? PINNED : REVALIDATE);
        res.setHeader('ETag', etag);
        res.type(file.type).send(body); // 304 without the body when If-None-Match names it (req.fresh)
      });
  }
  return router;
}
