// The demo (DEMO=1 only): its pages (public/: the PC page at /, the phone page at /scan.html) and
// a backend standing in for the phone app's. Public POST /demo/scan, /demo/confirm, /demo/cancel
// with {key} run the same code as the private POST /status/set, for one fixed demo user. Never
// mount this in production: anyone who sees a QR could confirm the login.
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { SessionService } from '../core/session-service.js';
import type { StatusChange } from '../core/session.js';
import { allowOnly } from './error-handler.js';
import { jsonBody } from './json-body.js';
import { keyQuery, parseOr400 } from './validation.js';

export const DEMO_USER = Object.freeze({ id: 'demo-user', name: 'Demo User' });

const PAGES_DIR = fileURLToPath(new URL('../../public', import.meta.url));

const body = z.strictObject({ key: keyQuery.shape.key }, { error: 'must be a JSON object' });

export function demoRoutes(service: SessionService, receiveTimeoutMs: number): express.Router {
  const router = express.Router();
  const route = (path: string, change: () => StatusChange) =>
    router.route(path).all(allowOnly('POST')).post(jsonBody(receiveTimeoutMs), async (req: Request, res: Response) => {
      const { key } = parseOr400(body, req.body as unknown);
      res.json(await service.set(key, change()));
    });

  route('/demo/scan', () => ({ status: 'scanned', actor: DEMO_USER.id, data: { name: DEMO_USER.name } }));
  route('/demo/confirm', () => ({ status: 'confirmed', actor: DEMO_USER.id, data: { name: DEMO_USER.name } }));
  route('/demo/cancel', () => ({ status: 'cancelled', actor: DEMO_USER.id }));
  router.use(express.static(PAGES_DIR, { cacheControl: false, etag: false, lastModified: false, index: 'index.html', redirect: false }));
  return router;
}
