// The browser client (src/client, built into dist/client by `npm run build`) as the public
// listener serves it: GET /qrelay-login.js, an ES module, and GET /qrelay-login.d.ts, its types.
// Both are read once, when the listener is built; they are small and never change while it runs.
import { readFileSync } from 'node:fs';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { allowOnly } from './error-handler.js';

const FILES = [
  { path: '/qrelay-login.js', name: 'qrelay-login.js', type: 'text/javascript; charset=utf-8' },
  { path: '/qrelay-login.d.ts', name: 'qrelay-login.d.ts', type: 'text/plain; charset=utf-8' },
] as const;

// Beside this module when it runs from dist/; dist/client when it runs from src/ (the tests).
const DIRS = [new URL('../client/', import.meta.url), new URL('../../dist/client/', import.meta.url)];

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

export function clientFiles(log: Logger): express.Router {
  const router = express.Router();
  for (const file of FILES) {
    const body = read(file.name);
    if (body === undefined) {
      log.warn({ file: file.name }, 'the browser client is not built (npm run build); its route answers 404');
      continue;
    }
    router.route(file.path).all(allowOnly('GET')).get((_req: Request, res: Response) => {
      res.type(file.type).send(body);
    });
  }
  return router;
}
