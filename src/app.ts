// The composition root: builds the long-lived objects (store, held polls, service, the two
// listeners) from a validated Config, and owns their ordered shutdown.
import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { isClustered, unsafeSettings, type Config } from './config.js';
import { ChangeSeal } from './cluster/change-seal.js';
import { HttpRelay } from './cluster/http-relay.js';
import { RedisStore, type RedisTarget } from './cluster/redis-store.js';
import { Origin } from './core/channels.js';
import { MemoryStore } from './core/memory-store.js';
import { PendingPolls } from './core/pending-polls.js';
import { SessionService } from './core/session-service.js';
import type { SessionStore } from './core/session-store.js';
import { closeServer, listen } from './http/listeners.js';
import { privateListener } from './http/private-app.js';
import { demoRoutes } from './http/demo-routes.js';
import { memoryCounters } from './limits/counters.js';
import { Limits } from './limits/limits.js';
import { publicListener } from './http/public-app.js';
import { lifecycleLog } from './observability/lifecycle-log.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { defaults } from './defaults.js';

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

function redisTarget(config: Config): RedisTarget {
  if (config.redisClusterNodes.length > 0) return { kind: 'cluster', nodes: config.redisClusterNodes };
  if (config.redisSentinels.length > 0) return { kind: 'sentinel', sentinels: config.redisSentinels, name: config.redisSentinelName };
  return { kind: 'url', url: config.redisUrl ?? '' };
}

async function connectRedis(config: Config, log: Logger, origin: Origin): Promise<RedisStore> {
  let down = false;
  const redis = new RedisStore({
    target: redisTarget(config),
    tls: config.redisTlsCa === undefined ? undefined : { ca: config.redisTlsCa },
    prefix: config.redisPrefix,
    graceMs: config.sessionGraceMs,
    minReplicas: config.redisMinReplicas,
    replicaWaitMs: config.redisReplicaWaitMs,
    origin,
    onError: (err) => {
      if (!down) log.warn({ err: err.message }, 'redis unreachable; answering 503 until it returns');
      down = true;
    },
    onReady: () => {
      if (down) log.info('redis reachable again');
      down = false;
    },
  });
  if (!(await redis.ready(defaults.redisStartWaitMs))) {
    log.warn('redis not reachable at start-up; starting not ready');
    return redis;
  }
  // A primary short of replicas refuses every lasting change (503): say so now, not at the first set.
  try {
    for (const { primary, replicas } of await redis.primariesShortOfReplicas()) {
      log.warn(
        { primary, replicas, wanted: config.redisMinReplicas },
        'REDIS_MIN_REPLICAS: this Redis primary has fewer replicas, so every status change, hand-out and redemption it stores answers 503 store_unavailable until enough connect (REDIS_MIN_REPLICAS=0 accepts losing acknowledged changes in a failover)',
      );
    }
  } catch (err) {
    log.warn({ err }, 'REDIS_MIN_REPLICAS: could not count the primaries\' replicas at start-up');
  }
  return redis;
}

export async function startQrelay(config: Config, options: StartOptions = {}): Promise<Qrelay> {
  const log = options.log ?? createLogger(config);
  const clustered = isClustered(config);
  // What this node publishes on the channels (core/channels.ts) carries this; the metrics and the
  // lifecycle log keep what carries it, until close.
  const origin = new Origin();
  const polls = new PendingPolls(origin);
  // The service is built once the private listener is bound; until then the node is not draining.
  let draining = (): boolean => false;
  const metrics = new Metrics(origin, () => polls.size, () => draining());
  const stopLifecycleLog = lifecycleLog(log, origin);
  const unsubscribe = (): void => {
    metrics.close();
    stopLifecycleLog();
  };

  let store: SessionStore;
  try {
    store = options.store ?? (clustered ? await connectRedis(config, log, origin) : new MemoryStore({ graceMs: config.sessionGraceMs, maxSessions: config.maxSessions, clock: options.clock }));
  } catch (err) {
    unsubscribe();
    throw err;
  }
  // The seal and the relay are made once this node's address (which both name) is known.
  let seal: ChangeSeal | undefined;
  let relay: HttpRelay | undefined;
  const limits = new Limits(
    {
      sessionsPerIpPerMinute: config.sessionsPerIpPerMinute,
      qrPerIpPerMinute: config.qrPerIpPerMinute,
      pollsPerIp: config.pollsPerIp,
      pollsPerNode: config.pollsPerNode,
      tokenFailuresPerIpPerMinute: config.tokenFailuresPerIpPerMinute,
    },
    store instanceof RedisStore ? store.counters() : memoryCounters,
    origin,
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
  const privateServer =
    config.privateTlsCert !== undefined && config.privateTlsKey !== undefined
      ? https.createServer({ ...receiving, cert: config.privateTlsCert, key: config.privateTlsKey })
      : http.createServer(receiving);
  // Browsers reuse a connection from one poll to the next; keep it open longer than a balancer's
  // usual 60 s idle timeout so the balancer, not qrelay, decides when to drop it.
  publicServer.keepAliveTimeout = defaults.serverKeepAliveMs;
  privateServer.keepAliveTimeout = defaults.serverKeepAliveMs;

  const release = async (): Promise<void> => {
    await Promise.all([closeServer(publicServer, 0), closeServer(privateServer, 0)]);
    await relay?.destroy();
    await store.close();
    unsubscribe();
  };

  for (const { setting, message } of unsafeSettings(config)) log.warn({ setting }, message);
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
    privateUrl = await listen(privateServer, config.privatePort, config.privateHost, { port: 'PRIVATE_PORT', host: 'PRIVATE_HOST' });
    const nodeAddr = config.nodeAddr ?? privateUrl;
    seal = clustered && config.clusterToken !== undefined
      ? new ChangeSeal(config.clusterToken, { self: nodeAddr, windowMs: config.clusterSealWindowMs, clock: options.clock })
      : undefined;
    relay = seal === undefined
      ? undefined
      : new HttpRelay({
          seal,
          ca: config.clusterCa,
          timeoutMs: config.forwardTimeoutMs,
          origin,
        });
    service = new SessionService({
      store,
      polls,
      sessionTtlMs: config.sessionTtlMs,
      holdMs: config.holdMs,
      ticketTtlMs: config.ticketTtlMs,
      scanUrlBase: config.scanUrlBase,
      clock: options.clock,
      nodeAddr,
      relay,
      admitPoll: (address, heldHere) => limits.admitPoll(address, heldHere),
      pollMissed: (address, wrongToken) => limits.pollMissed(address, wrongToken),
    });
    draining = () => service.closing;
    privateServer.on(
      'request',
      privateListener({
        service,
        store,
        log,
        metrics,
        origin,
        internalToken: config.internalToken,
        seal,
        receiveTimeoutMs: config.receiveTimeoutMs,
      }),
    );
    publicServer.on(
      'request',
      publicListener({
        service,
        log,
        origin,
        trustProxy: config.trustProxy,
        corsOrigins: config.corsOrigins,
        extraRoutes: config.demo ? demoRoutes(service, config.receiveTimeoutMs) : undefined,
        limits,
      }),
    );
    publicUrl = await listen(publicServer, config.publicPort, config.publicHost, { port: 'PUBLIC_PORT', host: 'PUBLIC_HOST' });
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
      unsubscribe();
    })();
    return closed;
  };

  return { config, publicUrl, privateUrl, nodeAddr: config.nodeAddr ?? privateUrl, service, polls, store, metrics, close };
}
