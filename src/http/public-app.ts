// The public listener: what browsers reach. Only these routes exist here; the private routes are
// on another listener bound to another port, so none of them can be reached from here.
//
// The two hot routes (POST /status/new, GET /status/get) are served straight from node:http (see
// router.ts): with thousands of held polls and a stream of wake-ups, express's per-request work
// (prototype swap, middleware chain, res.send) would be a large share of the CPU per status change
// (docs/performance.md). They share the service, the schemas, the error catalog, the limits and
// Cache-Control: no-store with the express routes, which serve everything else (QR image, the
// browser client, the demo); their JSON answers carry a shorter set of helmet's headers than
// those documents (response-headers.ts says which and why).
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import querystring from 'node:querystring';
import cors from 'cors';
import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import QRCode from 'qrcode';
import type { TrustProxy } from '../config.js';
import { errors } from '../errors.js';
import { channels, type Origin } from '../core/channels.js';
import type { SessionService } from '../core/session-service.js';
import type { NewSessionAnswer } from './answers.js';
import { clientAddress } from './client-address.js';
import type { Limits } from '../limits/limits.js';
import { clientFiles } from './client-files.js';
import { crossSiteCheck } from './cross-site.js';
import { allowOnly, errorHandler, noRoute } from './error-handler.js';
import { closeUnlessBodyRead } from './json-body.js';
import { PollResponse } from './poll-response.js';
import { sendError, sendJson, type ErrorSink } from './respond.js';
import { dispatcher, splitUrl } from './router.js';
import { applyHeaders, fixedHeaders, jsonAnswerHeaders } from './response-headers.js';
import { keyQuery, parseOr400, plainPollQuery, pollQuery } from './validation.js';
import { TOKEN_PATTERN } from '../core/secrets.js';

export interface PublicAppOptions {
  service: SessionService;
  log: Logger;
  /** The node whose errors this listener publishes (qrelay:request.refused), by code. */
  origin: Origin;
  trustProxy: TrustProxy;
  corsOrigins: readonly string[];
  limits: Limits;
  /** Extra routes (the demo: its pages and backend). */
  extraRoutes?: express.Router | undefined;
}

// Stored per session and shown on the phone; bounded so a session's footprint is bounded too.
const clip = (s: string | string[] | undefined, max: number): string => (typeof s === 'string' ? s : '').slice(0, max);

/** `Bearer ` and a poll token (TOKEN_PATTERN: 43 base64url characters); Node trims the value. */
const BEARER_POLL_TOKEN = new RegExp(`^Bearer ${TOKEN_PATTERN.source.slice(1)}`);

/**
 * The poll token from `Authorization: Bearer <token>`, or `missing_token` when there is no such
 * header or it holds nothing shaped like a poll token. Decided from the header alone, before the
 * key is looked at: it tells nothing about the session, so it costs no store read and is counted
 * by no limit (no token of another shape can be right). The pattern runs on the header as it
 * came, a flat string: on the slice after `Bearer ` it costs several times as much.
 */
function pollToken(req: IncomingMessage): string {
  const header = req.headers.authorization;
  if (header === undefined || !BEARER_POLL_TOKEN.test(header)) throw errors.missingToken();
  return header.slice(7);
}

export function publicListener(options: PublicAppOptions): RequestListener {
  const { service, limits, log } = options;
  const sink: ErrorSink = { log, origin: options.origin };
  // With CORS origins configured, integrators embed the QR image from their own origin.
  const shared = { crossOriginResourcePolicy: { policy: options.corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' } } as const;
  // Pages, scripts, the QR image and every express route: helmet's full document set.
  const pageHeaders = fixedHeaders({
    // No upgrade-insecure-requests: the pages load only same-origin relative URLs (already https
    // behind TLS), and on a plain-http LAN address (the demo on a phone) it breaks every script.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    ...shared,
  });
  // The hot routes' JSON answers (and their errors, 204s and CORS preflights): the data set.
  const answerHeaders = jsonAnswerHeaders(shared);
  const ipOf = clientAddress(options.trustProxy);
  const refuseCrossSite = crossSiteCheck(options.corsOrigins);
  const corsMiddleware =
    options.corsOrigins.length > 0
      ? cors({
          origin: [...options.corsOrigins],
          methods: ['GET', 'POST'],
          allowedHeaders: ['Authorization', 'Content-Type'],
          // The browser client on another origin reads these (not CORS-safelisted): when to retry,
          // and the server's clock for the QR's countdown.
          exposedHeaders: ['Retry-After', 'Date'],
          maxAge: 600,
        })
      : undefined;

  async function create(req: IncomingMessage, res: ServerResponse): Promise<void> {
    refuseCrossSite(req); // before the limit: another site's page must not use up the visitor's quota
    const client = {
      ip: ipOf(req),
      userAgent: clip(req.headers['user-agent'], 512),
      acceptLanguage: clip(req.headers['accept-language'], 128),
    };
    await limits.admitSession(client.ip);
    sendJson(res, 201, (await service.create(client)) satisfies NewSessionAnswer, answerHeaders);
  }

  async function poll(req: IncomingMessage, res: ServerResponse, search: string): Promise<void> {
    const query = plainPollQuery(search) ?? parseOr400(pollQuery, querystring.parse(search));
    const token = pollToken(req);
    // Before the first await: a client gone while the poll is being set up is never held, and
    // whatever the poll takes is freed when this request ends.
    const client = new PollResponse(req, res);
    const answer = await service.poll(query.key, token, query.since ?? 0, query.wait, client, ipOf(req));
    client.write(answer, answerHeaders);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', options.trustProxy);
  app.use(applyHeaders(pageHeaders));
  if (corsMiddleware !== undefined) app.use(corsMiddleware);
  app.route('/status/qr.svg').all(allowOnly('GET')).get(async (req: Request, res: Response) => {
    const { key } = parseOr400(keyQuery, req.query);
    await limits.admitQr(ipOf(req));
    // The image of a well-formed key, whatever its session's state (or whether it has one): the
    // store is not read, so the image cannot tell a watcher when the QR was scanned or ended.
    const svg = await QRCode.toString(service.scanUrl(key), { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    res.type('image/svg+xml').send(svg);
  });
  app.use(clientFiles(log, options.corsOrigins));
  if (options.extraRoutes !== undefined) app.use(options.extraRoutes);
  app.use(noRoute);
  app.use(errorHandler(sink));

  const dispatch = dispatcher(
    {
      'GET /status/get': poll,
      'POST /status/new': create,
    },
    (req, res) => app(req, res),
    (req, res, err, path) => sendError(res, err, answerHeaders, sink, { method: req.method, path }),
  );

  return (req, res) => {
    closeUnlessBodyRead(req, res);
    const { path, query } = splitUrl(req.url);
    if (corsMiddleware !== undefined && dispatch.isHot(path)) {
      // cors answers preflights itself: give them the JSON answers' headers (no-store, helmet's) first.
      for (let i = 0; i < answerHeaders.length; i += 2) res.setHeader(answerHeaders[i]!, answerHeaders[i + 1]!);
      corsMiddleware(req, res, () => dispatch(req, res, path, query, answerHeaders));
    } else dispatch(req, res, path, query, answerHeaders);
  };
}
