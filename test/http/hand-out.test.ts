// The hand-out of a final status and the one-time ticket of a confirmed login, on one node:
// a ticket is handed out once even when recording it fails for a while, a poll that already holds
// the final status is told 410 (and one ahead of every version 400), scans and confirms name their actor, and nothing a login carried
// outlives its use.
import { describe, expect, it } from 'vitest';
import request from 'supertest';
import { MemoryStore } from '../../src/core/memory-store.js';
import type { Qrelay } from '../../src/app.js';
import { mint, poll, setStatus, startNode, waitFor } from '../support/node.js';

const confirm = async (node: Qrelay, key: string, data?: object): Promise<void> => {
  await setStatus(node, { key, status: 'scanned', actor: 'ann', data: { device: 'Pixel' } }).expect(200);
  await setStatus(node, { key, status: 'confirmed', actor: 'ann', ...(data === undefined ? {} : { data }) }).expect(200);
};
const redeem = (node: Qrelay, ticket: unknown) => request(node.privateUrl).post('/ticket/redeem').send({ ticket });

/** A memory store whose recording of hand-outs fails `failures` times before it works. */
class FlakyRecordStore extends MemoryStore {
  attempts = 0;
  constructor(public failures: number) {
    super({ graceMs: 60_000 });
  }
  override async completeHandOut(key: string): Promise<void> {
    this.attempts++;
    if (this.failures-- > 0) throw new Error('store unreachable');
    return super.completeHandOut(key);
  }
}

describe('one-time tickets', () => {
  it('the poll that hands out confirmed carries a fresh ticket; the site redeems it once', async () => {
    const node = await startNode();
    const s = await mint(node, { 'User-Agent': 'PC Browser' });
    await confirm(node, s.key, { name: 'Ann' });
    const res = await poll(node, s, { since: 1 }).expect(200);
    expect(res.body).toMatchObject({ key: s.key, status: 'confirmed', version: 2, data: { name: 'Ann' } });
    const { ticket } = res.body as { ticket: string };
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{65}$/);
    // Never in peek.
    const peek = await request(node.privateUrl).get('/status/peek').query({ key: s.key }).expect(200);
    expect(JSON.stringify(peek.body)).not.toContain(ticket.slice(22));

    const first = await redeem(node, ticket).expect(200);
    expect(first.body).toMatchObject({ key: s.key, actor: 'ann', data: { name: 'Ann' }, client: { userAgent: 'PC Browser', ip: '127.0.0.1' } });
    expect(first.body.confirmedAt).toBeTypeOf('number');
    const again = await redeem(node, ticket).expect(410);
    expect(again.body.error.code).toBe('already_redeemed');
  });

  it('an unknown or forged ticket is 404, a malformed one 400 invalid_ticket', async () => {
    const node = await startNode();
    const s = await mint(node);
    await confirm(node, s.key);
    const { ticket } = (await poll(node, s, { since: 1 }).expect(200)).body as { ticket: string };
    const forged = s.key + 'A'.repeat(43);
    expect((await redeem(node, forged).expect(404)).body.error.code).toBe('not_found');
    expect((await redeem(node, 'short').expect(400)).body.error.code).toBe('invalid_ticket');
    expect((await redeem(node, 42).expect(400)).body.error.code).toBe('invalid_ticket');
    await redeem(node, ticket).expect(200);
  });

  it('a ticket lapses TICKET_TTL_MS after its hand-out, and its login data with it', async () => {
    let now = Date.now();
    const clock = (): number => now;
    const store = new MemoryStore({ graceMs: 60_000, clock });
    const node = await startNode({ TICKET_TTL_MS: '1000' }, { clock, store });
    const s = await mint(node);
    await confirm(node, s.key);
    const { ticket } = (await poll(node, s, { since: 1 }).expect(200)).body as { ticket: string };
    now += 1_000;
    expect((await redeem(node, ticket).expect(404)).body.error.code).toBe('not_found');
  });

  it('a cancelled or expired session has no ticket', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'cancelled' }).expect(200);
    const res = await poll(node, s).expect(200);
    expect(res.body.status).toBe('cancelled');
    expect(res.body.ticket).toBeUndefined();
  });
});

describe('a final status is handed out once', () => {
  it('recording the hand-out is retried until it lands: the next poll is told 410, not handed the ticket again', async () => {
    const store = new FlakyRecordStore(3);
    const node = await startNode({}, { store });
    const s = await mint(node);
    await confirm(node, s.key);
    const first = await poll(node, s, { since: 1 }).expect(200);
    expect(first.body.ticket).toBeTypeOf('string');
    await waitFor(async () => (await store.get(s.key))?.delivered === true, 3_000, 'the hand-out to be recorded');
    expect(store.attempts).toBe(4);
    expect((await poll(node, s, { since: 0 }).expect(410)).body.error.code).toBe('already_delivered');
  });

  it('a poll whose since is already the final version holds it: the hand-out is recorded and the answer is 410', async () => {
    // As after a response that reached the client but whose record was lost with its node.
    const store = new MemoryStore({ graceMs: 60_000 });
    const node = await startNode({}, { store });
    const s = await mint(node);
    await confirm(node, s.key);
    expect((await store.get(s.key))?.delivered).toBe(false);
    expect((await poll(node, s, { since: 2 }).expect(410)).body.error.code).toBe('already_delivered');
    expect((await store.get(s.key))?.delivered).toBe(true);
    expect((await poll(node, s, { since: 0 }).expect(410)).body.error.code).toBe('already_delivered');
  });

  it('since ahead of the version is 400 invalid_since and records nothing: the ticket is still handed out', async () => {
    const node = await startNode();
    const s = await mint(node);
    await confirm(node, s.key);
    expect((await poll(node, s, { since: 99 }).expect(400)).body.error.code).toBe('invalid_since');
    expect((await poll(node, s, { since: 3, wait: 0 }).expect(400)).body.error.code).toBe('invalid_since');
    const peek = await request(node.privateUrl).get('/status/peek').query({ key: s.key }).expect(200);
    expect(peek.body).toMatchObject({ status: 'confirmed', version: 2, delivered: false, actor: 'ann' });
    const res = await poll(node, s, { since: 1 }).expect(200);
    expect(res.body).toMatchObject({ status: 'confirmed', version: 2, ticket: expect.stringMatching(/^[A-Za-z0-9_-]{65}$/) });
  });
});

describe('the actor who scans', () => {
  it('scanned and confirmed need an actor: 400 invalid_actor', async () => {
    const node = await startNode();
    const s = await mint(node);
    const bare = (status: string) => request(node.privateUrl).post('/status/set').send({ key: s.key, status });
    expect((await bare('scanned').expect(400)).body.error.code).toBe('invalid_actor');
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'ann' }).expect(200);
    expect((await bare('confirmed').expect(400)).body.error.code).toBe('invalid_actor');
  });

  it('is bound: confirming or cancelling as anyone else is 409 actor_mismatch', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'ann' }).expect(200);
    expect((await setStatus(node, { key: s.key, status: 'confirmed', actor: 'evil' }).expect(409)).body.error.code).toBe('actor_mismatch');
    expect((await setStatus(node, { key: s.key, status: 'cancelled' }).expect(409)).body.error.code).toBe('actor_mismatch');
    await setStatus(node, { key: s.key, status: 'cancelled', actor: 'ann' }).expect(200);
  });
});

describe('data does not outlive its use', () => {
  it('once the final status is handed out, peek says delivered without actor or data', async () => {
    const node = await startNode();
    const s = await mint(node);
    await confirm(node, s.key, { name: 'Ann' });
    const before = await request(node.privateUrl).get('/status/peek').query({ key: s.key }).expect(200);
    expect(before.body).toMatchObject({ status: 'confirmed', actor: 'ann', data: { name: 'Ann' }, delivered: false });
    await poll(node, s, { since: 1 }).expect(200);
    await waitFor(async () => (await request(node.privateUrl).get('/status/peek').query({ key: s.key })).body.delivered === true);
    const after = await request(node.privateUrl).get('/status/peek').query({ key: s.key }).expect(200);
    expect(after.body).toMatchObject({ status: 'confirmed', delivered: true });
    expect(after.body).not.toHaveProperty('data');
    expect(after.body).not.toHaveProperty('actor');
  });
});
