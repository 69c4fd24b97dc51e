// One behaviour suite for every SessionStore: memory, Redis, Redis Cluster. The Lua scripts must
// agree with src/core/session.ts rule for rule.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryStore } from '../../src/core/memory-store.js';
import type { SessionStore } from '../../src/core/session-store.js';
import type { StoredSession } from '../../src/core/session.js';
import { F, sessionKeys } from '../../src/cluster/redis-keys.js';
import { RedisStore } from '../../src/cluster/redis-store.js';
import { inspector, uniquePrefix } from '../support/cluster.js';
import { useRedisCluster } from '../support/redis.js';

const redisCluster = useRedisCluster();

const stores: Array<[string, () => SessionStore]> = [
  ['memory', () => new MemoryStore({ graceMs: 1_000 })],
  ['redis', () => new RedisStore({ target: { kind: 'url', url: inject('redisUrl') }, prefix: uniquePrefix(), graceMs: 1_000 })],
  ['redis cluster', () => new RedisStore({ target: { kind: 'cluster', nodes: redisCluster().nodes }, prefix: uniquePrefix(), graceMs: 1_000 })],
];

const CANCELLED_1 = { status: 'cancelled', version: 1 } as const;

let n = 0;
const fresh = (over: Partial<StoredSession> = {}): StoredSession => ({
  key: `key${String(n++).padStart(19, '0')}`,
  tokenHash: 'hash',
  status: 'pending',
  version: 0,
  expiresAt: Date.now() + 60_000,
  client: { ip: '198.51.100.2', userAgent: 'UA "quoted" ✓', acceptLanguage: 'en', createdAt: 1_700_000_000_000 },
  delivered: false,
  ...over,
});

describe.each(stores)('the %s store', (_name, make) => {
  let store: SessionStore;
  beforeAll(async () => {
    store = make();
    if (store instanceof RedisStore) expect(await store.ready(10_000)).toBe(true);
  });
  afterAll(async () => {
    await store.close();
  });

  it('stores and reads back a session exactly', async () => {
    const s = fresh();
    await store.create(s);
    expect(await store.get(s.key)).toEqual({ ...s, actor: undefined, data: undefined });
    expect(await store.get('unknown-key-000000000')).toBeUndefined();
  });

  it('applies the transition table with actor and ifVersion, atomically bumping the version', async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    expect(await store.transition(s.key, { status: 'confirmed' }, now)).toEqual({
      ok: false,
      refusal: { code: 'invalid_transition', from: 'pending', to: 'confirmed' },
    });
    const scanned = await store.transition(s.key, { status: 'scanned', actor: 'ann', data: { name: 'Ann' }, ifVersion: 0 }, now);
    expect(scanned).toMatchObject({ ok: true, session: { status: 'scanned', version: 1, actor: 'ann', data: { name: 'Ann' } }, holders: [] });
    expect(await store.transition(s.key, { status: 'confirmed', actor: 'bob' }, now)).toEqual({ ok: false, refusal: { code: 'actor_mismatch' } });
    expect(await store.transition(s.key, { status: 'confirmed' }, now)).toEqual({ ok: false, refusal: { code: 'actor_mismatch' } });
    expect(await store.transition(s.key, { status: 'confirmed', actor: 'ann', ifVersion: 0 }, now)).toEqual({
      ok: false,
      refusal: { code: 'version_mismatch', expected: 0, actual: 1 },
    });
    const confirmed = await store.transition(s.key, { status: 'confirmed', actor: 'ann', data: { ticket: 'T' }, ifVersion: 1 }, now);
    expect(confirmed).toMatchObject({ ok: true, session: { status: 'confirmed', version: 2, actor: 'ann', data: { ticket: 'T' } } });
    expect(await store.transition(s.key, { status: 'cancelled', actor: 'ann' }, now)).toEqual({
      ok: false,
      refusal: { code: 'invalid_transition', from: 'confirmed', to: 'cancelled' },
    });
    expect(await store.transition('unknown-key-000000000', { status: 'scanned' }, now)).toBeUndefined();
  });

  it('a repeat of the change in place is answered as applied, with no new version, also once the hand-out forgot actor and data', async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    const scan = { status: 'scanned', actor: 'ann', data: { name: 'Ann' } } as const;
    await store.transition(s.key, scan, now);
    for (const again of [scan, { ...scan, ifVersion: 0 }]) {
      expect(await store.transition(s.key, again, now)).toMatchObject({ ok: true, session: { status: 'scanned', version: 1, actor: 'ann', data: { name: 'Ann' } } });
    }
    for (const other of [{ ...scan, actor: 'bob' }, { ...scan, data: { name: 'Bob' } }, { status: 'scanned', actor: 'ann' } as const, { ...scan, ifVersion: 1 }]) {
      expect(await store.transition(s.key, other, now)).toEqual({ ok: false, refusal: { code: 'invalid_transition', from: 'scanned', to: 'scanned' } });
    }
    const confirm = { status: 'confirmed', actor: 'ann' } as const;
    await store.transition(s.key, confirm, now);
    expect(await store.beginHandOut(s.key, now, 5_000, { status: 'confirmed', version: 2 }, 'lease')).toMatchObject({ ok: true });
    await store.completeHandOut(s.key);
    expect(await store.transition(s.key, confirm, now)).toMatchObject({ ok: true, session: { status: 'confirmed', version: 2, actor: undefined } });
    expect(await store.get(s.key)).toMatchObject({ version: 2, delivered: true });
  });

  it('a change without data clears the previous status data', async () => {
    const s = fresh();
    await store.create(s);
    await store.transition(s.key, { status: 'scanned', data: { name: 'A' } }, Date.now());
    const res = await store.transition(s.key, { status: 'cancelled' }, Date.now());
    expect(res).toMatchObject({ ok: true, session: { status: 'cancelled', data: undefined } });
  });

  it('refuses changes once the lifetime has ended', async () => {
    const s = fresh({ expiresAt: Date.now() + 100 });
    await store.create(s);
    expect(await store.transition(s.key, { status: 'scanned' }, s.expiresAt)).toEqual({ ok: false, refusal: { code: 'session_expired' } });
  });

  it('claims add up: a transition returns every node whose claim is live', async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    expect(await store.poll(s.key, 'hash', 0, 'http://node-a:1', 5_000, now)).toEqual({ found: true, session: { ...s, actor: undefined, data: undefined } });
    await store.poll(s.key, 'hash', 0, 'http://node-b:1', 5_000, now); // a newer poll elsewhere
    await store.poll(s.key, 'hash', 0, 'http://node-a:1', 5_000, now); // the older claim landing late
    await store.poll(s.key, 'hash', 0, 'http://node-c:1', 100, now - 1_000); // lapsed
    const res = await store.transition(s.key, { status: 'scanned' }, now);
    const expected = store instanceof MemoryStore ? [] : ['http://node-a:1', 'http://node-b:1'];
    expect(res?.ok === true ? [...res.holders].sort() : res).toEqual(expected);
    expect(await store.poll('unknown-key-000000000', 'hash', 0, 'http://node-a:1', 5_000, now)).toEqual({ found: false, wrongToken: false });
  });

  it("a claim drops the claims of polls that asked with a smaller since: their client has moved on", async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    await store.poll(s.key, 'hash', 0, 'http://node-a:1', 5_000, now); // polled since 0 on a
    await store.poll(s.key, 'hash', 0, 'http://node-b:1', 5_000, now); // again since 0 on b: both kept
    const scanned = await store.transition(s.key, { status: 'scanned', actor: 'ann' }, now);
    expect(scanned?.ok === true ? [...scanned.holders].sort() : scanned).toEqual(store instanceof MemoryStore ? [] : ['http://node-a:1', 'http://node-b:1']);
    await store.poll(s.key, 'hash', 1, 'http://node-c:1', 5_000, now); // has seen version 1
    const confirmed = await store.transition(s.key, { status: 'confirmed', actor: 'ann' }, now);
    expect(confirmed?.ok === true ? confirmed.holders : confirmed).toEqual(store instanceof MemoryStore ? [] : ['http://node-c:1']);
  });

  it('a poll asking with a since beyond any version (a client may send one) claims no more than its own node', async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    await store.poll(s.key, 'hash', 999_999_999_999_999, 'http://node-a:1', 5_000, now);
    const res = await store.transition(s.key, { status: 'scanned', actor: 'ann' }, now);
    expect(res?.ok === true ? res.holders : res).toEqual(store instanceof MemoryStore ? [] : ['http://node-a:1']);
  });

  it('a poll claims a route only when it is to be held, and reads nothing with a wrong token', async () => {
    const now = Date.now();
    const holders = async (s: StoredSession): Promise<readonly string[] | undefined> => {
      const res = await store.transition(s.key, { status: 'cancelled' }, now);
      return res?.ok === true ? res.holders : undefined;
    };
    const unheld: Array<[string, StoredSession, number, string | undefined]> = [
      ['wrong token', fresh(), 0, 'http://node-a:1'],
      ['no holder (wait=0)', fresh(), 0, undefined],
      ['newer than since', fresh({ version: 1, status: 'scanned' }), 0, 'http://node-a:1'],
      ['past its lifetime', fresh({ expiresAt: now - 1 }), 0, 'http://node-a:1'],
    ];
    for (const [why, s, since, holder] of unheld) {
      await store.create(s);
      const read = await store.poll(s.key, why === 'wrong token' ? 'hasi' : 'hash', since, holder, 5_000, now);
      expect(read.found, why).toBe(why !== 'wrong token');
      if (!read.found) expect(read.wrongToken, why).toBe(true);
      if (why === 'past its lifetime') continue; // nothing can be set on it to read the route with
      expect(await holders(s), why).toEqual([]);
    }
    const final = fresh();
    await store.create(final);
    await store.transition(final.key, { status: 'cancelled' }, now);
    expect(await store.poll(final.key, 'hash', 0, 'http://node-a:1', 5_000, now)).toMatchObject({ found: true, session: { status: 'cancelled', version: 1 } });
  });

  it('hands a final status out once: one lease at a time, then delivered for good', async () => {
    const s = fresh();
    await store.create(s);
    await store.transition(s.key, { status: 'cancelled', data: { reason: 'user' } }, Date.now());
    const now = Date.now();
    const starts = await Promise.all(['l1', 'l2', 'l3'].map((lease) => store.beginHandOut(s.key, now, 5_000, CANCELLED_1, lease)));
    expect(starts.filter((r) => r.ok)).toHaveLength(1);
    expect(starts.filter((r) => !r.ok)).toEqual([
      { ok: false, delivered: false, busyMs: 5_000 },
      { ok: false, delivered: false, busyMs: 5_000 },
    ]);
    const holder = (await store.get(s.key))?.leasedBy;
    expect(['l1', 'l2', 'l3']).toContain(holder);
    expect(await store.get(s.key)).toMatchObject({ delivered: false, leasedUntil: now + 5_000, data: { reason: 'user' } });
    await store.completeHandOut(s.key);
    expect(await store.get(s.key)).toMatchObject({ delivered: true, leasedUntil: undefined, leasedBy: undefined });
    expect(await store.beginHandOut(s.key, now + 60_000, 5_000, CANCELLED_1, 'l4')).toEqual({ ok: false, delivered: true });
    await store.abandonHandOut(s.key, holder!); // never undoes a completed hand-out
    expect((await store.get(s.key))?.delivered).toBe(true);
  });

  it('a confirmed hand-out records its ticket with a copy of the login; the session forgets actor and data once delivered', async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    await store.transition(s.key, { status: 'scanned', actor: 'ann' }, now);
    await store.transition(s.key, { status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }, now + 1);
    expect((await store.get(s.key))?.confirmedAt).toBe(now + 1);
    const start = await store.beginHandOut(s.key, now + 2, 5_000, { status: 'confirmed', version: 2 }, 'l1', { hash: 'ticket-hash', ttlMs: 60_000 });
    expect(start).toEqual({ ok: true, data: { name: 'Ann' } });
    await store.completeHandOut(s.key);
    const after = await store.get(s.key);
    expect(after).toMatchObject({ status: 'confirmed', delivered: true, actor: undefined, data: undefined });

    expect(await store.redeemTicket(s.key, 'another-hash', now + 3)).toEqual({ ok: false, reason: 'unknown' });
    expect(await store.redeemTicket(s.key, 'ticket-hash', now + 3)).toEqual({
      ok: true,
      redemption: { key: s.key, actor: 'ann', data: { name: 'Ann' }, client: s.client, confirmedAt: now + 1 },
    });
    expect(await store.redeemTicket(s.key, 'ticket-hash', now + 4)).toEqual({ ok: false, reason: 'redeemed' });
    expect(await store.redeemTicket('unknown-key-000000000', 'ticket-hash', now)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('a later hand-out (the first lapsed) replaces the ticket: only the newest one redeems', async () => {
    const s = fresh();
    await store.create(s);
    const now = Date.now();
    await store.transition(s.key, { status: 'scanned', actor: 'ann' }, now);
    await store.transition(s.key, { status: 'confirmed', actor: 'ann' }, now);
    const confirmed = { status: 'confirmed', version: 2 } as const;
    expect((await store.beginHandOut(s.key, now, 5_000, confirmed, 'l1', { hash: 'first', ttlMs: 60_000 })).ok).toBe(true);
    expect((await store.beginHandOut(s.key, now + 5_000, 5_000, confirmed, 'l2', { hash: 'second', ttlMs: 60_000 })).ok).toBe(true);
    expect(await store.redeemTicket(s.key, 'first', now + 5_001)).toEqual({ ok: false, reason: 'unknown' });
    expect(await store.redeemTicket(s.key, 'second', now + 5_001)).toMatchObject({ ok: true, redemption: { actor: 'ann', data: undefined } });
  });

  it('an abandoned hand-out is given back at once; a lapsed lease is taken over', async () => {
    const s = fresh();
    await store.create(s);
    await store.transition(s.key, { status: 'cancelled' }, Date.now());
    const now = Date.now();
    expect(await store.beginHandOut(s.key, now, 5_000, CANCELLED_1, 'first')).toEqual({ ok: true });
    await store.abandonHandOut(s.key, 'first');
    expect(await store.beginHandOut(s.key, now, 5_000, CANCELLED_1, 'second')).toEqual({ ok: true });
    // The node holding this lease died: after it lapses another poll takes over.
    expect(await store.beginHandOut(s.key, now + 4_000, 5_000, CANCELLED_1, 'third')).toEqual({ ok: false, delivered: false, busyMs: 1_000 });
    expect(await store.beginHandOut(s.key, now + 5_001, 5_000, CANCELLED_1, 'third')).toEqual({ ok: true });
  });

  it('only the holder of a lease gives it back: a lapsed lease taken over stays with its new holder', async () => {
    const s = fresh();
    await store.create(s);
    await store.transition(s.key, { status: 'cancelled' }, Date.now());
    const now = Date.now();
    expect(await store.beginHandOut(s.key, now, 5_000, CANCELLED_1, 'slow')).toEqual({ ok: true });
    expect(await store.beginHandOut(s.key, now + 5_001, 5_000, CANCELLED_1, 'fast')).toEqual({ ok: true });
    await store.abandonHandOut(s.key, 'slow'); // the slow hand-out's client left at last
    expect(await store.get(s.key)).toMatchObject({ leasedUntil: now + 10_001, leasedBy: 'fast' });
    expect(await store.beginHandOut(s.key, now + 5_002, 5_000, CANCELLED_1, 'third')).toEqual({ ok: false, delivered: false, busyMs: 4_999 });
    await store.abandonHandOut(s.key, 'fast');
    expect(await store.beginHandOut(s.key, now + 5_002, 5_000, CANCELLED_1, 'third')).toEqual({ ok: true });
  });

  it('handing out expiry writes it down: a change racing it is refused as expired', async () => {
    const s = fresh({ expiresAt: Date.now() + 60_000 });
    await store.create(s);
    // The polling node's clock says the lifetime is over; the setting node's does not.
    expect(await store.beginHandOut(s.key, s.expiresAt, 5_000, { status: 'expired', version: 1 }, 'l')).toEqual({ ok: true });
    expect(await store.transition(s.key, { status: 'scanned' }, s.expiresAt - 30_000)).toEqual({ ok: false, refusal: { code: 'session_expired' } });
    expect(await store.get(s.key)).toMatchObject({ status: 'expired', version: 1 });
  });

  it('a hand-out of a state the store does not hold is refused as changed', async () => {
    const s = fresh();
    await store.create(s);
    await store.transition(s.key, { status: 'scanned' }, Date.now());
    expect(await store.beginHandOut(s.key, Date.now(), 5_000, { status: 'cancelled', version: 1 }, 'l')).toEqual({ ok: false, changed: true });
    await store.transition(s.key, { status: 'confirmed' }, Date.now());
    expect(await store.beginHandOut(s.key, s.expiresAt + 1, 5_000, { status: 'expired', version: 2 }, 'l')).toEqual({ ok: false, changed: true });
    expect(await store.beginHandOut(s.key, s.expiresAt + 1, 5_000, { status: 'confirmed', version: 2 }, 'l')).toEqual({ ok: true });
    expect(await store.get(s.key)).toMatchObject({ status: 'confirmed', version: 2 });
  });

  it('hand-outs of unknown sessions do not create them', async () => {
    expect(await store.beginHandOut('unknown-key-000000001', Date.now(), 5_000, CANCELLED_1, 'l')).toEqual({ ok: false, delivered: true });
    await store.completeHandOut('unknown-key-000000001');
    await store.abandonHandOut('unknown-key-000000001', 'l');
    expect(await store.get('unknown-key-000000001')).toBeUndefined();
  });

  it('concurrent transitions from one state: exactly one change wins, and only its repeats are answered as applied', async () => {
    const s = fresh();
    await store.create(s);
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.transition(s.key, { status: i % 2 ? 'scanned' : 'cancelled' }, Date.now())),
    );
    const won = outcomes.flatMap((o) => (o?.ok ? [o.session] : []));
    expect(won).toHaveLength(5);
    expect(new Set(won.map((w) => `${w.status} ${w.version}`)).size).toBe(1);
    expect((await store.get(s.key))?.version).toBe(1);
  });
});

describe('the Redis store across a rolling upgrade', () => {
  it("reads a lease written by a version without lease ids, and takes it over once it lapses", async () => {
    const prefix = uniquePrefix();
    const store = new RedisStore({ target: { kind: 'url', url: inject('redisUrl') }, prefix, graceMs: 1_000 });
    const redis = inspector({ REDIS_URL: inject('redisUrl') });
    try {
      expect(await store.ready(10_000)).toBe(true);
      const s = fresh();
      await store.create(s);
      await store.transition(s.key, { status: 'cancelled' }, Date.now());
      const now = Date.now();
      // What the previous version wrote: the lease's end alone, no owner.
      await redis.hset(sessionKeys(prefix, s.key).session, F.delivered, String(now + 5_000));
      expect(await store.get(s.key)).toMatchObject({ delivered: false, leasedUntil: now + 5_000, leasedBy: undefined });
      expect(await store.beginHandOut(s.key, now + 1_000, 5_000, CANCELLED_1, 'new')).toEqual({ ok: false, delivered: false, busyMs: 4_000 });
      await store.abandonHandOut(s.key, 'new'); // not its lease: nothing given back
      expect((await store.get(s.key))?.leasedUntil).toBe(now + 5_000);
      expect(await store.beginHandOut(s.key, now + 5_001, 5_000, CANCELLED_1, 'new')).toEqual({ ok: true });
      // The field the previous version reads is still a plain number.
      expect(await redis.hget(sessionKeys(prefix, s.key).session, F.delivered)).toBe(String(now + 10_001));
    } finally {
      await store.close();
    }
  });
});
