// GET /status/get: the long-poll contract, against a real node on port 0.
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/core/memory-store.js';
import type { SessionStatus } from '../../src/core/session.js';
import type { PollRead } from '../../src/core/session-store.js';
import { holdPoll, mint, poll, rawPoll, setStatus, startNode, untilHeld, waitFor } from '../support/node.js';

describe('minting a session', () => {
  it('returns key, poll token, pending state, expiry, hold and the scan URL', async () => {
    const node = await startNode({ SCAN_URL_BASE: 'https://login.example/scan?src=qr', SESSION_TTL_MS: '60000' });
    const before = Date.now();
    const s = await mint(node);
    expect(s.key).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(s.pollToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s).toMatchObject({ status: 'pending', version: 0, holdMs: 3000 });
    expect(s.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(s.scanUrl).toBe(`https://login.example/scan?src=qr&key=${s.key}`);
    const other = await mint(node);
    expect(other.key).not.toBe(s.key);
    expect(other.pollToken).not.toBe(s.pollToken);
  });

  it('records who asked, honouring TRUST_PROXY', async () => {
    const direct = await startNode();
    const proxied = await startNode({ TRUST_PROXY: 'loopback' });
    const headers = { 'User-Agent': 'Mozilla/5.0 Test', 'Accept-Language': 'de-CH', 'X-Forwarded-For': '203.0.113.7' };
    const a = await mint(direct, headers);
    const b = await mint(proxied, headers);
    const peekA = await setStatus(direct, { key: a.key, status: 'scanned' }).expect(200);
    const peekB = await setStatus(proxied, { key: b.key, status: 'scanned' }).expect(200);
    expect(peekA.body.client).toMatchObject({ ip: '127.0.0.1', userAgent: 'Mozilla/5.0 Test', acceptLanguage: 'de-CH' });
    expect(peekB.body.client.ip).toBe('203.0.113.7');
    // A trusted hop can still forward garbage: only a well-formed address is recorded.
    const garbled = await mint(proxied, { 'X-Forwarded-For': '<script>not-an-address' });
    const peekC = await setStatus(proxied, { key: garbled.key, status: 'scanned' }).expect(200);
    expect(peekC.body.client.ip).toBe('127.0.0.1');
    expect(peekB.body.client.createdAt).toBeTypeOf('number');
  });
});

describe('a held poll', () => {
  it('returns at once when a set came before the poll', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned', data: { name: 'Ann' } }).expect(200);
    const started = Date.now();
    const res = await poll(node, s, { since: 0 }).expect(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(res.body).toEqual({ key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { name: 'Ann' } });
  });

  it('is woken by a set during the hold, and the set says it delivered', async () => {
    const node = await startNode({ HOLD_MS: '10000' });
    const s = await mint(node);
    const held = (await holdPoll(node, s, { since: 0 })).answer;
    const set = await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    expect(set.body).toMatchObject({ key: s.key, status: 'scanned', version: 1, delivered: true });
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'scanned', version: 1 });
    expect(node.polls.size).toBe(0);
  });

  it('loses nothing between polls: the since cursor returns what changed meanwhile', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'u' }).expect(200);
    const first = await poll(node, s, { since: 0 }).expect(200);
    expect(first.body.version).toBe(1);
    // The status moves on while no poll is held; the next poll with since=1 sees it at once.
    const set = await setStatus(node, { key: s.key, status: 'confirmed', actor: 'u', data: { ticket: 'T1' } }).expect(200);
    expect(set.body.delivered).toBe(false);
    const second = await poll(node, s, { since: first.body.version }).expect(200);
    expect(second.body).toMatchObject({ status: 'confirmed', version: 2, data: { ticket: 'T1' } });
  });

  it('answers 204 when the hold passes with nothing newer', async () => {
    const node = await startNode({ HOLD_MS: '60' });
    const s = await mint(node);
    const started = Date.now();
    const res = await poll(node, s, { since: 0 });
    expect(res.status).toBe(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(res.text).toBe('');
    expect(node.polls.size).toBe(0);
  });

  it('wait shortens the hold but never lengthens it', async () => {
    const node = await startNode({ HOLD_MS: '400' });
    const s = await mint(node);
    let started = Date.now();
    await poll(node, s, { wait: 30 }).expect(204);
    expect(Date.now() - started).toBeLessThan(300);
    started = Date.now();
    await poll(node, s, { wait: 60_000 }).expect(204);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(390);
    expect(took).toBeLessThan(3_000);
  });

  it('returns 200 expired when the session lifetime ends during the hold', async () => {
    const node = await startNode({ SESSION_TTL_MS: '1000', HOLD_MS: '20000' });
    const s = await mint(node);
    const started = Date.now();
    const res = await poll(node, s, { since: 0 }).expect(200);
    expect(res.body).toMatchObject({ key: s.key, status: 'expired', version: 1 });
    expect(Date.now() - started).toBeLessThan(3_000);
    // A final status is handed out once.
    await poll(node, s, { since: 1 }).expect(410);
  });

  it('a set on an expired session is refused with 410', async () => {
    let now = Date.now();
    const node = await startNode({ SESSION_TTL_MS: '1000' }, { clock: () => now });
    const s = await mint(node);
    now += 1_050;
    const res = await setStatus(node, { key: s.key, status: 'scanned' }).expect(410);
    expect(res.body.error.code).toBe('session_expired');
  });

  it('a client that hangs up releases its poll, timer and registry entry at once', async () => {
    const node = await startNode({ HOLD_MS: '30000' });
    const s = await mint(node);
    const req = http.get(`${node.publicUrl}/status/get?key=${s.key}`, { headers: { Authorization: `Bearer ${s.pollToken}` } });
    req.on('error', () => {});
    await untilHeld(node, 1);
    req.destroy();
    await waitFor(() => node.polls.size === 0, 1_000, 'the hung-up poll to be released');
    // The session still works; nothing is delivered to the gone client.
    const set = await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    expect(set.body.delivered).toBe(false);
  });

  it('a newer poll for the same key ends the older one with 204', async () => {
    const node = await startNode({ HOLD_MS: '10000' });
    const s = await mint(node);
    const older = (await holdPoll(node, s)).answer;
    const newer = poll(node, s).then((r) => r);
    const olderRes = await older;
    expect(olderRes.status).toBe(204);
    await untilHeld(node, 1); // the newer one
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    expect((await newer).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('a poll with a wrong token does not supersede the real one', async () => {
    const node = await startNode({ HOLD_MS: '10000' });
    const s = await mint(node);
    const real = (await holdPoll(node, s)).answer;
    await poll(node, { key: s.key, pollToken: 'x'.repeat(43) }).expect(404);
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    expect((await real).status).toBe(200);
  });
});

describe('poll authorization', () => {
  it('an unknown key and a wrong token get the same 404; a missing or malformed token 401 missing_token, for any key', async () => {
    const node = await startNode();
    const s = await mint(node);
    const unknown = await poll(node, { key: 'A'.repeat(22), pollToken: s.pollToken }).expect(404);
    const wrong = await poll(node, { key: s.key, pollToken: (await mint(node)).pollToken }).expect(404);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.headers['content-type']).toBe(unknown.headers['content-type']);
    expect(unknown.body).toEqual({ error: { code: 'not_found', message: 'no such session' } });
    const refusals = [
      await poll(node, s).set('Authorization', '').expect(401),
      await poll(node, s).set('Authorization', `Basic ${s.pollToken}`).expect(401),
      await poll(node, { key: 'A'.repeat(22), pollToken: 'not-a-token' }).expect(401),
    ];
    for (const r of refusals) expect(r.body).toEqual(refusals[0]!.body);
    expect(refusals[0]!.body.error.code).toBe('missing_token');
  });

  it('a missing token is refused before the store is asked', async () => {
    class NoReads extends MemoryStore {
      reads = 0;
      override async poll(): Promise<PollRead> {
        this.reads++;
        throw new Error('the store was asked');
      }
    }
    const store = new NoReads({ graceMs: 60_000 });
    const node = await startNode({}, { store });
    const s = await mint(node);
    for (let i = 0; i < 3; i++) expect((await poll(node, s).set('Authorization', '').expect(401)).body.error.code).toBe('missing_token');
    expect(store.reads).toBe(0);
    await poll(node, s).expect(503); // with the token, the store is asked (and fails here)
    expect(store.reads).toBe(1);
  });

  it('the QR key alone cannot read the result', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned' });
    await setStatus(node, { key: s.key, status: 'confirmed', data: { ticket: 'secret' } });
    const res = await poll(node, { key: s.key, pollToken: s.key }).expect(401);
    expect(JSON.stringify(res.body)).not.toContain('secret');
  });
});

describe('final statuses', () => {
  it.each(['confirmed', 'cancelled'] as const)('once %s has been handed to a poll, later polls get 410', async (final) => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'u' }).expect(200);
    await setStatus(node, { key: s.key, status: final, actor: 'u', data: { ticket: 'once' } }).expect(200);
    const first = await poll(node, s, { since: 1 }).expect(200);
    expect(first.body).toMatchObject({ status: final, data: { ticket: 'once' } });
    const again = await poll(node, s, { since: 0 }).expect(410);
    expect(again.body.error.code).toBe('already_delivered');
    await poll(node, s, { since: 2 }).expect(410);
  });

  it('a final status woken into a held poll is handed out once too', async () => {
    const node = await startNode({ HOLD_MS: '10000' });
    const s = await mint(node);
    const held = (await holdPoll(node, s)).answer;
    await setStatus(node, { key: s.key, status: 'cancelled' }).expect(200);
    expect((await held).body).toMatchObject({ status: 'cancelled', version: 1 });
    await poll(node, s, { since: 1 }).expect(410);
  });
});

/**
 * A MemoryStore that records how each hand-out of a final status ended, and can hold hand-outs at
 * their start until the test lets them go.
 */
class WatchedStore extends MemoryStore {
  readonly ended: Array<{ key: string; how: 'completed' | 'abandoned' }> = [];
  #held: { started: () => void; gate: Promise<void> } | undefined;

  /** Holds the next hand-outs at their start; resolves when one starts, with the function that lets them go. */
  holdHandOuts(): Promise<() => void> {
    let letGo!: () => void;
    const gate = new Promise<void>((r) => (letGo = r));
    return new Promise((resolve) => {
      this.#held = { started: () => resolve(letGo), gate };
    });
  }

  override async beginHandOut(key: string, now: number, leaseMs: number, sending: { status: SessionStatus; version: number }, leaseId: string) {
    if (this.#held !== undefined) {
      this.#held.started();
      await this.#held.gate;
    }
    return super.beginHandOut(key, now, leaseMs, sending, leaseId);
  }

  override async completeHandOut(key: string): Promise<void> {
    await super.completeHandOut(key);
    this.ended.push({ key, how: 'completed' });
  }

  override async abandonHandOut(key: string, leaseId: string): Promise<void> {
    await super.abandonHandOut(key, leaseId);
    this.ended.push({ key, how: 'abandoned' });
  }
}

describe('a client that leaves while its final status is handed out', () => {
  it('gets the status on its next poll instead of 410', async () => {
    const store = new WatchedStore({ graceMs: 60_000 });
    const node = await startNode({ HOLD_MS: '10000' }, { store });
    const s = await mint(node);
    const client = await rawPoll(node, s);
    await untilHeld(node, 1);
    const handOutStarted = store.holdHandOuts();
    await setStatus(node, { key: s.key, status: 'cancelled', data: { reason: 'user' } }).expect(200);
    const letGo = await handOutStarted;
    await client.hangUp(); // the node sees the client leave while the hand-out is in progress
    letGo();
    await waitFor(() => store.ended.length === 1, 3_000, 'the hand-out to end');
    expect(store.ended).toEqual([{ key: s.key, how: 'abandoned' }]);
    const res = await poll(node, s).expect(200);
    expect(res.body).toMatchObject({ status: 'cancelled', data: { reason: 'user' } });
    await poll(node, s, { since: 1 }).expect(410);
  });
});

describe('a node that dies while handing out a final status', () => {
  it('delays it by the lease (503 hand_out_in_progress with Retry-After), never loses it', async () => {
    let now = Date.now();
    const clock = (): number => now;
    const store = new WatchedStore({ graceMs: 60_000, clock });
    const node = await startNode({}, { store, clock });
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'cancelled' }).expect(200);
    // As if another node took the lease and died before writing its response.
    await store.beginHandOut(s.key, now - 4_800, 5_000, { status: 'cancelled', version: 1 }, 'dead-node-lease');
    const busy = await poll(node, s).expect(503);
    expect(busy.body.error.code).toBe('hand_out_in_progress');
    expect(busy.headers['retry-after']).toBe('1');
    now += 250; // past the dead node's lease
    expect((await poll(node, s).expect(200)).body.status).toBe('cancelled');
    // Recorded once the response has left (after the client has it).
    await waitFor(() => store.ended.length === 1, 3_000, 'the hand-out to be recorded');
    expect(store.ended).toEqual([{ key: s.key, how: 'completed' }]);
    await poll(node, s).expect(410);
  });
});

describe('the QR image', () => {
  it('is an SVG of the scan URL for any well-formed key, 400 for a malformed one', async () => {
    const node = await startNode();
    const s = await mint(node);
    const { default: request } = await import('supertest');
    const res = await request(node.publicUrl).get('/status/qr.svg').query({ key: s.key }).buffer(true).expect(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(String(res.body)).toMatch(/^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    await request(node.publicUrl).get('/status/qr.svg').query({ key: 'B'.repeat(22) }).expect(200);
    const bad = await request(node.publicUrl).get('/status/qr.svg').query({ key: 'short' }).expect(400);
    expect(bad.body.error.code).toBe('invalid_key');
  });
});
