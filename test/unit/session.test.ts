import { describe, expect, it } from 'vitest';
import {
  applyTransition,
  changed,
  effective,
  refuseTransition,
  type SessionStatus,
  type SettableStatus,
  type StoredSession,
} from '../../src/core/session.js';

const base: StoredSession = {
  key: 'k'.repeat(22),
  tokenHash: 'h',
  status: 'pending',
  version: 0,
  expiresAt: 1_000,
  client: { ip: '1.2.3.4', userAgent: 'ua', acceptLanguage: 'en', createdAt: 0 },
  delivered: false,
};
const at = (status: SessionStatus, extra: Partial<StoredSession> = {}): StoredSession => ({ ...base, status, ...extra });

describe('the transition table', () => {
  const table: Array<[SessionStatus, SettableStatus, string | null]> = [
    ['pending', 'scanned', null],
    ['pending', 'cancelled', null],
    ['pending', 'confirmed', 'invalid_transition'],
    ['scanned', 'confirmed', null],
    ['scanned', 'cancelled', null],
    ['scanned', 'scanned', 'invalid_transition'],
    ['confirmed', 'cancelled', 'invalid_transition'],
    ['confirmed', 'scanned', 'invalid_transition'],
    ['cancelled', 'confirmed', 'invalid_transition'],
    ['cancelled', 'scanned', 'invalid_transition'],
    ['expired', 'scanned', 'session_expired'],
  ];
  it.each(table)('%s -> %s is %s', (from, to, refusal) => {
    expect(refuseTransition(at(from), { status: to }, 0)?.code ?? null).toBe(refusal);
  });

  it('a session past its lifetime refuses every change as expired', () => {
    expect(refuseTransition(at('pending'), { status: 'scanned' }, 1_000)?.code).toBe('session_expired');
    expect(refuseTransition(at('scanned'), { status: 'confirmed' }, 5_000)?.code).toBe('session_expired');
  });

  it('confirm and cancel after a scan must name the scanning actor', () => {
    const scanned = applyTransition(at('pending'), { status: 'scanned', actor: 'alice' }, 0);
    expect(scanned.actor).toBe('alice');
    expect(refuseTransition(scanned, { status: 'confirmed', actor: 'bob' }, 0)?.code).toBe('actor_mismatch');
    expect(refuseTransition(scanned, { status: 'confirmed' }, 0)?.code).toBe('actor_mismatch');
    expect(refuseTransition(scanned, { status: 'cancelled', actor: 'bob' }, 0)?.code).toBe('actor_mismatch');
    expect(refuseTransition(scanned, { status: 'confirmed', actor: 'alice' }, 0)).toBeNull();
    expect(refuseTransition(scanned, { status: 'cancelled', actor: 'alice' }, 0)).toBeNull();
  });

  it('a scan without an actor binds nobody', () => {
    const scanned = applyTransition(at('pending'), { status: 'scanned' }, 0);
    expect(refuseTransition(scanned, { status: 'confirmed', actor: 'anyone' }, 0)).toBeNull();
  });

  it('ifVersion is compare-and-set on the current version', () => {
    expect(refuseTransition(at('pending', { version: 0 }), { status: 'scanned', ifVersion: 1 }, 0)).toEqual({
      code: 'version_mismatch',
      expected: 1,
      actual: 0,
    });
    expect(refuseTransition(at('pending', { version: 0 }), { status: 'scanned', ifVersion: 0 }, 0)).toBeNull();
  });

  it('each change bumps the version by one and carries its own data', () => {
    const scanned = applyTransition(at('pending'), { status: 'scanned', data: { name: 'A' } }, 0);
    const confirmed = applyTransition(scanned, { status: 'confirmed', data: { ticket: 't' } }, 0);
    expect([scanned.version, confirmed.version]).toEqual([1, 2]);
    expect(confirmed.data).toEqual({ ticket: 't' });
  });
});

describe('copying a record', () => {
  it('applies the changes given, clears a field given as undefined, and keeps the rest', () => {
    const leased = changed(at('confirmed', { actor: 'u1', data: { ticket: 't' } }), { leasedUntil: 5 });
    expect(leased).toEqual({ ...at('confirmed', { actor: 'u1', data: { ticket: 't' } }), leasedUntil: 5 });
    const cleared = changed(leased, { delivered: true, leasedUntil: undefined, data: undefined });
    expect(cleared.leasedUntil).toBeUndefined();
    expect(cleared.data).toBeUndefined();
    expect(cleared).toMatchObject({ status: 'confirmed', actor: 'u1', delivered: true, version: 0, key: base.key, client: base.client });
  });
});

describe('derived expiry', () => {
  it('a non-final session at or past expiresAt is expired at version + 1, without its data', () => {
    const s = at('scanned', { version: 1, data: { name: 'A' } });
    expect(effective(s, 999)).toBe(s);
    expect(effective(s, 1_000)).toMatchObject({ status: 'expired', version: 2, data: undefined });
  });
  it('a final session stays as it is', () => {
    const s = at('confirmed', { version: 2 });
    expect(effective(s, 10_000)).toBe(s);
  });
});

describe('the scan URL', () => {
  it('is SCAN_URL_BASE with the key added as a query parameter, wherever the base puts its query and fragment', async () => {
    const { SessionService } = await import('../../src/core/session-service.js');
    const { MemoryStore } = await import('../../src/core/memory-store.js');
    const { PendingPolls } = await import('../../src/core/pending-polls.js');
    const url = (base: string) =>
      new SessionService({ store: new MemoryStore({ graceMs: 0 }), polls: new PendingPolls(), sessionTtlMs: 1, holdMs: 1, ticketTtlMs: 1, scanUrlBase: base }).scanUrl('abc_DEF-123');
    expect(url('https://x.example/scan.html')).toBe('https://x.example/scan.html?key=abc_DEF-123');
    expect(url('https://x.example/KEY/scan?key=old&src=qr')).toBe('https://x.example/KEY/scan?key=abc_DEF-123&src=qr');
    expect(url('https://x.example/s?a=1#key=frag')).toBe('https://x.example/s?a=1&key=abc_DEF-123#key=frag');
  });
});
