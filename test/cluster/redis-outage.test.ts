// Redis stopped and started under a running node: clear 503s while it is down, recovery after,
// without restarting the node. And Redis slow: a client leaving meanwhile leaves nothing behind.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { INTERNAL_TOKEN, inspector, startNodes } from '../support/cluster.js';
import { mint, poll, rawPoll, setStatus, waitFor } from '../support/node.js';
import { redisServerForTest } from '../support/redis.js';

describe('Redis going away', () => {
  it('answers 503 store_unavailable with Retry-After while down and recovers by itself', async () => {
    const redis = await redisServerForTest();
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
  }, 30_000);
});

describe('a slow Redis', () => {
  it('a client that hangs up while its poll waits on the store holds nothing, and its poll slot is given back', async () => {
    const redis = await redisServerForTest();
    const { nodes: [a] } = await startNodes(1, { REDIS_URL: redis.url }, { HOLD_MS: '20000', MAX_POLLS_PER_IP: '1' });
    const admin = inspector({ REDIS_URL: redis.url });
    const s = await mint(a!);
    // Redis runs no writes until unpaused (reads go on, so we can watch): the poll below is
    // admitted (it takes this address's one slot), reads the session, then waits on its route
    // claim, a write.
    await admin.call('CLIENT', 'PAUSE', '20000', 'WRITE');
    const client = await rawPoll(a!, s);
    await waitFor(async () => /^blocked_clients:[1-9]/m.test(await admin.info('clients')), 5_000, 'the poll to wait on its route claim');
    await poll(a!, s, { wait: 50 }).expect(429); // the slot is taken
    await client.hangUp();
    await admin.call('CLIENT', 'UNPAUSE');
    // Once the claim answers, the abandoned poll ends and gives its slot back. Until then a poll
    // from this address is refused; a slot never given back would leave it refused for good.
    let next: request.Response | undefined;
    await waitFor(async () => (next = await poll(a!, s, { wait: 50 })).status !== 429, 5_000, "the address's poll slot to be given back");
    expect(next?.status).toBe(204);
    expect(a!.polls.size).toBe(0);
  }, 30_000);
});
