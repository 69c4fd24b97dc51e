// The private listener: internal services (the phone app's backend), other qrelay nodes, health
// checks, metrics and the API's OpenAPI document. Bound to its own port (127.0.0.1 by default)
// and, when INTERNAL_TOKEN is set, every request must carry it. Every request is logged, one line,
// with a request id.
//
// The hot routes (POST /status/set, POST /channel/set) are served straight from node:http, like the
// public listener's (see public-app.ts for why); express serves the rest.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { secretEquals } from '../core/secrets.js';
import type { SessionService } from '../core/session-service.js';
import type { SessionStore } from '../core/session-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { ChannelAnswer, HealthAnswer, PeekAnswer, ReadyAnswer, RedemptionAnswer, SetAnswer } from './answers.js';
import { errorHandler, noRoute } from './error-handler.js';
import { parseJson, readJson, readJsonText } from './json-body.js';
import { openApiJson } from './openapi.js';
import { requestLog } from './request-log.js';
import { sendError, sendJson } from './respond.js';
import { applyHeaders, type HeaderList } from './response-headers.js';
import { channelBody, DATA_LIMIT_BYTES, keyQuery, parseOr400, setBody, ticketBody } from './validation.js';

/** Checks the seal on a change another node forwards (cluster mode). */
export interface SealCheck {
  verify(body: string, seal: string | undefined): boolean;
}

export interface PrivateAppOptions {
  service: SessionService;
  store: SessionStore;
  log: Logger;
  metrics: Metrics;
  internalToken: string | undefined;
  /**
   * Cluster mode: POST /channel/set takes `Bearer <clusterToken>` (and nothing else), and each
   * change must carry its seal in `header`. Without it (one node) there is no /channel/set.
   */
  channel?: { readonly clusterToken: string; readonly header: string; readonly seal: SealCheck } | undefined;
}

export function privateListener(options: PrivateAppOptions): RequestListener {
  const { service, store, log } = options;
  // Internal JSON for services, not pages for browsers: no-store, but none of helmet's headers.
  const headers: HeaderList = ['Cache-Control', 'no-store'];
  const expected = options.internalToken === undefined ? undefined : `Bearer ${options.internalToken}`;
  const peers = options.channel === undefined ? undefined : `Bearer ${options.channel.clusterToken}`;
  const authorized = (req: IncomingMessage, path: string): boolean => {
    const presented = req.headers.authorization;
    if (path === '/channel/set' && peers !== undefined) return presented !== undefined && secretEquals(presented, peers);
    return expected === undefined || (presented !== undefined && secretEquals(presented, expected));
  };
  const logRequest = requestLog(log);

  async function set(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseOr400(setBody, await readJson(req));
    if (body.data !== undefined && Buffer.byteLength(JSON.stringify(body.data)) > DATA_LIMIT_BYTES) {
      throw errors.dataTooLarge(DATA_LIMIT_BYTES);
    }
    sendJson(res, 200, (await service.set(body.key, body)) satisfies SetAnswer, headers);
  }

  async function channel(req: IncomingMessage, res: ServerResponse, check: NonNullable<PrivateAppOptions['channel']>): Promise<void> {
    const text = await readJsonText(req);
    const seal = req.headers[check.header];
    if (!check.seal.verify(text, typeof seal === 'string' ? seal : undefined)) throw errors.invalidSeal();
    const view = parseOr400(channelBody, parseJson(text));
    sendJson(res, 200, { delivered: service.receive(view) } satisfies ChannelAnswer, headers);
  }

  async function redeem(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { ticket } = parseOr400(ticketBody, await readJson(req));
    const r = await service.redeem(ticket);
    const answer = { key: r.key, actor: r.actor, data: r.data, client: r.client, confirmedAt: r.confirmedAt } satisfies RedemptionAnswer;
    sendJson(res, 200, answer, headers);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(applyHeaders(headers));
  app.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' } satisfies HealthAnswer);
  });
  app.get('/readyz', async (_req: Request, res: Response) => {
    if (service.closing) throw errors.shuttingDown();
    try {
      await store.ping();
    } catch (cause) {
      throw errors.notReady(cause);
    }
    res.json({ status: 'ready' } satisfies ReadyAnswer);
  });
  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  app.get('/openapi.json', (_req: Request, res: Response) => {
    res.type('application/json').send(openApiJson());
  });
  app.get('/status/peek', async (req: Request, res: Response) => {
    const { key } = parseOr400(keyQuery, req.query);
    res.json((await service.peek(key)) satisfies PeekAnswer);
  });
  app.use(noRoute);
  app.use(errorHandler(log));

  return (req, res) => {
    logRequest(req, res);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!authorized(req, path)) {
      sendError(res, errors.unauthorized(), headers, log, { method: req.method, path });
      return;
    }
    let hot: Promise<void>;
    if (req.method === 'POST' && path === '/status/set') hot = set(req, res);
    else if (req.method === 'POST' && path === '/channel/set' && options.channel !== undefined) hot = channel(req, res, options.channel);
    else if (req.method === 'POST' && path === '/ticket/redeem') hot = redeem(req, res);
    else {
      app(req, res);
      return;
    }
    hot.catch((err: unknown) => sendError(res, err, headers, log, { method: req.method, path }));
  };
}
