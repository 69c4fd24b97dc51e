// One behaviour suite for every SessionStore: memory, Redis, Redis Cluster. The Lua scripts must
// agree with src/core/session.ts rule for rule.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryStore } from '../../src/core/memory-store.js';
import type { SessionStore } from '../../src/core/session-store.js';
import type { StoredSession } from '../../src/core/session.js';
import { RedisStore } from '../../src/cluster/redis-store.js';
import { uniquePrefix } from '../support/cluster.js';
import { startRedisCluster, type RedisCluster } from '../support/redis.js';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

const stores: Array<[string, () => SessionStore]> = [
  ['memory', () => new MemoryStore({ graceMs: 1_000 })],
  ['redis', () => new RedisStore({ target: { kind: 'url', url: inject('redisUrl') }, prefix: uniquePrefix(), graceMs: 1_000 })],
  ['redis cluster', () => new RedisStore({ target: { kind: 'cluster', nodes: cluster.nodes }, prefix: uniquePrefix(), graceMs: 1_000 })],
];

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
    expect(scanned).toMatchObject({ ok: true, session: { status: 'scanned', version: 1, actor: 'ann', data: { name: 'Ann' } }, route: undefined });
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

  it('claim records the holder and the next transition returns it as the route', async () => {
    const s = fresh();
    await store.create(s);
    expect((await store.claim(s.key, 'http://node-a:1', 5_000))?.version).toBe(0);
    const res = await store.transition(s.key, { status: 'scanned' }, Date.now());
    const expected = store instanceof MemoryStore ? undefined : 'http://node-a:1';
    expect(res).toMatchObject({ ok: true, route: expected });
    expect(await store.claim('unknown-key-000000000', 'http://node-a:1', 5_000)).toBeUndefined();
  });

  it('hands a final status out once; a hand-out can be taken back', async () => {
    const s = fresh();
    await store.create(s);
    await store.transition(s.key, { status: 'cancelled', data: { reason: 'user' } }, Date.now());
    const results = await Promise.all([store.markDelivered(s.key), store.markDelivered(s.key), store.markDelivered(s.key)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.get(s.key)).toMatchObject({ delivered: true, data: { reason: 'user' } });
    await store.undoDelivered(s.key);
    expect(await store.get(s.key)).toMatchObject({ delivered: false });
    expect(await store.markDelivered(s.key)).toBe(true);
    expect(await store.markDelivered('unknown-key-000000000')).toBe(false);
  });

  it('concurrent transitions from one state: exactly one wins', async () => {
    const s = fresh();
    await store.create(s);
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.transition(s.key, { status: i % 2 ? 'scanned' : 'cancelled' }, Date.now())),
    );
    expect(outcomes.filter((o) => o?.ok)).toHaveLength(1);
    expect((await store.get(s.key))?.version).toBe(1);
  });
});
