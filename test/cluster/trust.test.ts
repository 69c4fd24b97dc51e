// What another node says is a claim: a change forwarded to the node holding a poll must bear a
// fresh seal keyed from CLUSTER_TOKEN, and even then the poll is answered with what Redis holds. Tickets are
// redeemed once, whichever node is asked, and nothing of a login stays in Redis longer than needed.
import request from 'supertest';
import { describe, expect, inject, it } from 'vitest';
import { ChangeSeal } from '../../src/cluster/change-seal.js';
import { sessionKeys } from '../../src/cluster/redis-keys.js';
import { CLUSTER_TOKEN, forwardChange, inspector, INTERNAL_TOKEN, PEER_ADDR, peerSeal, startNodes, type RedisEnv } from '../support/cluster.js';
import { holdPoll, mint, poll, setStatus, startNode, waitFor } from '../support/node.js';

const redisEnv = (): RedisEnv => ({ REDIS_URL: inject('redisUrl') });

describe('a forwarded change', () => {
  it('does not exist in memory mode: POST /channel/set is 404', async () => {
    const node = await startNode();
    const s = await mint(node);
    const res = await request(node.privateUrl).post('/channel/set').send({ key: s.key, status: 'scanned', version: 1, expiresAt: 1 });
    expect(res.status).toBe(404);
  });

  it('needs a valid seal; a forged one wakes nothing', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    const forged = { key: s.key, status: 'scanned', version: 1, expiresAt: 1, data: { name: 'Your Bank Security Team' } };
    const body = JSON.stringify(forged);
    const genuine = peerSeal().seal('POST', '/channel/set', a!.nodeAddr, body);
    for (const seal of [
      'not-a-seal',
      '',
      genuine.replace('v1 ', 'v2 '),
      genuine.replace(/sig=.*/, 'sig=' + 'A'.repeat(43)),
      genuine + ',x=1',
      `v1 t=1,n=${'A'.repeat(16)},node=${'x'.repeat(4000)},sig=${'A'.repeat(43)}`, // long and malformed: refused, not a 500
      new ChangeSeal('another-cluster-token-0000', { self: PEER_ADDR, windowMs: 30_000 }).seal('POST', '/channel/set', a!.nodeAddr, body), // another cluster's
      peerSeal().seal('PUT', '/channel/set', a!.nodeAddr, body), // another method
      peerSeal().seal('POST', '/status/set', a!.nodeAddr, body), // another path
      peerSeal().seal('POST', '/channel/set', 'http://127.0.0.1:10', body), // sealed for another node
    ]) {
      const res = await forwardChange(a!, forged, { seal });
      expect(res.status, seal.slice(0, 80)).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_seal');
    }
    expect(a!.polls.size).toBe(1);
    // The real scan is what the PC sees.
    await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1, data: { name: 'Ann' } });
  });

  it('CLUSTER_TOKEN opens nothing else on the private port', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv());
    const s = await mint(a!);
    await request(a!.privateUrl).get('/status/peek').query({ key: s.key }).set('Authorization', `Bearer ${CLUSTER_TOKEN}`).expect(401);
  });

  it('a sealed final status that Redis does not hold answers the poll with what Redis holds', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    const held = (await holdPoll(a!, s, { since: 1 })).answer;
    // A node that lies (or a stale one): sealed, but not the stored state.
    const lie = { key: s.key, status: 'confirmed', version: 2, expiresAt: s.expiresAt, data: { ticket: 'ATTACKER-TICKET' } };
    expect(await (await forwardChange(a!, lie)).json()).toEqual({ delivered: true });
    const res = await held;
    expect(res.status).toBe(204); // Redis holds scanned v1, which this poll has: nothing to say
    await setStatus(a!, { key: s.key, status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    const real = await poll(a!, s, { since: 1 }).expect(200);
    expect(real.body).toMatchObject({ status: 'confirmed', version: 2, data: { name: 'Ann' } });
    expect(real.body.ticket).toMatch(/^[A-Za-z0-9_-]{65}$/);
  });
});

describe('a correctly sealed change that says other than the store', () => {
  it('at the stored final status and version, with other data: the poll gets the stored data and a ticket', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    const held = (await holdPoll(a!, s, { since: 1 })).answer;
    // Redis alone: as another node's set writes it before it forwards, so nothing wakes here yet.
    const stored = await a!.store.transition(s.key, { status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }, Date.now());
    expect(stored).toMatchObject({ ok: true, session: { status: 'confirmed', version: 2 } });
    const lie = { key: s.key, status: 'confirmed', version: 2, expiresAt: s.expiresAt, data: { name: 'Mallory', account: 'attacker' } };
    expect(await (await forwardChange(a!, lie)).json()).toEqual({ delivered: true });
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ key: s.key, status: 'confirmed', version: 2, expiresAt: s.expiresAt, data: { name: 'Ann' }, ticket: expect.stringMatching(/^[A-Za-z0-9_-]{65}$/) as string });
  });

  it('at a non-final status (the forged scan): the poll gets what the store holds, then the real confirm and its ticket', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    await a!.store.transition(s.key, { status: 'scanned', actor: 'ann', data: { device: 'Pixel' } }, Date.now());
    const lie = { key: s.key, status: 'scanned', version: 7, expiresAt: s.expiresAt, data: { name: 'Your Bank Support' } };
    expect(await (await forwardChange(a!, lie)).json()).toEqual({ delivered: true });
    const res = await held;
    expect(res.body).toEqual({ key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { device: 'Pixel' } });
    // The browser polls on from the version it was told, so it sees the real confirm.
    const next = (await holdPoll(a!, s, { since: res.body.version as number })).answer;
    await setStatus(a!, { key: s.key, status: 'confirmed', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    expect((await next).body).toMatchObject({ status: 'confirmed', version: 2, ticket: expect.stringMatching(/^[A-Za-z0-9_-]{65}$/) as string });
  });

  it('that the store does not hold at all wakes the poll, which has nothing new to say (204)', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    const lie = { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { name: 'Your Bank Support' } };
    expect(await (await forwardChange(a!, lie)).json()).toEqual({ delivered: true });
    expect((await held).status).toBe(204);
  });
});

describe('tickets across nodes', () => {
  it('20 concurrent redemptions on three nodes: exactly one 200, the rest 410', async () => {
    const { nodes } = await startNodes(3, redisEnv());
    const [a, b] = nodes;
    const s = await mint(a!);
    await setStatus(b!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    await setStatus(b!, { key: s.key, status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    const { ticket } = (await poll(a!, s, { since: 1 }).expect(200)).body as { ticket: string };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(nodes[i % 3]!.privateUrl).post('/ticket/redeem').set('Authorization', `Bearer ${INTERNAL_TOKEN}`).send({ ticket }),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((c) => c === 200)).toHaveLength(1);
    expect(statuses.filter((c) => c === 410)).toHaveLength(19);
    expect(answers.find((r) => r.status === 200)!.body).toMatchObject({ key: s.key, actor: 'ann', data: { name: 'Ann' } });
  });

  it('Redis keeps the login only as long as needed: the session drops actor and data at hand-out, the ticket at redemption', async () => {
    const { nodes: [a], prefix } = await startNodes(1, redisEnv(), { TICKET_TTL_MS: '30000' });
    const redis = inspector(redisEnv());
    const s = await mint(a!);
    await setStatus(a!, { key: s.key, status: 'scanned', actor: 'ann', data: { device: 'Pixel' } }, INTERNAL_TOKEN).expect(200);
    await setStatus(a!, { key: s.key, status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    const { ticket } = (await poll(a!, s, { since: 1 }).expect(200)).body as { ticket: string };
    const k = sessionKeys(prefix, s.key);
    await waitFor(async () => (await redis.hget(k.session, 'dl')) === '1', 3_000, 'the hand-out to be recorded');
    expect(await redis.hmget(k.session, 'a', 'd')).toEqual([null, null]);
    const ttl = await redis.pttl(k.ticket);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);
    expect(JSON.stringify(await redis.hgetall(k.ticket))).not.toContain(ticket); // only its hash
    await request(a!.privateUrl).post('/ticket/redeem').set('Authorization', `Bearer ${INTERNAL_TOKEN}`).send({ ticket }).expect(200);
    expect(Object.keys(await redis.hgetall(k.ticket)).sort()).toEqual(['h', 'r']);
    const peek = await request(a!.privateUrl).get('/status/peek').query({ key: s.key }).set('Authorization', `Bearer ${INTERNAL_TOKEN}`).expect(200);
    expect(peek.body).toMatchObject({ delivered: true });
    expect(peek.body).not.toHaveProperty('data');
  });
});
