// Configuration: the only module that reads the environment. It is read once at start-up,
// validated, and frozen; a bad value stops start-up with a message that names the variable and
// what it allows, and shows the value unless it is a secret (a token, or a URL that may carry a
// password): start-up errors end up in logs that more people read than should hold the secrets.
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';

export type TrustProxy = boolean | number | string[];

export interface Config {
  readonly publicPort: number;
  readonly publicHost: string;
  readonly privatePort: number;
  readonly privateHost: string;
  /** Where the phone page lives; the session key is added as `?key=`. */
  readonly scanUrlBase: string;
  /** Express 'trust proxy': false, true, a hop count, or addresses/subnets of trusted proxies. */
  readonly trustProxy: TrustProxy;
  /** Session lifetime from creation, ms. */
  readonly sessionTtlMs: number;
  /** How long an expired session is still remembered (so polls see `expired`, not 404), ms. */
  readonly sessionGraceMs: number;
  /** Longest hold of one GET /status/get, ms. */
  readonly holdMs: number;
  /** Origins allowed by CORS on the public listener; empty means same-origin use only. */
  readonly corsOrigins: readonly string[];
  /** Bearer token required on the private listener when set (app backends hold it). */
  readonly internalToken: string | undefined;
  /** Nodes' own secret (cluster mode): authenticates and seals POST /channel/set. */
  readonly clusterToken: string | undefined;
  /** How long a confirmed login's ticket may be redeemed, from its hand-out, ms. */
  readonly ticketTtlMs: number;
  /** Let the private listener listen off loopback without INTERNAL_TOKEN (explicit opt-in). */
  readonly allowOpenPrivate: boolean;
  /** How long a request's headers, and then its body, may take to arrive, ms (408 after it). */
  readonly receiveTimeoutMs: number;
  /** How long a graceful shutdown may take before connections are cut, ms. */
  readonly shutdownTimeoutMs: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Mount the demo backend routes (never in production). */
  readonly demo: boolean;
  /** Redis for cluster mode; undefined means one node with the in-memory store. */
  readonly redisUrl: string | undefined;
  /** Redis Cluster seed nodes, host:port; non-empty means Redis Cluster mode. */
  readonly redisClusterNodes: readonly string[];
  /** Redis Sentinel addresses, host:port; non-empty means Sentinel mode (with redisSentinelName). */
  readonly redisSentinels: readonly string[];
  readonly redisSentinelName: string;
  /** Prefix of every Redis key this deployment writes. */
  readonly redisPrefix: string;
  /** The private URL other nodes use to reach this node; derived from the private listener when unset. */
  readonly nodeAddr: string | undefined;
  /** Bounds on a node-to-node forward, ms. */
  readonly forwardTimeoutMs: number;
  /** Sessions one client IP may mint per minute. */
  readonly sessionsPerIpPerMinute: number;
  /** QR images one client IP may have rendered per minute. */
  readonly qrPerIpPerMinute: number;
  /** Polls one client IP may have in flight. */
  readonly pollsPerIp: number;
  /** Polls one node holds at most (admission control). */
  readonly pollsPerNode: number;
  /** Wrong poll tokens a session survives. */
  readonly tokenFailuresPerSession: number;
  /** Sessions the in-memory store keeps at most (memory mode; Redis bounds its own memory). */
  readonly maxSessions: number;
  /** On shutdown, held polls are answered over this window, ms. */
  readonly drainMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const unsetIfEmpty = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const integer = (min: number, max: number, fallback: number) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^\d+$/, { message: `must be a whole number from ${min} to ${max}` })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(min, { message: `must be a whole number from ${min} to ${max}` })
          .max(max, { message: `must be a whole number from ${min} to ${max}` }),
      )
      .optional()
      .transform((v) => v ?? fallback),
  );

const text = (fallback: string) => z.preprocess(unsetIfEmpty, z.string().default(fallback));

const flag = z.preprocess(
  unsetIfEmpty,
  z.enum(['0', '1'], { message: 'must be 0 or 1' }).default('0').transform((v) => v === '1'),
);

const token = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .regex(/^[\x21-\x7e]{16,}$/, { message: 'must be at least 16 printable characters, with no spaces, when set' })
    .optional(),
);

/** Variables whose values are never repeated in an error message. */
const SECRETS: ReadonlySet<string> = new Set(['INTERNAL_TOKEN', 'CLUSTER_TOKEN', 'REDIS_URL']);

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

const httpUrl = z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' });

const list = (item: z.ZodType<string, string>, what: string) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .optional()
      .transform((v) => (v === undefined ? [] : v.split(',').map((s) => s.trim()).filter(Boolean)))
      .pipe(z.array(item, { message: `must be a comma-separated list of ${what}` })),
  );

const origin = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s;
    } catch {
      return false;
    }
  }, { message: 'must be a comma-separated list of origins like https://app.example.com' });

const trustProxy = z.preprocess(
  unsetIfEmpty,
  z
    .string()
    .optional()
    .transform((v): TrustProxy => {
      if (v === undefined || v === 'false') return false;
      if (v === 'true') return true;
      if (/^\d+$/.test(v)) return Number(v);
      return v.split(',').map((s) => s.trim()).filter(Boolean);
    })
    .refine(
      (v) => {
        if (!Array.isArray(v)) return true;
        try {
          proxyaddr.compile(v);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'must be true, false, a hop count, or comma-separated addresses, subnets or loopback/linklocal/uniquelocal' },
    ),
);

const schema = z.object({
  PUBLIC_PORT: integer(0, 65535, 11000),
  PUBLIC_HOST: text('0.0.0.0'),
  PRIVATE_PORT: integer(0, 65535, 11001),
  PRIVATE_HOST: text('127.0.0.1'),
  SCAN_URL_BASE: z.preprocess(unsetIfEmpty, httpUrl.optional()),
  TRUST_PROXY: trustProxy,
  SESSION_TTL_MS: integer(1_000, 3_600_000, 120_000),
  SESSION_GRACE_MS: integer(1_000, 3_600_000, 60_000),
  HOLD_MS: integer(10, 300_000, 25_000),
  CORS_ORIGINS: list(origin, 'origins'),
  INTERNAL_TOKEN: token,
  CLUSTER_TOKEN: token,
  TICKET_TTL_MS: integer(1_000, 3_600_000, 60_000),
  ALLOW_OPEN_PRIVATE: flag,
  RECEIVE_TIMEOUT_MS: integer(100, 60_000, 5_000),
  SHUTDOWN_TIMEOUT_MS: integer(100, 120_000, 5_000),
  LOG_LEVEL: z.preprocess(
    unsetIfEmpty,
    z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'must be one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
  ),
  DEMO: flag,
  REDIS_URL: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .refine((s) => /^rediss?:\/\//.test(s), { message: 'must be a redis:// or rediss:// URL' })
      .optional(),
  ),
  REDIS_CLUSTER_NODES: list(
    z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: 'must be a comma-separated list of host:port' }),
    'host:port',
  ),
  REDIS_SENTINELS: list(
    z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: 'must be a comma-separated list of host:port' }),
    'host:port',
  ),
  REDIS_SENTINEL_NAME: text('mymaster'),
  REDIS_PREFIX: z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : -' })
      .default('qrelay'),
  ),
  NODE_ADDR: z.preprocess(
    unsetIfEmpty,
    httpUrl
      .refine((s) => new URL(s).origin === s.replace(/\/$/, ''), { message: 'must be an origin like http://10.0.0.5:11001, with no path or query' })
      .transform((s) => s.replace(/\/$/, ''))
      .optional(),
  ),
  FORWARD_TIMEOUT_MS: integer(50, 60_000, 1_000),
  RATE_SESSIONS_PER_IP: integer(1, 1_000_000, 60),
  RATE_QR_PER_IP: integer(1, 1_000_000, 240),
  MAX_POLLS_PER_IP: integer(1, 1_000_000, 100),
  MAX_POLLS_PER_NODE: integer(1, 10_000_000, 50_000),
  MAX_TOKEN_FAILURES: integer(1, 1_000, 5),
  MAX_SESSIONS: integer(1, 100_000_000, 1_000_000),
  DRAIN_MS: integer(0, 60_000, 2_000),
});

/** Reads and validates configuration from `env`; throws ConfigError naming the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '?');
      return SECRETS.has(name) ? `${name} (value not shown): ${i.message}` : `${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const config: Config = {
    publicPort: e.PUBLIC_PORT,
    publicHost: e.PUBLIC_HOST,
    privatePort: e.PRIVATE_PORT,
    privateHost: e.PRIVATE_HOST,
    scanUrlBase: e.SCAN_URL_BASE ?? `http://localhost:${e.PUBLIC_PORT || 11000}/scan.html`,
    trustProxy: e.TRUST_PROXY,
    sessionTtlMs: e.SESSION_TTL_MS,
    sessionGraceMs: e.SESSION_GRACE_MS,
    holdMs: e.HOLD_MS,
    corsOrigins: Object.freeze([...e.CORS_ORIGINS]),
    internalToken: e.INTERNAL_TOKEN,
    clusterToken: e.CLUSTER_TOKEN,
    ticketTtlMs: e.TICKET_TTL_MS,
    allowOpenPrivate: e.ALLOW_OPEN_PRIVATE,
    receiveTimeoutMs: e.RECEIVE_TIMEOUT_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    demo: e.DEMO,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: Object.freeze([...e.REDIS_CLUSTER_NODES]),
    redisSentinels: Object.freeze([...e.REDIS_SENTINELS]),
    redisSentinelName: e.REDIS_SENTINEL_NAME,
    redisPrefix: e.REDIS_PREFIX,
    nodeAddr: e.NODE_ADDR,
    forwardTimeoutMs: e.FORWARD_TIMEOUT_MS,
    sessionsPerIpPerMinute: e.RATE_SESSIONS_PER_IP,
    qrPerIpPerMinute: e.RATE_QR_PER_IP,
    pollsPerIp: e.MAX_POLLS_PER_IP,
    pollsPerNode: e.MAX_POLLS_PER_NODE,
    tokenFailuresPerSession: e.MAX_TOKEN_FAILURES,
    maxSessions: e.MAX_SESSIONS,
    drainMs: e.DRAIN_MS,
  };
  const targets = [config.redisUrl !== undefined, config.redisClusterNodes.length > 0, config.redisSentinels.length > 0];
  if (targets.filter(Boolean).length > 1) {
    throw new ConfigError('invalid configuration:\n  REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINELS: set one of them, not several');
  }
  const refuse = (rule: string): never => {
    throw new ConfigError(`invalid configuration:\n  ${rule}`);
  };
  if (isClustered(config) && config.internalToken === undefined) {
    refuse('INTERNAL_TOKEN: required in cluster mode (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS set), at least 16 characters');
  }
  if (isClustered(config) && config.clusterToken === undefined) {
    refuse('CLUSTER_TOKEN: required in cluster mode (nodes present it to each other), at least 16 characters, not INTERNAL_TOKEN');
  }
  if (config.clusterToken !== undefined && config.clusterToken === config.internalToken) {
    refuse('CLUSTER_TOKEN: must differ from INTERNAL_TOKEN (app backends hold INTERNAL_TOKEN; only nodes may hold CLUSTER_TOKEN)');
  }
  if (!isLoopback(config.privateHost) && config.internalToken === undefined && !config.allowOpenPrivate) {
    refuse(
      'PRIVATE_HOST: not a loopback address, so set INTERNAL_TOKEN (anyone who reaches the private listener could set any status), or ALLOW_OPEN_PRIVATE=1 if a firewall already keeps everyone else out',
    );
  }
  return Object.freeze(config);
}

export function isClustered(c: Config): boolean {
  return c.redisUrl !== undefined || c.redisClusterNodes.length > 0 || c.redisSentinels.length > 0;
}
