// The composition root: builds the long-lived objects (store, held polls, service, the two
// listeners) from a validated Config, and owns their ordered shutdown.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import { isClustered, type Config } from './config.js';
import { ChangeSeal } from './cluster/change-seal.js';
import { HttpRelay } from './cluster/http-relay.js';
import { RedisStore, type RedisTarget } from './cluster/redis-store.js';
import { MemoryStore } from './core/memory-store.js';
import { PendingPolls } from './core/pending-polls.js';
import { SessionService } from './core/session-service.js';
import type { SessionStore } from './core/session-store.js';
import { BODY_LIMIT_BYTES } from './http/json-body.js';
import { privateListener } from './http/private-app.js';
import { CHANNEL_BATCH_MAX } from './http/validation.js';
import { demoRoutes } from './http/demo-routes.js';
import { memoryCounters } from './limits/counters.js';
import { Limits } from './limits/limits.js';
import { publicListener } from './http/public-app.js';
import { allOf } from './core/service-events.js';
import { lifecycleLog } from './observability/lifecycle-log.js';
import { stdoutDestination } from './observability/log-destination.js';
import { Metrics } from './observability/metrics.js';

export interface StartOptions {
  log?: Logger;
  clock?: () => number;
  /** Use this store instead of the one the config selects (tests). */
  store?: SessionStore;
}

export interface Qrelay {
  readonly config: Config;
  readonly publicUrl: string;
  readonly privateUrl: string;
  /** This node's identity in route records (cluster mode). */
  readonly nodeAddr: string;
  readonly service: SessionService;
  readonly polls: PendingPolls;
  readonly store: SessionStore;
  readonly metrics: Metrics;
  /**
   * Graceful stop: refuse new work, answer every held poll 204, let in-flight requests finish,
   * then close the store. Connections still open after SHUTDOWN_TIMEOUT_MS are cut. Safe to call
   * more than once; every call resolves when the one shutdown is done.
   */
  close(): Promise<void>;
}

/**
 * The root logger: JSON lines, batched on their way to stdout (see log-destination.ts). No line
 * carries a secret: lines are built from named fields (lifecycle-log.ts, request-log.ts), errors
 * are reduced to their type, code, message and stack, and a poll token, ticket or `data` passed
 * by mistake at the top of a line is replaced. Serializers run only for the keys a line has;
 * pino's `redact` paths would inspect every line, and cost about as much as formatting it.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, destination: pino.DestinationStream = stdoutDestination()): Logger {
  return pino(
    {
      level: config.logLevel,
      timestamp: epochTime(),
      serializers: { err: errorFields, req: requestFields, pollToken: redacted, ticket: redacted, data: redacted },
    },
    destination,
  );
}

/** pino's own `"time"` field (epoch milliseconds), formatted once per millisecond, not per line. */
function epochTime(): () => string {
  let ms = 0;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      field = `,"time":${now}`;
    }
    return field;
  };
}

const redacted = (): string => '[redacted]';

/** A request as the request line shows it: never its headers (Authorization) or body. */
function requestFields(req: { id?: unknown; method?: unknown; url?: unknown }): unknown {
  return { id: req.id, method: req.method, url: req.url };
}

/**
 * An error's type, code, message and stack, and its cause's. Not its other properties: a client
 * library's error can carry the command that failed, arguments (tickets, `data`) included.
 */
function errorFields(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    message: err.message,
    stack: err.stack,
    ...(err.cause instanceof Error ? { cause: errorFields(err.cause) } : {}),
  };
}

function listen(server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, 4096, () => {
      server.off('error', onError);
      const { address, port: bound, family } = server.address() as AddressInfo;
      const hostPart = family === 'IPv6' ? `[${address}]` : address;
      resolve(`http://${hostPart === '0.0.0.0' ? '127.0.0.1' : hostPart === '[::]' ? '[::1]' : hostPart}:${bound}`);
    });
  });
}

function closeServer(server: http.Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    force.unref();
    // A kept-alive connection whose request was in flight at close() stays open after answering
    // until its keep-alive timeout; close such connections as they go idle.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    sweep.unref();
    server.close(() => {
      clearTimeout(force);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}

function redisTarget(config: Config): RedisTarget {
  if (config.redisClusterNodes.length > 0) return { kind: 'cluster', nodes: config.redisClusterNodes };
  if (config.redisSentinels.length > 0) return { kind: 'sentinel', sentinels: config.redisSentinels, name: config.redisSentinelName };
  return { kind: 'url', url: config.redisUrl ?? '' };
}

/** How long start-up waits for Redis before starting anyway (not ready, recovering by itself). */
const REDIS_START_WAIT_MS = 5_000;

async function connectRedis(config: Config, log: Logger, metrics: Metrics): Promise<RedisStore> {
  let down = false;
  const redis = new RedisStore({
    target: redisTarget(config),
    prefix: config.redisPrefix,
    graceMs: config.sessionGraceMs,
    minReplicas: config.redisMinReplicas,
    replicaWaitMs: config.redisReplicaWaitMs,
    onReplicasBehind: () => metrics.replicasBehind(),
    onError: (err) => {
      metrics.redisError();
      if (!down) log.warn({ err: err.message }, 'redis unreachable; answering 503 until it returns');
      down = true;
    },
    onReady: () => {
      if (down) log.info('redis reachable again');
      down = false;
    },
  });
  if (!(await redis.ready(REDIS_START_WAIT_MS))) log.warn('redis not reachable at start-up; starting not ready');
  return redis;
}

export async function startQrelay(config: Config, options: StartOptions = {}): Promise<Qrelay> {
  const log = options.log ?? createLogger(config);
  const clustered = isClustered(config);
  const polls = new PendingPolls();
  const metrics = new Metrics(() => polls.size);

  const store = options.store ?? (clustered ? await connectRedis(config, log, metrics) : new MemoryStore({ graceMs: config.sessionGraceMs, maxSessions: config.maxSessions, clock: options.clock }));
  const seal = clustered && config.clusterToken !== undefined ? new ChangeSeal(config.clusterToken) : undefined;
  const relay = seal !== undefined
    ? new HttpRelay({
        clusterToken: config.clusterToken ?? '',
        seal,
        timeoutMs: config.forwardTimeoutMs,
        batch: { maxChanges: CHANNEL_BATCH_MAX, maxBytes: BODY_LIMIT_BYTES },
        onForward: () => metrics.forwarded(),
        onFailure: (cause, route, changes) => {
          metrics.forwardFailed(cause, changes);
          log.warn({ cause, route, changes }, 'forward to the holding node failed');
        },
      })
    : undefined;
  const limits = new Limits(
    {
      sessionsPerIpPerMinute: config.sessionsPerIpPerMinute,
      qrPerIpPerMinute: config.qrPerIpPerMinute,
      pollsPerIp: config.pollsPerIp,
      pollsPerNode: config.pollsPerNode,
      tokenFailuresPerSession: config.tokenFailuresPerSession,
    },
    store instanceof RedisStore ? store.counters() : memoryCounters,
    (limit) => metrics.rateLimited(limit),
  );

  // The private listener is bound first: in cluster mode its address is this node's identity in
  // the route records (NODE_ADDR defaults to it). Handlers are attached right after, before any
  // I/O can run, and the public listener opens last, once everything is in place.
  // A request's headers must arrive within RECEIVE_TIMEOUT_MS (Node answers 408 and closes), and
  // its body within as long again (readJson's own 408; the request timeout is the backstop for a
  // body no route reads). Node checks these every connectionsCheckingInterval, 30 s by default.
  const receiving: http.ServerOptions = {
    headersTimeout: config.receiveTimeoutMs,
    requestTimeout: 2 * config.receiveTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, config.receiveTimeoutMs),
  };
  const publicServer = http.createServer(receiving);
  const privateServer = http.createServer(receiving);
  // Browsers reuse a connection from one poll to the next; keep it open longer than a balancer's
  // usual 60 s idle timeout so the balancer, not qrelay, decides when to drop it.
  publicServer.keepAliveTimeout = 65_000;
  privateServer.keepAliveTimeout = 65_000;

  const release = async (): Promise<void> => {
    await Promise.all([closeServer(publicServer, 0), closeServer(privateServer, 0)]);
    await relay?.destroy();
    await store.close();
  };

  const loopbackOrWildcard = /^(127\.|0\.0\.0\.0$|::1?$|localhost$)/.test(config.privateHost);
  if (clustered && config.nodeAddr === undefined && loopbackOrWildcard) {
    log.warn(
      { privateHost: config.privateHost },
      'NODE_ADDR is not set and the private listener is on a loopback or wildcard address: other nodes reach this one only if they run on the same machine. Set NODE_ADDR.',
    );
  }

  let privateUrl: string;
  let publicUrl: string;
  let service: SessionService;
  try {
    privateUrl = await listen(privateServer, config.privatePort, config.privateHost);
    service = new SessionService({
      store,
      polls,
      sessionTtlMs: config.sessionTtlMs,
      holdMs: config.holdMs,
      ticketTtlMs: config.ticketTtlMs,
      scanUrlBase: config.scanUrlBase,
      clock: options.clock,
      nodeAddr: config.nodeAddr ?? privateUrl,
      relay,
      events: allOf(metrics, lifecycleLog(log)),
      tokenFailed: (key) => limits.tokenFailed(key),
    });
    privateServer.on(
      'request',
      privateListener({
        service,
        store,
        log,
        metrics,
        internalToken: config.internalToken,
        cluster: seal === undefined ? undefined : { token: config.clusterToken ?? '', seal },
        receiveTimeoutMs: config.receiveTimeoutMs,
      }),
    );
    publicServer.on(
      'request',
      publicListener({
        service,
        log,
        trustProxy: config.trustProxy,
        corsOrigins: config.corsOrigins,
        extraRoutes: config.demo ? demoRoutes(service, config.receiveTimeoutMs) : undefined,
        limits,
      }),
    );
    publicUrl = await listen(publicServer, config.publicPort, config.publicHost);
  } catch (err) {
    await release();
    throw err;
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    // Drain: refuse new polls and sessions (503, and /readyz fails so the balancer moves on),
    // answer held polls 204 spread over DRAIN_MS, then stop listening and let in-flight requests
    // (sets, forwards) finish; connections still open after SHUTDOWN_TIMEOUT_MS are cut.
    closed ??= (async () => {
      const answered = await service.shutdown(config.drainMs);
      log.info({ answered }, 'draining: held polls answered');
      await Promise.all([closeServer(publicServer, config.shutdownTimeoutMs), closeServer(privateServer, config.shutdownTimeoutMs)]);
      await relay?.close();
      await store.close();
    })();
    return closed;
  };

  return { config, publicUrl, privateUrl, nodeAddr: config.nodeAddr ?? privateUrl, service, polls, store, metrics, close };
}
