import { describe, expect, it, onTestFinished } from 'vitest';
import { QrelayError } from '../../src/errors.js';
import { httpAnswer } from '../../src/http/statuses.js';
import { memoryCounters } from '../../src/limits/counters.js';
import { Origin, observe, type LimitName } from '../../src/core/channels.js';
import { Limits, type LimitSettings } from '../../src/limits/limits.js';

const GENEROUS: LimitSettings = {
  sessionsPerIpPerMinute: 1_000,
  qrPerIpPerMinute: 1_000,
  pollsPerIp: 1_000,
  pollsPerNode: 1_000,
  tokenFailuresPerIpPerMinute: 1_000,
};

/** Limits over memory counters, and the names of the limits it has refused with, in order. */
function limitsWith(settings: Partial<LimitSettings>): { limits: Limits; limited: LimitName[] } {
  const limited: LimitName[] = [];
  const origin = new Origin();
  onTestFinished(observe(origin, { limitHit: (m) => void limited.push(m.limit) }));
  return { limits: new Limits({ ...GENEROUS, ...settings }, memoryCounters, origin), limited };
}

/** The QrelayError `admit` throws (fails the test if it throws none, or something else). */
function refusal(admit: () => unknown): QrelayError {
  try {
    admit();
  } catch (err) {
    expect(err).toBeInstanceOf(QrelayError);
    return err as QrelayError;
  }
  throw new Error('admitted, but a refusal was expected');
}

/** The QrelayError `admission` rejects with. */
async function rejection(admission: Promise<unknown>): Promise<QrelayError> {
  const err: unknown = await admission.then(
    () => new Error('admitted, but a refusal was expected'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QrelayError);
  return err as QrelayError;
}

describe('Limits: polls', () => {
  it('a full node refuses node_full (503, Retry-After 1) before it looks at the address', () => {
    const { limits, limited } = limitsWith({ pollsPerNode: 3, pollsPerIp: 1 });
    limits.admitPoll('203.0.113.1', 2); // one short of full
    const full = refusal(() => limits.admitPoll('203.0.113.2', 3));
    expect(full.code).toBe('node_full');
    expect(httpAnswer(full)).toEqual({ status: 503, retryAfterS: 1 });
    // 203.0.113.1 has its one poll in flight, yet the node's refusal comes first.
    expect(refusal(() => limits.admitPoll('203.0.113.1', 3)).code).toBe('node_full');
    expect(limited).toEqual(['polls_per_node', 'polls_per_node']);
  });

  it('counts an address\'s polls in flight exactly: refused rate_limited (429, Retry-After 1) at the limit, admitted again once one ends', () => {
    const { limits, limited } = limitsWith({ pollsPerIp: 2 });
    const first = limits.admitPoll('203.0.113.7', 0);
    limits.admitPoll('203.0.113.7', 1);
    const refused = refusal(() => limits.admitPoll('203.0.113.7', 2));
    expect(refused.code).toBe('rate_limited');
    expect(httpAnswer(refused)).toEqual({ status: 429, retryAfterS: 1 });
    expect(limited).toEqual(['polls_per_ip']);
    limits.admitPoll('198.51.100.1', 2); // another address has slots of its own
    first();
    limits.admitPoll('203.0.113.7', 2);
    expect(refusal(() => limits.admitPoll('203.0.113.7', 3)).code).toBe('rate_limited');
  });

  it('a release called twice gives back one slot', () => {
    const { limits } = limitsWith({ pollsPerIp: 2 });
    const release = limits.admitPoll('203.0.113.7', 0);
    limits.admitPoll('203.0.113.7', 1);
    release();
    release();
    limits.admitPoll('203.0.113.7', 1); // the one slot freed
    expect(refusal(() => limits.admitPoll('203.0.113.7', 2)).code).toBe('rate_limited');
  });

  it('every slot comes back when every poll ends', () => {
    const { limits } = limitsWith({ pollsPerIp: 3 });
    for (let round = 0; round < 3; round++) {
      const releases = [0, 1, 2].map((held) => limits.admitPoll('203.0.113.7', held));
      expect(refusal(() => limits.admitPoll('203.0.113.7', 3)).code).toBe('rate_limited');
      for (const release of releases) release();
    }
  });

  it('counts an IPv6 /64 as one address', () => {
    const { limits } = limitsWith({ pollsPerIp: 1 });
    limits.admitPoll('2001:db8:1:2::10', 0);
    expect(refusal(() => limits.admitPoll('2001:db8:1:2:ffff::1', 1)).code).toBe('rate_limited');
    limits.admitPoll('2001:db8:1:3::10', 1); // the next /64 is another client
  });
});

describe('Limits: rates, in memory counters', () => {
  it('sessions per address per minute: rate_limited (429) with the wait until the window frees one', async () => {
    const { limits, limited } = limitsWith({ sessionsPerIpPerMinute: 2 });
    await limits.admitSession('203.0.113.7');
    await limits.admitSession('203.0.113.7');
    const refused = await rejection(limits.admitSession('203.0.113.7'));
    expect(refused.code).toBe('rate_limited');
    expect(refused.details.retryInMs).toBeGreaterThan(0);
    expect(refused.details.retryInMs).toBeLessThanOrEqual(60_000);
    const { status, retryAfterS } = httpAnswer(refused);
    expect(status).toBe(429);
    expect(retryAfterS).toBe(Math.ceil((refused.details.retryInMs ?? 0) / 1000));
    expect(limited).toEqual(['sessions_per_ip']);
    await limits.admitSession('198.51.100.1'); // another address has a window of its own
    await limits.admitQr('203.0.113.7'); // and QR images a counter of their own
  });

  it('sessions per address per minute count an IPv6 /64 as one address', async () => {
    const { limits } = limitsWith({ sessionsPerIpPerMinute: 1 });
    await limits.admitSession('2001:db8:1:2::10');
    expect((await rejection(limits.admitSession('2001:db8:1:2::11'))).code).toBe('rate_limited');
    await limits.admitSession('2001:db8:1:3::10');
  });

  it('QR images per address per minute: rate_limited (429) past the limit', async () => {
    const { limits, limited } = limitsWith({ qrPerIpPerMinute: 1 });
    await limits.admitQr('203.0.113.7');
    const refused = await rejection(limits.admitQr('203.0.113.7'));
    expect(refused.code).toBe('rate_limited');
    expect(httpAnswer(refused).status).toBe(429);
    expect(limited).toEqual(['qr_per_ip']);
    await limits.admitSession('203.0.113.7'); // minting is counted apart
  });

  it('wrong tokens: counted per address with unknown keys, and only wrong tokens are refused past the limit', async () => {
    const { limits, limited } = limitsWith({ tokenFailuresPerIpPerMinute: 3 });
    await limits.pollMissed('203.0.113.7', false); // an unknown key takes a point
    for (let i = 0; i < 2; i++) await limits.pollMissed('203.0.113.7', true);
    expect(limited).toEqual([]);
    const refused = await rejection(limits.pollMissed('203.0.113.7', true));
    expect(refused.code).toBe('rate_limited');
    const answer = httpAnswer(refused);
    expect(answer.status).toBe(429);
    expect(answer.retryAfterS).toBeGreaterThanOrEqual(1);
    expect(answer.retryAfterS).toBeLessThanOrEqual(60);
    expect(limited).toEqual(['token_failures']);
    await limits.pollMissed('203.0.113.7', false); // an unknown key is still answered not_found
    await limits.pollMissed('2001:db8::1', true); // another address has its own count
  });
});
