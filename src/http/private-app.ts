// The private listener: internal services (the phone app's backend), other qrelay nodes, health
// checks and metrics. Bound to its own port (127.0.0.1 by default), served over https when
// PRIVATE_TLS_CERT is set. Two audiences: when INTERNAL_TOKEN is set, every request but the health
// checks and POST /channel/set must carry it; POST /channel/set (node to node, cluster mode only)
// takes no token at all but a seal over the request (cluster/change-seal.ts): fresh, never seen,
// made with the key only nodes derive from CLUSTER_TOKEN. So an app backend, which holds
// INTERNAL_TOKEN, cannot hand a held poll a forged change, and whoever sees a forward cannot send
// one of their own. GET /openapi.json describes both listeners. Every request is logged, one line,
// with a request id.
//
// The hot routes (POST /status/set, POST /channel/set) are served straight from node:http, like the
// public listener's (see public-app.ts for why); express serves the rest.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { CHANNEL_PATH, checkProtocol, parseChannel, PROTOCOL_HEADER } from '../cluster/channel-protocol.js';
import { secretCheck } from '../core/secrets.js';
import type { SessionService } from '../core/session-service.js';
import { DATA_LIMIT_BYTES } from '../core/session.js';
import type { SessionStore } from '../core/session-store.js';
import type { Metrics } from '../observability/metrics.js';
import type { Origin } from '../core/channels.js';
import type { ChannelAnswer, HealthAnswer, PeekAnswer, ReadyAnswer, RedemptionAnswer, SetAnswer } from './answers.js';
import { allowOnly, errorHandler, noRoute } from './error-handler.js';
import { closeUnlessBodyRead, parseJson, readJson, readJsonText } from './json-body.js';
import { openApiJson } from './openapi.js';
import { requestLog } from './request-log.js';
import { sendError, sendJson, type ErrorSink } from './respond.js';
import { dispatcher, splitUrl } from './router.js';
import type { HeaderList } from './response-headers.js';
import { keyQuery, parseOr400, plainSetBody, setBody, setKey, ticketBody } from './validation.js';

/** Checks the seal on a request another node sends (cluster mode; cluster/change-seal.ts). */
export interface SealCheck {
  readonly header: string;
  /** `target` is the request target as received (path and query). */
  verify(req: { readonly method: string; readonly target: string; readonly seal: string | undefined; readonly body: string }): boolean;
}

export interface PrivateAppOptions {
  service: SessionService;
  store: SessionStore;
  log: Logger;
  /** Served at GET /metrics. */
  metrics: Pick<Metrics, 'registry'>;
  /** The node whose errors this listener publishes (qrelay:request.refused). */
  origin: Origin;
  internalToken: string | undefined;
  /**
   * The seal every POST /channel/set must bear; undefined when there are no peers (memory mode),
   * and then the route does not exist.
   */
  seal: SealCheck | undefined;
  /** How long a request body may take to arrive, ms. */
  receiveTimeoutMs: number;
}

/**
 * Liveness and readiness answer without a token: many balancers' health checks cannot send a
 * header, and the answers say nothing but "ok" or "ready".
 */
const isHealthCheck = (method: string | undefined, path: string): boolean =>
  (method === 'GET' || method === 'HEAD') && (path === '/healthz' || path === '/readyz');

/** Checks `Authorization: Bearer <token>` in constant time; everything passes when `token` is unset. */
function bearerCheck(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined) return () => true;
  const matches = secretCheck(`Bearer ${token}`);
  return (req) => {
    const presented = req.headers.authorization;
    return presented !== undefined && matches(presented);
  };
}

export function privateListener(options: PrivateAppOptions): RequestListener {
  const { service, store, log, receiveTimeoutMs } = options;
  // Internal JSON for services, not pages for browsers: no-store, but none of helmet's headers;
  // and the request's id (see request-log.ts), in the hot routes' one writeHead with the rest.
  const headersOf = (id: string): HeaderList => ['Cache-Control', 'no-store', 'X-Request-Id', id];
  const authorized = bearerCheck(options.internalToken);
  const seal = options.seal;
  const logRequest = requestLog(log);
  const sink: ErrorSink = { log, origin: options.origin };

  async function set(req: IncomingMessage, res: ServerResponse, query: string, headers: HeaderList): Promise<void> {
    const input = await readJson(req, res, receiveTimeoutMs);
    const body = plainSetBody(input) ?? parseOr400(setBody, input);
    const key = setKey(query, body.key);
    if (body.data !== undefined && Buffer.byteLength(JSON.stringify(body.data)) > DATA_LIMIT_BYTES) {
      throw errors.dataTooLarge(DATA_LIMIT_BYTES);
    }
    sendJson(res, 200, (await service.set(key, body)) satisfies SetAnswer, headers);
  }

  async function channel(req: IncomingMessage, res: ServerResponse, headers: HeaderList, check: SealCheck): Promise<void> {
    const text = await readJsonText(req, res, receiveTimeoutMs);
    const presented = req.headers[check.header];
    const sealed = { method: req.method ?? '', target: req.url ?? '', seal: typeof presented === 'string' ? presented : undefined, body: text };
    if (!check.verify(sealed)) throw errors.invalidSeal();
    checkProtocol(req.headers[PROTOCOL_HEADER]);
    const body = parseJson(text);
    // A batch (an array, from a node that had several changes for this one in one tick) is
    // checked whole before any poll wakes: one malformed change refuses them all.
    const changes = parseChannel(body);
    const answer: ChannelAnswer = Array.isArray(changes)
      ? { delivered: changes.map((view) => service.receive(view)) }
      : { delivered: service.receive(changes) };
    sendJson(res, 200, answer, headers);
  }

  async function redeem(req: IncomingMessage, res: ServerResponse, _query: string, headers: HeaderList): Promise<void> {
    const { ticket } = parseOr400(ticketBody, await readJson(req, res, receiveTimeoutMs));
    const r = await service.redeem(ticket);
    const answer = { key: r.key, actor: r.actor, data: r.data, client: r.client, confirmedAt: r.confirmedAt } satisfies RedemptionAnswer;
    sendJson(res, 200, answer, headers);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const allowGet = allowOnly('GET');
  app.route('/healthz').all(allowGet).get((_req: Request, res: Response) => {
    res.json({ status: 'ok' } satisfies HealthAnswer);
  });
  app.route('/readyz').all(allowGet).get(async (_req: Request, res: Response) => {
    if (service.closing) throw errors.shuttingDown();
    try {
      await store.ping();
    } catch (cause) {
      throw errors.notReady(cause);
    }
    res.json({ status: 'ready' } satisfies ReadyAnswer);
  });
  app.route('/metrics').all(allowGet).get(async (_req: Request, res: Response) => {
    res.type(options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });
  app.route('/openapi.json').all(allowGet).get((_req: Request, res: Response) => {
    res.type('application/json').send(openApiJson());
  });
  app.route('/status/peek').all(allowGet).get(async (req: Request, res: Response) => {
    const { key } = parseOr400(keyQuery, req.query);
    res.json((await service.peek(key)) satisfies PeekAnswer);
  });
  app.use(noRoute);
  app.use(errorHandler(sink));

  const dispatch = dispatcher(
    {
      'POST /status/set': set,
      'POST /ticket/redeem': redeem,
      // Cluster mode only: in memory mode there are no peers, and /channel/set is a 404.
      ...(seal === undefined
        ? {}
        : { [`POST ${CHANNEL_PATH}`]: (req: IncomingMessage, res: ServerResponse, _query: string, headers: HeaderList) => channel(req, res, headers, seal) }),
    },
    (req, res, headers) => {
      for (let i = 0; i < headers.length; i += 2) res.setHeader(headers[i]!, headers[i + 1]!);
      app(req, res);
    },
    (req, res, err, path, headers) => sendError(res, err, headers, sink, { method: req.method, path }),
  );

  return (req, res) => {
    const headers = headersOf(logRequest(req, res));
    closeUnlessBodyRead(req, res);
    const { path, query } = splitUrl(req.url);
    // A peer proves itself with the seal, which the route checks (it covers the body).
    const fromPeer = seal !== undefined && req.method === 'POST' && path === CHANNEL_PATH;
    if (!(fromPeer || isHealthCheck(req.method, path) || authorized(req))) {
      sendError(res, errors.unauthorized(), headers, sink, { method: req.method, path });
      return;
    }
    dispatch(req, res, path, query, headers);
  };
}
