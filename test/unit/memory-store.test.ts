import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/core/memory-store.js';
import type { StoredSession } from '../../src/core/session.js';

const session = (key: string, expiresAt: number): StoredSession => ({
  key,
  tokenHash: 'h',
  status: 'pending',
  version: 0,
  expiresAt,
  client: { ip: '', userAgent: '', acceptLanguage: '', createdAt: 0 },
  delivered: false,
});

describe('MemoryStore', () => {
  it('forgets sessions once their grace period after expiry ends, so memory stays bounded', async () => {
    let now = 0;
    const store = new MemoryStore({ graceMs: 100, clock: () => now, sweepEveryMs: 60_000 });
    for (let i = 0; i < 1_000; i++) await store.create(session(`s${i}`, 1_000 + i));
    now = 1_050;
    expect(await store.get('s0')).toBeDefined(); // expired, still inside its grace period
    now = 1_600;
    store.sweep();
    expect(store.size).toBe(499); // s501..s999 remain: expiresAt > 1600 - 100
    expect(await store.get('s0')).toBeUndefined();
    now = 3_000;
    expect(await store.get('s999')).toBeUndefined(); // unknown even before the sweeper runs
    store.sweep();
    expect(store.size).toBe(0);
    await store.close();
  });

});
