// Several qrelay nodes in this process sharing one Redis (single server or Redis Cluster).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import { expect, onTestFinished } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { ChangeSeal, SEAL_HEADER } from '../../src/cluster/change-seal.js';
import { startNode } from './node.js';

export const INTERNAL_TOKEN = 'test-internal-token-0123456789';
/** Nodes' own secret for /channel/set (never the app backends' INTERNAL_TOKEN). */
export const CLUSTER_TOKEN = 'test-cluster-token-9876543210';

/**
 * POST /channel/set as another node of the cluster would send it (CLUSTER_TOKEN, sealed), or
 * with the `token` and `seal` given instead.
 */
export function forwardChange(node: Qrelay, change: object, options: { token?: string; seal?: string } = {}): Promise<Response> {
  const body = JSON.stringify(change);
  return fetch(`${node.privateUrl}/channel/set`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${options.token ?? CLUSTER_TOKEN}`,
      [SEAL_HEADER]: options.seal ?? new ChangeSeal(CLUSTER_TOKEN).seal(body),
    },
    body,
  });
}

/** How to reach the Redis under test, as qrelay environment variables. */
export type RedisEnv = { REDIS_URL: string } | { REDIS_CLUSTER_NODES: string } | { REDIS_SENTINELS: string; REDIS_SENTINEL_NAME: string };

export const uniquePrefix = (): string => `qrelay-test-${randomBytes(6).toString('hex')}`;

/**
 * `count` nodes on `redis`. They wait for no replica unless `env` sets REDIS_MIN_REPLICAS: the
 * Cluster and Sentinel of redis.ts have none, and with Sentinel or Cluster the default is 1.
 */
export async function startNodes(count: number, redis: RedisEnv, env: Record<string, string> = {}): Promise<{ nodes: Qrelay[]; prefix: string }> {
  const prefix = env['REDIS_PREFIX'] ?? uniquePrefix();
  const nodes: Qrelay[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await startNode({ ...redis, REDIS_PREFIX: prefix, INTERNAL_TOKEN, CLUSTER_TOKEN, REDIS_MIN_REPLICAS: '0', ...env }));
  }
  return { nodes, prefix };
}

/** A plain client on the same Redis, for looking at what qrelay wrote; closed after the test. */
export function inspector(redis: RedisEnv): Redis | Cluster {
  const hostPort = (hp: string) => ({ host: hp.split(':')[0] ?? '', port: Number(hp.split(':')[1]) });
  const client =
    'REDIS_URL' in redis
      ? new Redis(redis.REDIS_URL)
      : 'REDIS_SENTINELS' in redis
        ? new Redis({ sentinels: redis.REDIS_SENTINELS.split(',').map(hostPort), name: redis.REDIS_SENTINEL_NAME })
        : new Cluster(redis.REDIS_CLUSTER_NODES.split(',').map(hostPort));
  onTestFinished(() => {
    client.disconnect();
  });
  return client;
}

/**
 * Asserts Redis holds nothing under `prefix` but session hashes, routes, tickets and rate-limit
 * counters, and that tickets and counters expire on their own; returns the session, route and
 * ticket keys.
 */
export async function sessionKeysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const keys = await keysUnder(client, prefix);
  const limits = keys.filter((k) => k.startsWith(`${prefix}:limit:`));
  for (const k of [...limits, ...keys.filter((k) => k.endsWith(':k'))]) expect(await client.pttl(k), `${k} expires`).toBeGreaterThan(0);
  const rest = keys.filter((k) => !k.startsWith(`${prefix}:limit:`));
  const strays = rest.filter((k) => !/:[srk]$/.test(k));
  expect(strays, 'keys other than sessions, routes and tickets').toEqual([]);
  return rest;
}

/** Every key under `prefix`, across all masters when clustered. */
export async function keysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  if (client.status !== 'ready') await once(client, 'ready');
  const masters = client instanceof Cluster ? client.nodes('master') : [client];
  const all: string[] = [];
  for (const m of masters) {
    let cursor = '0';
    do {
      const [next, batch] = await m.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      all.push(...batch);
    } while (cursor !== '0');
  }
  return all;
}
