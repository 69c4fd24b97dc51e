// Redis stopped and started under a running node: clear 503s while it is down, recovery after,
// without restarting the node. And Redis slow: a client leaving meanwhile leaves nothing behind.
import { Redis } from 'ioredis';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { INTERNAL_TOKEN, keysUnder, startNodes } from '../support/cluster.js';
import { mint, poll, rawPoll, setStatus, waitFor } from '../support/node.js';
import { startRedisServer } from '../support/redis.js';

describe('Redis going away', () => {
  it('answers 503 store_unavailable with Retry-After while down and recovers by itself', async () => {
    const redis = await startRedisServer();
    try {
      const { nodes: [a] } = await startNodes(1, { REDIS_URL: redis.url }, { HOLD_MS: '2000' });
      const s = await mint(a!);
      const auth = { Authorization: `Bearer ${INTERNAL_TOKEN}` };
      await request(a!.privateUrl).get('/readyz').set(auth).expect(200);

      await redis.stop(true);
      await waitFor(async () => (await request(a!.privateUrl).get('/readyz').set(auth)).status === 503, 5_000, 'readyz to report not ready');
      for (const res of [
        await poll(a!, s),
        await request(a!.publicUrl).post('/status/new'),
        await setStatus(a!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN),
      ]) {
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('1');
        expect(res.body.error.code).toBe('store_unavailable');
      }
      const readyz = await request(a!.privateUrl).get('/readyz').set(auth).expect(503);
      expect(readyz.body.error.code).toBe('not_ready');
      expect(a!.polls.size).toBe(0);

      await redis.start();
      await waitFor(async () => (await request(a!.privateUrl).get('/readyz').set(auth)).status === 200, 10_000, 'readyz to recover');
      // This Redis keeps nothing on disk, so sessions from before are gone; new ones work end to end.
      const fresh = await mint(a!);
      await setStatus(a!, { key: fresh.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
      expect((await poll(a!, fresh).expect(200)).body.version).toBe(1);
    } finally {
      await redis.stop(true);
    }
  }, 30_000);
});

describe('a slow Redis', () => {
  it('a client that hangs up while its poll is being admitted holds nothing, and its per-IP count is given back', async () => {
    const redis = await startRedisServer();
    const admin = new Redis(redis.url);
    try {
      const { nodes: [a], prefix } = await startNodes(1, { REDIS_URL: redis.url }, { HOLD_MS: '20000', MAX_POLLS_PER_IP: '1' });
      const s = await mint(a!);
      // Redis runs no writes until unpaused (reads go on, so we can watch): the poll below waits in
      // admission, whose per-IP counter is the first write it makes.
      await admin.call('CLIENT', 'PAUSE', '20000', 'WRITE');
      const client = await rawPoll(a!, s);
      await waitFor(async () => /^blocked_clients:[1-9]/m.test(await admin.info('clients')), 5_000, 'the poll to wait in admission');
      await client.hangUp();
      await admin.call('CLIENT', 'UNPAUSE');
      // The counter was taken (1) and given back (0): the abandoned poll has run its course.
      const counter = async (): Promise<string | null> => {
        const [key] = await keysUnder(admin, `${prefix}:limit:polls`);
        return key === undefined ? null : admin.get(key);
      };
      // (A poll the node kept would hold it for the whole 20 s hold.)
      await waitFor(async () => (await counter()) === '0', 5_000, 'the per-IP poll count to be given back');
      expect(a!.polls.size).toBe(0);
      // The one poll this address may have in flight is free again.
      await poll(a!, s, { wait: 50 }).expect(204);
    } finally {
      admin.disconnect();
      await redis.stop(true);
    }
  }, 30_000);
});
