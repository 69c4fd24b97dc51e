// A lasting change is answered 200 only once REDIS_MIN_REPLICAS replicas hold it: a primary and
// one replica (frozen with SIGSTOP to play a replica that has fallen behind), real nodes, real
// HTTP. And a node answered READONLY (its primary was demoted) drops that connection.
import { Redis } from 'ioredis';
import request from 'supertest';
import { describe, expect, it, onTestFinished } from 'vitest';
import { F, sessionKeys } from '../../src/cluster/redis-keys.js';
import { RedisStore } from '../../src/cluster/redis-store.js';
import { CLUSTER_TOKEN, INTERNAL_TOKEN, inspector, startNodes, uniquePrefix } from '../support/cluster.js';
import { capturedLog } from '../support/log-capture.js';
import { mint, poll, setStatus, startNode, waitFor } from '../support/node.js';
import { redisServerForTest, redisWithReplicaForTest, useRedisCluster } from '../support/redis.js';

const redisCluster = useRedisCluster();

// The longest wait: a replica in step must acknowledge in time even on a busy machine.
const WAITING = { REDIS_MIN_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '1500' };

const redeem = (url: string, ticket: string) => request(url).post('/ticket/redeem').set('Authorization', `Bearer ${INTERNAL_TOKEN}`).send({ ticket });

/** The answer is a 503 store_unavailable a client is told to retry. */
function expectRetry(res: request.Response): void {
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('store_unavailable');
  expect(res.headers['retry-after']).toBe('1');
}

/** How many WAITs a redis-server has run (INFO commandstats). */
async function waits(client: Redis): Promise<number> {
  return Number(/^cmdstat_wait:calls=(\d+)/m.exec(await client.info('commandstats'))?.[1] ?? 0);
}

describe('a change the replica has not acknowledged', () => {
  it('a set answers 503 store_unavailable and wakes nobody; once the replica is back, its retry answers 200, applied once, and wakes the poll', async () => {
    const redis = await redisWithReplicaForTest();
    const { nodes: [a, b], prefix } = await startNodes(2, { REDIS_URL: redis.primary.url }, { ...WAITING, HOLD_MS: '20000' });
    const s = await mint(a!);
    const held = poll(a!, s).then((r) => r);
    await waitFor(() => a!.polls.size === 1, 5_000, 'the poll to be held');

    redis.pauseReplica();
    const scan = { key: s.key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } };
    expectRetry(await setStatus(a!, scan, INTERNAL_TOKEN));
    // The retries while the replica is still behind wait again, on this node or on another one
    // (whose connection wrote nothing yet): the change is on the primary only.
    expectRetry(await setStatus(a!, scan, INTERNAL_TOKEN));
    expectRetry(await setStatus(b!, scan, INTERNAL_TOKEN));
    expect(a!.polls.size).toBe(1); // nobody was told of a change that may not survive a failover
    expect(await a!.metrics.registry.metrics()).toMatch(/^qrelay_redis_replicas_behind_total 2$/m);

    redis.resumeReplica();
    const done = await setStatus(b!, scan, INTERNAL_TOKEN).expect(200);
    expect(done.body).toMatchObject({ status: 'scanned', version: 1, delivered: true });
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1, data: { name: 'Ann' } });
    const replica = inspector({ REDIS_URL: redis.replica.url });
    expect(await replica.hmget(sessionKeys(prefix, s.key).session, F.status, F.version)).toEqual(['scanned', '1']);
  }, 30_000);

  it('a hand-out and a redemption answer 503 while the replica is behind; their retries answer 200 once', async () => {
    const redis = await redisWithReplicaForTest();
    const { nodes: [a], prefix } = await startNodes(1, { REDIS_URL: redis.primary.url }, WAITING);
    const s = await mint(a!);
    await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    await setStatus(a!, { key: s.key, status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);

    redis.pauseReplica();
    expectRetry(await poll(a!, s, { since: 1 }));
    redis.resumeReplica();
    // Not 503 hand_out_in_progress: the unacknowledged hand-out gave its lease back.
    const handed = await poll(a!, s, { since: 1 }).expect(200);
    expect(handed.body).toMatchObject({ status: 'confirmed', version: 2, data: { name: 'Ann' }, ticket: expect.any(String) });
    const replica = inspector({ REDIS_URL: redis.replica.url });
    expect(await replica.exists(sessionKeys(prefix, s.key).ticket)).toBe(1);
    // The hand-out is recorded (waited for too) and the status is not handed out again.
    await waitFor(async () => (await replica.hget(sessionKeys(prefix, s.key).session, F.delivered)) === '1', 5_000, 'the hand-out to be recorded');
    expect((await poll(a!, s, { since: 1 })).status).toBe(410);

    const { ticket } = handed.body as { ticket: string };
    redis.pauseReplica();
    expectRetry(await redeem(a!.privateUrl, ticket));
    expectRetry(await redeem(a!.privateUrl, ticket));
    redis.resumeReplica();
    const redeemed = await redeem(a!.privateUrl, ticket).expect(200);
    expect(redeemed.body).toMatchObject({ key: s.key, actor: 'ann', data: { name: 'Ann' } });
    expect((await redeem(a!.privateUrl, ticket).expect(410)).body.error.code).toBe('already_redeemed');
  }, 30_000);

  it('the 200 comes only once the replica holds the change: it waits for the replica, and the replica has it when the 200 arrives', async () => {
    const redis = await redisWithReplicaForTest();
    const { nodes: [a], prefix } = await startNodes(1, { REDIS_URL: redis.primary.url }, WAITING);
    const s = await mint(a!);
    const primary = inspector({ REDIS_URL: redis.primary.url });
    redis.pauseReplica();
    let answered = false;
    const set = setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).then((r) => {
      answered = true;
      return r;
    });
    await waitFor(async () => /^blocked_clients:[1-9]/m.test(await primary.info('clients')), 1_000, 'the set to wait for the replica');
    expect(answered).toBe(false);
    redis.resumeReplica();
    // A machine too busy to let the replica answer within the wait gets a 503, and its retry a 200.
    const scanned = (await set).status === 503 ? await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN) : await set;
    expect(scanned.status).toBe(200);
    const replica = inspector({ REDIS_URL: redis.replica.url });
    expect(await replica.hget(sessionKeys(prefix, s.key).session, F.status)).toBe('scanned');
  }, 30_000);

  it('with REDIS_MIN_REPLICAS=0 no WAIT is sent; with 1, one per lasting change', async () => {
    const redis = await redisWithReplicaForTest();
    const primary = inspector({ REDIS_URL: redis.primary.url }) as Redis;
    const login = async (env: Record<string, string>): Promise<number> => {
      const { nodes: [n] } = await startNodes(1, { REDIS_URL: redis.primary.url }, env);
      const before = await waits(primary);
      const s = await mint(n!);
      await setStatus(n!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
      await setStatus(n!, { key: s.key, status: 'confirmed', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
      const { ticket } = (await poll(n!, s, { since: 1 }).expect(200)).body as { ticket: string };
      await waitFor(async () => (await n!.store.get(s.key))?.delivered === true, 5_000, 'the hand-out to be recorded');
      await redeem(n!.privateUrl, ticket).expect(200);
      return (await waits(primary)) - before;
    };
    expect(await login({ REDIS_MIN_REPLICAS: '0' })).toBe(0);
    // Two sets, the hand-out's lease and its record, the redemption.
    expect(await login(WAITING)).toBe(5);
  }, 30_000);

  it('the lasting changes of one turn share one WAIT', async () => {
    const redis = await redisWithReplicaForTest();
    const primary = inspector({ REDIS_URL: redis.primary.url }) as Redis;
    const store = new RedisStore({ target: { kind: 'url', url: redis.primary.url }, prefix: uniquePrefix(), graceMs: 1_000, minReplicas: 1, replicaWaitMs: 1_500 });
    onTestFinished(() => store.close());
    expect(await store.ready(10_000)).toBe(true);
    const now = Date.now();
    const keys = Array.from({ length: 5 }, (_, i) => `shared-wait-${String(i).padStart(10, '0')}`);
    for (const key of keys) {
      await store.create({ key, tokenHash: 'h', status: 'pending', version: 0, expiresAt: now + 60_000, client: { ip: '', userAgent: '', acceptLanguage: '', createdAt: now }, delivered: false });
    }
    const before = await waits(primary);
    const outcomes = await Promise.all(keys.map((key) => store.transition(key, { status: 'scanned', actor: 'ann' }, now)));
    expect(outcomes.every((o) => o?.ok === true)).toBe(true);
    expect((await waits(primary)) - before).toBe(1);
  }, 30_000);

  it('a poll does not queue behind a change waiting for a lagging replica', async () => {
    const redis = await redisWithReplicaForTest();
    const { nodes: [a] } = await startNodes(1, { REDIS_URL: redis.primary.url }, WAITING);
    const [s, t] = [await mint(a!), await mint(a!)];
    const primary = inspector({ REDIS_URL: redis.primary.url });
    const waiting = async (): Promise<boolean> => /^blocked_clients:[1-9]/m.test(await primary.info('clients'));
    redis.pauseReplica();
    const set = setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).then((r) => r);
    await waitFor(waiting, 1_000, 'the set to wait for the replica');
    await poll(a!, t, { wait: 0 }).expect(204);
    expect(await waiting()).toBe(true); // answered while the set's WAIT still waits
    redis.resumeReplica();
    await set;
  }, 30_000);

  it('on a Redis Cluster the WAIT goes to the shard that holds the session', async () => {
    const { nodes: [a], prefix } = await startNodes(1, { REDIS_CLUSTER_NODES: redisCluster().nodes.join(',') }, WAITING);
    const s = await mint(a!);
    const masters = redisCluster().nodes.map((hp) => {
      const client = new Redis(Number(hp.split(':')[1]), '127.0.0.1');
      client.on('error', () => {});
      return client;
    });
    try {
      // A master answers MOVED for a key of another's slots.
      const holds = await Promise.all(masters.map((m) => m.exists(sessionKeys(prefix, s.key).session).catch(() => 0)));
      expect(holds.filter((h) => h === 1)).toHaveLength(1);
      const before = await Promise.all(masters.map(waits));
      // These masters have no replica: the change is not acknowledged.
      expectRetry(await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN));
      const after = await Promise.all(masters.map(waits));
      expect(after.map((n, i) => n - before[i]!)).toEqual(holds.map((h) => (h === 1 ? 1 : 0)));
    } finally {
      for (const m of masters) m.disconnect();
    }
  }, 60_000);
});

describe('a demoted primary', () => {
  it('a node answered READONLY drops that connection and reconnects; it writes once its Redis is promoted', async () => {
    const redis = await redisWithReplicaForTest();
    // The node's Redis is the replica: what a node sees when its primary was demoted under it.
    const { nodes: [a] } = await startNodes(1, { REDIS_URL: redis.replica.url });
    const admin = inspector({ REDIS_URL: redis.replica.url }) as Redis;
    const qrelayIds = async (): Promise<string[]> =>
      String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => / name=qrelay /.test(line))
        .map((line) => /^id=(\d+)/.exec(line)?.[1] ?? '');
    const [before] = await qrelayIds();
    expect(before).toBeDefined();

    expectRetry(await request(a!.publicUrl).post('/status/new'));
    await waitFor(async () => !(await qrelayIds()).includes(before!), 5_000, 'the node to drop its connection to the replica');

    await admin.call('REPLICAOF', 'NO', 'ONE');
    await waitFor(async () => (await request(a!.publicUrl).post('/status/new')).status === 201, 5_000, 'a session to be minted');
  }, 30_000);
});

describe('a primary short of replicas at start-up', () => {
  const shortLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => String(l['msg']).startsWith('REDIS_MIN_REPLICAS'));
  const env = (url: string) => ({ REDIS_URL: url, REDIS_PREFIX: uniquePrefix(), INTERNAL_TOKEN, CLUSTER_TOKEN, ...WAITING });

  it('is named in one warn line when REDIS_MIN_REPLICAS asks for more replicas than it has; not when they are there', async () => {
    const alone = await redisServerForTest();
    const lonely = capturedLog();
    await startNode(env(alone.url), { log: lonely.log });
    expect(shortLines(lonely.lines)).toEqual([expect.objectContaining({ level: 40, primary: `127.0.0.1:${alone.port}`, replicas: 0, wanted: 1 })]);

    const paired = await redisWithReplicaForTest();
    const served = capturedLog();
    await startNode(env(paired.primary.url), { log: served.log });
    expect(shortLines(served.lines)).toEqual([]);
  }, 30_000);
});
