// The private listener: internal services (the phone app's backend), other qrelay nodes, health
// checks. Bound to its own port (127.0.0.1 by default) and, when INTERNAL_TOKEN is set, every
// request must carry it.
import express, { type Request, type RequestHandler, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { LevelWithSilent, Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Metrics } from '../observability/metrics.js';
import { errors, QrelayError } from '../errors.js';
import { secretEquals } from '../core/secrets.js';
import type { SessionService } from '../core/session-service.js';
import type { SessionStore } from '../core/session-store.js';
import { errorHandler, noRoute } from './error-handler.js';
import { jsonBody } from './json-body.js';
import { noStore } from './no-store.js';
import { channelBody, DATA_LIMIT_BYTES, keyQuery, parseOr400, setBody } from './validation.js';

export interface PrivateAppOptions {
  service: SessionService;
  store: SessionStore;
  log: Logger;
  metrics: Metrics;
  internalToken: string | undefined;
}

function requireInternalToken(token: string): RequestHandler {
  const expected = `Bearer ${token}`;
  return (req, _res, next) => {
    const presented = req.headers.authorization;
    next(presented !== undefined && secretEquals(presented, expected) ? undefined : errors.unauthorized());
  };
}

export function privateApp(options: PrivateAppOptions): express.Express {
  const { service, store } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(noStore);
  // One log line per request, with a request id (the caller's X-Request-Id, or a new one).
  app.use(
    pinoHttp<Request, Response, never>({
      logger: options.log,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, err): LevelWithSilent => (err !== undefined || res.statusCode >= 500 ? 'error' : 'info'),
      serializers: {
        req: (req: { id: unknown; method: unknown; url: unknown }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: unknown }) => ({ statusCode: res.statusCode }),
      },
    }),
  );
  if (options.internalToken !== undefined) app.use(requireInternalToken(options.internalToken));

  app.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req: Request, res: Response) => {
    if (service.closing) throw errors.shuttingDown();
    try {
      await store.ping();
    } catch (cause) {
      throw new QrelayError('not_ready', 503, 'the session store is unreachable', { cause, retryAfterS: 1 });
    }
    res.json({ status: 'ready' });
  });

  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });

  app.post('/status/set', jsonBody, async (req: Request, res: Response) => {
    const body = parseOr400(setBody, req.body);
    if (body.data !== undefined && Buffer.byteLength(JSON.stringify(body.data)) > DATA_LIMIT_BYTES) {
      throw errors.dataTooLarge(DATA_LIMIT_BYTES);
    }
    const result = await service.set(body.key, body);
    res.json(result);
  });

  app.get('/status/peek', async (req: Request, res: Response) => {
    const { key } = parseOr400(keyQuery, req.query);
    res.json(await service.peek(key));
  });

  app.post('/channel/set', jsonBody, (req: Request, res: Response) => {
    const view = parseOr400(channelBody, req.body);
    res.json({ delivered: service.receive(view) });
  });

  app.use(noRoute);
  app.use(errorHandler(options.log));
  return app;
}
