// Several qrelay nodes in this process sharing one Redis (single server or Redis Cluster).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import { expect, onTestFinished } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { startNode } from './node.js';

export const INTERNAL_TOKEN = 'test-internal-token-0123456789';
/** What nodes present to each other on /channel/set; never the same as INTERNAL_TOKEN. */
export const CLUSTER_TOKEN = 'test-cluster-token-0123456789';

/** How to reach the Redis under test, as qrelay environment variables. */
export type RedisEnv = { REDIS_URL: string } | { REDIS_CLUSTER_NODES: string } | { REDIS_SENTINELS: string; REDIS_SENTINEL_NAME: string };

export const uniquePrefix = (): string => `qrelay-test-${randomBytes(6).toString('hex')}`;

export async function startNodes(count: number, redis: RedisEnv, env: Record<string, string> = {}): Promise<{ nodes: Qrelay[]; prefix: string }> {
  const prefix = env['REDIS_PREFIX'] ?? uniquePrefix();
  const nodes: Qrelay[] = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await startNode({ ...redis, REDIS_PREFIX: prefix, INTERNAL_TOKEN, CLUSTER_TOKEN, ...env }));
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
 * Asserts Redis holds nothing under `prefix` but session hashes, routes, and rate-limit counters
 * that expire on their own; returns the session and route keys.
 */
export async function sessionKeysUnder(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const keys = await keysUnder(client, prefix);
  const limits = keys.filter((k) => k.startsWith(`${prefix}:limit:`));
  for (const k of limits) expect(await client.pttl(k), `${k} expires`).toBeGreaterThan(0);
  const rest = keys.filter((k) => !k.startsWith(`${prefix}:limit:`));
  expect(rest.every((k) => k.endsWith(':s') || k.endsWith(':r')), rest.join(' ')).toBe(true);
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
