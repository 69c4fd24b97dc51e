// The private listener: internal services (the phone app's backend), other qrelay nodes, health
// checks and metrics. Bound to its own port (127.0.0.1 by default) and, when INTERNAL_TOKEN is
// set, every request must carry it. Every request is logged, one line, with a request id.
//
// The hot routes (POST /status/set, POST /channel/set) are served straight from node:http, like the
// public listener's (see public-app.ts for why); express serves the rest.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { errors, QrelayError } from '../errors.js';
import { secretEquals } from '../core/secrets.js';
import type { SessionService } from '../core/session-service.js';
import type { SessionStore } from '../core/session-store.js';
import type { Metrics } from '../observability/metrics.js';
import { errorHandler, noRoute } from './error-handler.js';
import { readJson } from './json-body.js';
import { requestLog } from './request-log.js';
import { sendError, sendJson } from './respond.js';
import { applyHeaders, type HeaderList } from './response-headers.js';
import { channelBody, DATA_LIMIT_BYTES, keyQuery, parseOr400, setBody } from './validation.js';

export interface PrivateAppOptions {
  service: SessionService;
  store: SessionStore;
  log: Logger;
  metrics: Metrics;
  internalToken: string | undefined;
}

export function privateListener(options: PrivateAppOptions): RequestListener {
  const { service, store, log } = options;
  // Internal JSON for services, not pages for browsers: no-store, but none of helmet's headers.
  const headers: HeaderList = ['Cache-Control', 'no-store'];
  const expected = options.internalToken === undefined ? undefined : `Bearer ${options.internalToken}`;
  const authorized = (req: IncomingMessage): boolean => {
    const presented = req.headers.authorization;
    return expected === undefined || (presented !== undefined && secretEquals(presented, expected));
  };
  const logRequest = requestLog(log);

  async function set(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseOr400(setBody, await readJson(req));
    if (body.data !== undefined && Buffer.byteLength(JSON.stringify(body.data)) > DATA_LIMIT_BYTES) {
      throw errors.dataTooLarge(DATA_LIMIT_BYTES);
    }
    sendJson(res, 200, await service.set(body.key, body), headers);
  }

  async function channel(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const view = parseOr400(channelBody, await readJson(req));
    sendJson(res, 200, { delivered: service.receive(view) }, headers);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(applyHeaders(headers));
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
  app.get('/status/peek', async (req: Request, res: Response) => {
    const { key } = parseOr400(keyQuery, req.query);
    res.json(await service.peek(key));
  });
  app.use(noRoute);
  app.use(errorHandler(log));

  return (req, res) => {
    logRequest(req, res);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!authorized(req)) {
      sendError(res, errors.unauthorized(), headers, log, { method: req.method, path });
      return;
    }
    let hot: Promise<void>;
    if (req.method === 'POST' && path === '/status/set') hot = set(req, res);
    else if (req.method === 'POST' && path === '/channel/set') hot = channel(req, res);
    else {
      app(req, res);
      return;
    }
    hot.catch((err: unknown) => sendError(res, err, headers, log, { method: req.method, path }));
  };
}
