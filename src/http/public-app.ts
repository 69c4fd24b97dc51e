// The public listener: what browsers reach. Only these routes exist here; the private routes are
// on another express app bound to another port, so none of them can be reached from here.
import { fileURLToPath } from 'node:url';
import cors from 'cors';
import express, { type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import QRCode from 'qrcode';
import { errors } from '../errors.js';
import { PollEnd } from '../core/pending-polls.js';
import type { PollAnswer, SessionService } from '../core/session-service.js';
import { errorHandler, noRoute } from './error-handler.js';
import type { Limits } from './limits.js';
import { noStore } from './no-store.js';
import { keyQuery, parseOr400, pollQuery } from './validation.js';
import type { TrustProxy } from '../config.js';

export interface PublicAppOptions {
  service: SessionService;
  log: Logger;
  trustProxy: TrustProxy;
  corsOrigins: readonly string[];
  /** Extra routes mounted before the static files (the demo backend). */
  extraRoutes?: express.Router | undefined;
  limits: Limits;
}

const PUBLIC_DIR = fileURLToPath(new URL('../../public', import.meta.url));

// Stored per session and shown on the phone; bounded so a session's footprint is bounded too.
const clip = (s: string | undefined, max: number): string => (s ?? '').slice(0, max);

export function clientOf(req: Request): { ip: string; userAgent: string; acceptLanguage: string } {
  return {
    ip: req.ip ?? req.socket.remoteAddress ?? '',
    userAgent: clip(req.get('user-agent'), 512),
    acceptLanguage: clip(req.get('accept-language'), 128),
  };
}

/** The poll token from `Authorization: Bearer <token>`, if the header has that form. */
function bearer(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined || !header.startsWith('Bearer ')) return undefined;
  return header.slice(7).trim();
}

export function publicApp(options: PublicAppOptions): express.Express {
  const { service, limits } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy);
  app.use(noStore);
  app.use(
    helmet({
      // No upgrade-insecure-requests: the pages load only same-origin relative URLs (already https
      // behind TLS), and on a plain-http LAN address (the demo on a phone) it breaks every script.
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
      // With CORS origins configured, integrators embed the QR image from their own origin.
      crossOriginResourcePolicy: { policy: options.corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' },
    }),
  );
  if (options.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: [...options.corsOrigins],
        methods: ['GET', 'POST'],
        allowedHeaders: ['Authorization', 'Content-Type'],
        maxAge: 600,
      }),
    );
  }

  app.post('/status/new', async (req: Request, res: Response) => {
    const client = clientOf(req);
    await limits.admitSession(client.ip);
    const created = await service.create(client);
    res.status(201).json(created);
  });

  app.get('/status/get', async (req: Request, res: Response) => {
    const query = parseOr400(pollQuery, req.query);
    if (service.closing) throw errors.shuttingDown();
    const release = await limits.admitPoll(clientOf(req).ip, service.heldPolls);
    const controller = new AbortController();
    const onClose = (): void => controller.abort(PollEnd.clientClosed);
    res.once('close', onClose);
    let answer: PollAnswer;
    try {
      answer = await service.poll(query.key, bearer(req), query.since ?? 0, query.wait, controller);
    } finally {
      res.off('close', onClose);
      release();
    }
    if (answer.view === undefined) {
      if (answer.reason === 'client-closed') return;
      // On shutdown, also ask the client to reconnect elsewhere rather than reuse this socket.
      if (answer.reason === 'shutdown') res.setHeader('Connection', 'close');
      res.status(204).end();
      return;
    }
    if (answer.handedOut === true) {
      // The final status is handed out once: for good when this response has left, given back
      // when it never did (the client left while it was being handed out).
      const { key } = query;
      const status = answer.view.status;
      const failed = (err: unknown): void => options.log.warn({ err }, 'could not record a hand-out; its lease will lapse');
      if (req.socket.destroyed) {
        service.abandonHandOut(key).catch(failed);
        return;
      }
      res.once('close', () => {
        const done = res.writableFinished ? service.completeHandOut(key, status) : service.abandonHandOut(key);
        done.catch(failed);
      });
    }
    res.status(200).json(answer.view);
  });

  app.get('/status/qr.svg', async (req: Request, res: Response) => {
    const { key } = parseOr400(keyQuery, req.query);
    if (!(await service.exists(key))) throw errors.sessionNotFound();
    const svg = await QRCode.toString(service.scanUrl(key), { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    res.type('image/svg+xml').send(svg);
  });

  if (options.extraRoutes !== undefined) app.use(options.extraRoutes);
  app.use(express.static(PUBLIC_DIR, { cacheControl: false, etag: false, lastModified: false, index: 'index.html', redirect: false }));
  app.use(noRoute);
  app.use(errorHandler(options.log));
  return app;
}
