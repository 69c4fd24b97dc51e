// Three nodes sharing one Redis (and the same suite on a Redis Cluster): a poll can be held on
// any node and a set can arrive at any node; nothing is lost and no poll waits out its hold while
// a newer status exists.
import net from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sessionKeys } from '../../src/cluster/redis-keys.js';
import type { Qrelay } from '../../src/app.js';
import { forwardChange, inspector, INTERNAL_TOKEN, sessionKeysUnder, startNodes, type RedisEnv } from '../support/cluster.js';
import { holdPoll, mint, poll, setStatus, waitFor } from '../support/node.js';
import { startRedisSentinel, useRedisCluster, type RedisSentinel } from '../support/redis.js';

const redisCluster = useRedisCluster();
let sentinel: RedisSentinel;
beforeAll(async () => {
  sentinel = await startRedisSentinel();
}, 30_000);
afterAll(async () => {
  await sentinel?.stop();
});

/** Waits until the session's route in Redis names each of `holders`: their route claims have landed. */
async function routeNames(redis: RedisEnv, prefix: string, key: string, holders: Qrelay[]): Promise<void> {
  const client = inspector(redis);
  const route = sessionKeys(prefix, key).route;
  await waitFor(async () => (await Promise.all(holders.map((n) => client.hexists(route, n.nodeAddr)))).every((found) => found === 1), 3_000, 'the route claims to land');
}

/** Not a wait for anything: shifts where a set lands relative to a poll being set up. */
const offset = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const backends: Array<[string, () => RedisEnv]> = [
  ['one Redis', () => ({ REDIS_URL: inject('redisUrl') })],
  ['a Redis Cluster', () => ({ REDIS_CLUSTER_NODES: redisCluster().nodes.join(',') })],
  ['Redis behind Sentinel', () => ({ REDIS_SENTINELS: sentinel.sentinels.join(','), REDIS_SENTINEL_NAME: sentinel.name })],
];

describe.each(backends)('three nodes on %s', (_name, redisEnv) => {
  it('a set on B wakes a poll held on A, and says it delivered', async () => {
    const { nodes: [a, b], prefix } = await startNodes(3, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = poll(a!, s).then((r) => r);
    await routeNames(redisEnv(), prefix, s.key, [a!]);
    const started = Date.now();
    const set = await setStatus(b!, { key: s.key, status: 'scanned', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    expect(set.body).toMatchObject({ status: 'scanned', version: 1, delivered: true });
    const res = await held;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(res.body).toMatchObject({ status: 'scanned', version: 1, data: { name: 'Ann' } });
  });

  it('the next poll lands on C and gets what it missed', async () => {
    const { nodes: [a, b, c] } = await startNodes(3, redisEnv());
    const s = await mint(a!);
    await setStatus(b!, { key: s.key, status: 'scanned', actor: 'u' }, INTERNAL_TOKEN).expect(200);
    expect((await poll(a!, s).expect(200)).body.version).toBe(1);
    await setStatus(a!, { key: s.key, status: 'confirmed', actor: 'u', data: { ticket: 'T' } }, INTERNAL_TOKEN).expect(200);
    const res = await poll(c!, s, { since: 1 }).expect(200);
    expect(res.body).toMatchObject({ status: 'confirmed', version: 2, data: { ticket: 'T' } });
    // Handed out once, whichever node is asked next.
    await poll(b!, s, { since: 1 }).expect(410);
  });

  it('a set while no poll is held is delivered by the next poll on any node', async () => {
    const { nodes } = await startNodes(3, redisEnv());
    const s = await mint(nodes[0]!);
    const set = await setStatus(nodes[1]!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(false);
    expect((await poll(nodes[2]!, s).expect(200)).body.version).toBe(1);
  });

  it('when the holder stops mid-hold, the re-poll on another node gets the state', async () => {
    const { nodes: [a, b, c], prefix } = await startNodes(3, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(b!);
    const held = poll(a!, s).then((r) => r);
    await routeNames(redisEnv(), prefix, s.key, [a!]);
    await a!.close();
    expect((await held).status).toBe(204);
    // The route still names A, which is gone: the set is stored, the forward fails, nothing is lost.
    const set = await setStatus(b!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(false);
    expect((await poll(c!, s).expect(200)).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('polls for one key held on two nodes are both woken by a set on a third', async () => {
    const { nodes: [a, b, c], prefix } = await startNodes(3, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const onA = poll(a!, s).then((r) => r);
    await routeNames(redisEnv(), prefix, s.key, [a!]);
    const onB = poll(b!, s).then((r) => r);
    await routeNames(redisEnv(), prefix, s.key, [a!, b!]);
    const set = await setStatus(c!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(true);
    // Whichever of the two the client still listens on, it hears of the change at once.
    expect((await onB).body.version).toBe(1);
    expect((await onA).body.version).toBe(1);
  });

  it('a set arriving between a poll registering and claiming its route is not lost', async () => {
    // Many rounds of a set racing a fresh poll on another node: every poll returns the change well
    // before its hold ends.
    const { nodes: [a, b] } = await startNodes(2, redisEnv(), { HOLD_MS: '5000' });
    for (let i = 0; i < 40; i++) {
      const s = await mint(a!);
      const started = Date.now();
      const held = poll(a!, s).then((r) => r);
      await offset(i % 5);
      await setStatus(b!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
      const res = await held;
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
    }
  });

  it('a wait=0 poll on another node answers at once and leaves the route with the held poll', async () => {
    const { nodes: [a, b, c], prefix } = await startNodes(3, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = poll(a!, s).then((r) => r);
    await routeNames(redisEnv(), prefix, s.key, [a!]);
    await poll(b!, s, { wait: 0 }).expect(204);
    const set = await setStatus(c!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(true);
    expect((await held).body.version).toBe(1);
  });

  it('a stale or repeated forward is harmless', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s, { since: 0 })).answer;
    const stale = { key: s.key, status: 'pending', version: 0, expiresAt: s.expiresAt };
    const res = await forwardChange(a!, stale);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ delivered: false });
    expect(a!.polls.size).toBe(1);
    await setStatus(a!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect((await held).body.version).toBe(1);
  });

  it('a peer that accepts the forward but never answers does not hold the set past its bound', async () => {
    const silent = net.createServer(() => {}); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { nodes: [a], prefix } = await startNodes(1, redisEnv(), { FORWARD_TIMEOUT_MS: '300' });
    const s = await mint(a!);
    const redis = inspector(redisEnv());
    const { port } = silent.address() as net.AddressInfo;
    await redis.hset(sessionKeys(prefix, s.key).route, `http://127.0.0.1:${port}`, String(Date.now() + 10_000));
    await redis.pexpire(sessionKeys(prefix, s.key).route, 10_000);
    const started = Date.now();
    const set = await setStatus(a!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect((await poll(a!, s).expect(200)).body.version).toBe(1);
    silent.close();
  });

  it('cluster mode needs CLUSTER_TOKEN on /channel/set', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv());
    await request(a!.privateUrl).post('/channel/set').send({}).expect(401);
    await request(a!.privateUrl).post('/channel/set').set('Authorization', `Bearer ${INTERNAL_TOKEN}`).send({}).expect(401);
  });

  it('keeps only live sessions in Redis, under one hash tag each', async () => {
    const { nodes: [a], prefix } = await startNodes(1, redisEnv(), { SESSION_TTL_MS: '1000', SESSION_GRACE_MS: '1000' });
    const s = await mint(a!);
    await poll(a!, s, { wait: 20 }).expect(204);
    const redis = inspector(redisEnv());
    const keys = await sessionKeysUnder(redis, prefix);
    expect(keys.sort()).toEqual([sessionKeys(prefix, s.key).route, sessionKeys(prefix, s.key).session].sort());
    const ttl = await redis.pttl(sessionKeys(prefix, s.key).session);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2_000);
    await waitFor(async () => (await sessionKeysUnder(redis, prefix)).filter((k) => k.endsWith(':s')).length === 0, 5_000, 'Redis to expire the session');
  });
});
