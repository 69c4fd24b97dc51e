// Configuration: the only module that reads the environment. It is read once at start-up,
// validated, and frozen; a bad value stops start-up with a message that names the variable and
// what it allows, and shows the value unless it is a secret (a token, or a URL that may carry a
// password): start-up errors end up in logs that more people read than should hold the secrets.
// PEM files (certificates, a private key) are read here too, once, and checked; their paths may
// be shown, their contents never are.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import ipaddr from 'ipaddr.js';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';

export type TrustProxy = boolean | number | string[];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const unsetIfEmpty = (v: unknown): unknown => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be a whole number from ${min} to ${max}` })
        .max(max, { message: `must be a whole number from ${min} to ${max}` }),
    );

const integer = (min: number, max: number, fallback: number) =>
  z.preprocess(
    unsetIfEmpty,
    wholeNumber(min, max)
      .optional()
      .transform((v) => v ?? fallback),
  );

/** A whole number whose default depends on other settings (loadConfig fills it in). */
const optionalInteger = (min: number, max: number) => z.preprocess(unsetIfEmpty, wholeNumber(min, max).optional());

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

/** What a PEM file must hold: checked by parsing it, so a wrong file stops start-up here. */
type PemKind = 'certificate' | 'private key';

/** A PEM file's path, read at start-up into its contents; the error names what went wrong, not what it holds. */
const pemFile = (kind: PemKind) =>
  z.preprocess(
    unsetIfEmpty,
    z
      .string()
      .optional()
      .transform((path, ctx): Buffer | undefined => {
        if (path === undefined) return undefined;
        let pem: Buffer;
        try {
          pem = readFileSync(path);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `cannot be read (${(err as { code?: string }).code ?? 'error'})` });
          return z.NEVER;
        }
        try {
          if (kind === 'certificate') new X509Certificate(pem);
          else createPrivateKey(pem);
        } catch {
          ctx.addIssue({ code: 'custom', message: `is not a PEM ${kind}` });
          return z.NEVER;
        }
        return pem;
      }),
  );

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: 'must be a comma-separated list of host:port' });

/** A setting: the environment variable it is read from, and its schema (with its default). */
const setting = <S extends z.ZodType>(env: string, schema: S) => ({ env, schema });

// Every setting, declared once: its name in Config, its variable, its rule and default. Config's
// type and the reading below are derived from this table.
const settings = {
  publicPort: setting('PUBLIC_PORT', integer(0, 65535, 11000)),
  publicHost: setting('PUBLIC_HOST', text('0.0.0.0')),
  privatePort: setting('PRIVATE_PORT', integer(0, 65535, 11001)),
  privateHost: setting('PRIVATE_HOST', text('127.0.0.1')),
  /** Where the phone page lives; the session key is added as `?key=` (default: the demo's page, demoScanUrl). */
  scanUrlBase: setting('SCAN_URL_BASE', z.preprocess(unsetIfEmpty, httpUrl.optional())),
  /** Express 'trust proxy': false, true, a hop count, or addresses/subnets of trusted proxies. */
  trustProxy: setting('TRUST_PROXY', trustProxy),
  /** Session lifetime from creation, ms. */
  sessionTtlMs: setting('SESSION_TTL_MS', integer(1_000, 3_600_000, 120_000)),
  /** How long an expired session is still remembered (so polls see `expired`, not 404), ms. */
  sessionGraceMs: setting('SESSION_GRACE_MS', integer(1_000, 3_600_000, 60_000)),
  /** Longest hold of one GET /status/get, ms. */
  holdMs: setting('HOLD_MS', integer(10, 300_000, 25_000)),
  /** Origins allowed by CORS on the public listener; empty means same-origin use only. */
  corsOrigins: setting('CORS_ORIGINS', list(origin, 'origins')),
  /** Bearer token required on the private listener when set (app backends hold it). */
  internalToken: setting('INTERNAL_TOKEN', token),
  /** Nodes' own secret (cluster mode): keys the seal on POST /channel/set; it never travels. */
  clusterToken: setting('CLUSTER_TOKEN', token),
  /** How far a node-to-node seal's time may be from the receiver's clock, either way, ms. */
  clusterSealWindowMs: setting('CLUSTER_SEAL_WINDOW_MS', integer(1_000, 120_000, 30_000)),
  /** The private listener's certificate (PEM, chain after it); with the key, it serves https. */
  privateTlsCert: setting('PRIVATE_TLS_CERT', pemFile('certificate')),
  privateTlsKey: setting('PRIVATE_TLS_KEY', pemFile('private key')),
  /** The CA (PEM) a holder's certificate must chain to when a forward goes over https. */
  clusterCa: setting('CLUSTER_CA', pemFile('certificate')),
  /** The CA (PEM) Redis's certificate must chain to; turns TLS on for Sentinel and Redis Cluster too. */
  redisTlsCa: setting('REDIS_TLS_CA', pemFile('certificate')),
  /** How long a confirmed login's ticket may be redeemed, from its hand-out, ms. */
  ticketTtlMs: setting('TICKET_TTL_MS', integer(1_000, 3_600_000, 60_000)),
  /** Let the private listener listen off loopback without INTERNAL_TOKEN (explicit opt-in). */
  allowOpenPrivate: setting('ALLOW_OPEN_PRIVATE', flag),
  /** How long a request's headers, and then its body, may take to arrive, ms (408 after it). */
  receiveTimeoutMs: setting('RECEIVE_TIMEOUT_MS', integer(100, 60_000, 5_000)),
  /** How long a graceful shutdown may take before connections are cut, ms. */
  shutdownTimeoutMs: setting('SHUTDOWN_TIMEOUT_MS', integer(100, 120_000, 5_000)),
  logLevel: setting(
    'LOG_LEVEL',
    z.preprocess(
      unsetIfEmpty,
      z
        .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
          message: 'must be one of fatal, error, warn, info, debug, trace, silent',
        })
        .default('info'),
    ),
  ),
  /** Mount the demo pages and backend routes (never in production). */
  demo: setting('DEMO', flag),
  /** Redis for cluster mode; undefined means one node with the in-memory store. */
  redisUrl: setting(
    'REDIS_URL',
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .refine((s) => /^rediss?:\/\//.test(s), { message: 'must be a redis:// or rediss:// URL' })
        .optional(),
    ),
  ),
  /** Redis Cluster seed nodes, host:port; non-empty means Redis Cluster mode. */
  redisClusterNodes: setting('REDIS_CLUSTER_NODES', list(hostPort, 'host:port')),
  /** Redis Sentinel addresses, host:port; non-empty means Sentinel mode (with redisSentinelName). */
  redisSentinels: setting('REDIS_SENTINELS', list(hostPort, 'host:port')),
  redisSentinelName: setting('REDIS_SENTINEL_NAME', text('mymaster')),
  /**
   * Replicas that must hold a lasting change (a status change, a hand-out, a redemption) before it
   * is answered 200 (Redis WAIT); 0 sends no WAIT. Unset: 1 with Sentinel or Redis Cluster, 0
   * with REDIS_URL (docs/cluster.md says why).
   */
  redisMinReplicas: setting('REDIS_MIN_REPLICAS', optionalInteger(0, 16)),
  /** How long a lasting change waits for REDIS_MIN_REPLICAS replicas before 503 store_unavailable, ms. */
  redisReplicaWaitMs: setting('REDIS_REPLICA_WAIT_MS', integer(1, 1_500, 250)),
  /** Prefix of every Redis key this deployment writes. */
  redisPrefix: setting(
    'REDIS_PREFIX',
    z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : -' })
        .default('qrelay'),
    ),
  ),
  /** The private URL other nodes use to reach this node; derived from the private listener when unset. */
  nodeAddr: setting(
    'NODE_ADDR',
    z.preprocess(
      unsetIfEmpty,
      httpUrl
        .refine((s) => new URL(s).origin === s.replace(/\/$/, ''), { message: 'must be an origin like http://10.0.0.5:11001, with no path or query' })
        .transform((s) => s.replace(/\/$/, ''))
        .optional(),
    ),
  ),
  /** Bounds on a node-to-node forward, ms. */
  forwardTimeoutMs: setting('FORWARD_TIMEOUT_MS', integer(50, 60_000, 1_000)),
  /** Sessions one client IP may mint per minute. */
  sessionsPerIpPerMinute: setting('RATE_SESSIONS_PER_IP', integer(1, 1_000_000, 60)),
  /** QR images one client IP may have rendered per minute. */
  qrPerIpPerMinute: setting('RATE_QR_PER_IP', integer(1, 1_000_000, 240)),
  /** Polls one client IP may have in flight on this node (per node in every mode). */
  pollsPerIp: setting('MAX_POLLS_PER_IP', integer(1, 1_000_000, 100)),
  /** Polls one node holds at most (admission control). */
  pollsPerNode: setting('MAX_POLLS_PER_NODE', integer(1, 10_000_000, 50_000)),
  /**
   * Wrong poll tokens one client IP may send per minute (polls for unknown keys count too, but are
   * never refused); past it, its wrong tokens are refused `rate_limited`. A working page never
   * sends one, and no rate makes guessing a 256-bit token worthwhile: the limit bounds the work
   * and log lines a guesser causes, with room for a few stale pages behind one NAT.
   */
  tokenFailuresPerIpPerMinute: setting('MAX_TOKEN_FAILURES', integer(1, 1_000_000, 30)),
  /** Sessions the in-memory store keeps at most (memory mode; Redis bounds its own memory). */
  maxSessions: setting('MAX_SESSIONS', integer(1, 100_000_000, 1_000_000)),
  /** On shutdown, held polls are answered over this window, ms. */
  drainMs: setting('DRAIN_MS', integer(0, 60_000, 2_000)),
};

/** Every environment variable qrelay reads, for checking what deploy manifests set. */
export const SETTING_NAMES: readonly string[] = Object.freeze(Object.values(settings).map((s) => s.env));

type Settings = typeof settings;
type Read = { -readonly [K in keyof Settings]: z.output<Settings[K]['schema']> };

/** The validated configuration: every setting above, read once and frozen. */
export type Config = { readonly [K in keyof Read]: K extends 'scanUrlBase' ? string : K extends 'redisMinReplicas' ? number : Read[K] };

const schema = z.object(Object.fromEntries(Object.values(settings).map((s) => [s.env, s.schema])));

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
  const read = {} as Record<keyof Settings, unknown>;
  for (const [name, { env: variable }] of Object.entries(settings)) read[name as keyof Settings] = parsed.data[variable];
  const r = read as Read;
  // Sentinel and Redis Cluster exist to fail over to a replica: a change is acknowledged once one
  // holds it. A single REDIS_URL may have no replica at all.
  const failsOver = r.redisClusterNodes.length > 0 || r.redisSentinels.length > 0;
  const config: Config = {
    ...r,
    scanUrlBase: r.scanUrlBase ?? demoScanUrl(r.publicPort),
    redisMinReplicas: r.redisMinReplicas ?? (failsOver ? 1 : 0),
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
    refuse('CLUSTER_TOKEN: required in cluster mode (nodes seal their requests to each other with it), at least 16 characters, not INTERNAL_TOKEN');
  }
  if (config.clusterToken !== undefined && config.clusterToken === config.internalToken) {
    refuse('CLUSTER_TOKEN: must differ from INTERNAL_TOKEN (app backends hold INTERNAL_TOKEN; only nodes may hold CLUSTER_TOKEN)');
  }
  if ((config.privateTlsCert === undefined) !== (config.privateTlsKey === undefined)) {
    refuse(
      config.privateTlsCert === undefined
        ? 'PRIVATE_TLS_CERT: required when PRIVATE_TLS_KEY is set (the private listener serves https with both)'
        : 'PRIVATE_TLS_KEY: required when PRIVATE_TLS_CERT is set (the private listener serves https with both)',
    );
  }
  if (config.privateTlsCert !== undefined && config.privateTlsKey !== undefined) {
    try {
      createSecureContext({ cert: config.privateTlsCert, key: config.privateTlsKey });
    } catch {
      refuse('PRIVATE_TLS_KEY: is not the key of the certificate in PRIVATE_TLS_CERT');
    }
    if (config.nodeAddr !== undefined && !config.nodeAddr.startsWith('https:')) {
      refuse('NODE_ADDR: must be an https:// origin when PRIVATE_TLS_CERT is set (the private listener serves https only)');
    }
  }
  if (config.redisTlsCa !== undefined && config.redisUrl?.startsWith('redis:') === true) {
    refuse('REDIS_TLS_CA: set, but REDIS_URL is redis:// (plain); use a rediss:// URL to reach Redis over TLS');
  }
  if (!isLoopback(config.privateHost) && config.internalToken === undefined && !config.allowOpenPrivate) {
    refuse(
      'PRIVATE_HOST: not a loopback address, so set INTERNAL_TOKEN (anyone who reaches the private listener could set any status), or ALLOW_OPEN_PRIVATE=1 if a firewall already keeps everyone else out',
    );
  }
  for (const value of Object.values(config)) if (Array.isArray(value)) Object.freeze(value);
  return Object.freeze(config);
}

/** SCAN_URL_BASE's default: the demo's phone page, served only with DEMO=1. */
export const demoScanUrl = (publicPort: number): string => `http://localhost:${publicPort || 11000}/scan.html`;

/** A setting left unsafe: the variable, and what it leaves open. */
export interface UnsafeSetting {
  readonly setting: string;
  readonly message: string;
}

/**
 * What `c` leaves open that a deployment should not, one each, for a `warn` line at start-up:
 * accepted (a trial run needs none of them set), but never in silence.
 */
export function unsafeSettings(c: Config): UnsafeSetting[] {
  const unsafe: UnsafeSetting[] = [];
  const warn = (setting: string, message: string): void => {
    unsafe.push({ setting, message });
  };
  if (c.internalToken === undefined) {
    warn('INTERNAL_TOKEN', 'INTERNAL_TOKEN is not set: anyone who reaches the private listener (PRIVATE_HOST:PRIVATE_PORT), on this host or beyond, can confirm logins and redeem tickets. Set INTERNAL_TOKEN.');
  }
  if (c.trustProxy === true) {
    warn('TRUST_PROXY', 'TRUST_PROXY=true: every client chooses its own address with X-Forwarded-For, so per-address limits do not hold and the phone shows whatever address the client claims. Set TRUST_PROXY to your proxies\' addresses or subnets (or a hop count).');
  }
  if (!c.demo && c.scanUrlBase === demoScanUrl(c.publicPort)) {
    warn('SCAN_URL_BASE', `SCAN_URL_BASE is left at the demo's phone page: the QR codes link to it (${c.scanUrlBase}), which is served only with DEMO=1, so a phone that scans one gets 404. Set SCAN_URL_BASE to your phone page.`);
  }
  return unsafe;
}

export function isClustered(c: Config): boolean {
  return c.redisUrl !== undefined || c.redisClusterNodes.length > 0 || c.redisSentinels.length > 0;
}
