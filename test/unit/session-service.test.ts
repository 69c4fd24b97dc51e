// SessionService driven directly, without HTTP: a MemoryStore (subclassed to hold, fail or route
// a call), the real PendingPolls, a recording relay and events, and an injected clock. The HTTP
// and cluster suites test the same flows end to end; these pin the service's own answers.
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { HandedView, HandOutReceipt } from '../../src/core/hand-out.js';
import { MemoryStore } from '../../src/core/memory-store.js';
import { errors } from '../../src/errors.js';
import { PendingPolls, PollEnd, type PollEndReason } from '../../src/core/pending-polls.js';
import { Origin, type SetOutcome } from '../../src/core/channels.js';
import { SessionService, type NewSession, type PollAnswer, type Relay } from '../../src/core/session-service.js';
import type { SessionStatus, SessionView, StatusChange } from '../../src/core/session.js';
import type { PollRead, TransitionOutcome } from '../../src/core/session-store.js';
import { recordChannels } from '../support/channels.js';
import { TestClient } from '../support/test-client.js';

const HOLD_MS = 10_000;
const SESSION_TTL_MS = 60_000;
const NODE = 'http://node-a:9000';
/** The address every poll of these tests comes from. */
const ADDRESS = '198.51.100.9';

/** A MemoryStore that can hold poll reads back, fail them, and name holders of a route. */
class TestStore extends MemoryStore {
  /** The `holder` each poll read claimed a route for (undefined: none). */
  readonly pollClaims: Array<string | undefined> = [];
  /** What a poll read throws, if set. */
  pollFailure: Error | undefined;
  /** The holders a successful transition reports (a cluster store's routes). */
  holders: string[] = [];
  #gate: Promise<void> | undefined;

  /** Holds every poll read back until the returned function is called. */
  pausePolls(): () => void {
    let release!: () => void;
    this.#gate = new Promise((resolve) => {
      release = resolve;
    });
    return () => {
      this.#gate = undefined;
      release();
    };
  }

  override async poll(key: string, tokenHash: string, since: number, holder: string | undefined, ttlMs: number, now: number): Promise<PollRead> {
    this.pollClaims.push(holder);
    if (this.#gate !== undefined) await this.#gate;
    if (this.pollFailure !== undefined) throw this.pollFailure;
    return super.poll(key, tokenHash, since, holder, ttlMs, now);
  }

  /** What giving a hand-out back throws, if set. */
  abandonFailure: Error | undefined;

  override async abandonHandOut(key: string, leaseId: string): Promise<void> {
    if (this.abandonFailure !== undefined) throw this.abandonFailure;
    return super.abandonHandOut(key, leaseId);
  }

  override async transition(key: string, change: StatusChange, now: number): Promise<TransitionOutcome> {
    const outcome = await super.transition(key, change, now);
    return outcome?.ok === true ? { ok: true, session: outcome.session, holders: this.holders } : outcome;
  }
}

class FakeRelay implements Relay {
  readonly forwards: Array<{ route: string; view: SessionView }> = [];
  /** What each route answers; unlisted routes answer false (nothing held there). */
  answers: Record<string, boolean> = {};

  async forward(route: string, view: SessionView): Promise<boolean> {
    this.forwards.push({ route, view });
    return this.answers[route] ?? false;
  }
}

/** What the service published on its channels, in the shapes these tests compare. */
function recordedEvents(origin: Origin) {
  const r = recordChannels(origin);
  return {
    get created(): string[] {
      return r.sessionCreated.map((m) => m.key);
    },
    get pollEnds(): PollEndReason[] {
      return r.pollEnded.map((m) => m.reason);
    },
    get sets(): SetOutcome[] {
      return r.statusSet.map((m) => m.outcome);
    },
    get deliveries(): Array<'local' | 'forward'> {
      return r.delivered.map((m) => m.via);
    },
    get tokenRejections(): string[] {
      return r.tokenRejected.map((m) => m.key);
    },
    get handedOut(): Array<{ key: string; status: SessionStatus }> {
      return r.finalHandedOut.map((m) => ({ key: m.key, status: m.status }));
    },
  };
}

interface SetUpOptions {
  holdMs?: number;
  sessionTtlMs?: number;
  /** Cluster shape: this node's address and the fake relay are passed to the service. */
  cluster?: boolean;
  pollMissed?: (address: string, wrongToken: boolean) => Promise<void>;
  admitPoll?: (address: string, heldHere: number) => () => void;
}

function setUp(options: SetUpOptions = {}) {
  const clock = { now: 1_700_000_000_000 };
  const store = new TestStore({ graceMs: 60_000, sweepEveryMs: 3_600_000, clock: () => clock.now });
  const origin = new Origin();
  const polls = new PendingPolls(origin);
  const relay = new FakeRelay();
  const events = recordedEvents(origin);
  const misses: Array<{ address: string; wrongToken: boolean }> = [];
  const service = new SessionService({
    store,
    polls,
    sessionTtlMs: options.sessionTtlMs ?? SESSION_TTL_MS,
    holdMs: options.holdMs ?? HOLD_MS,
    ticketTtlMs: 60_000,
    scanUrlBase: 'https://login.example/scan?app=demo#top',
    clock: () => clock.now,
    pollMissed: async (address, wrongToken) => {
      misses.push({ address, wrongToken });
      await options.pollMissed?.(address, wrongToken);
    },
    ...(options.cluster === true ? { nodeAddr: NODE, relay } : {}),
    ...(options.admitPoll === undefined ? {} : { admitPoll: options.admitPoll }),
  });
  onTestFinished(async () => {
    await polls.endAll(PollEnd.shutdown); // a poll a failed test left held
    await store.close();
  });

  const mint = (): Promise<NewSession> => service.create({ ip: '192.0.2.1', userAgent: 'test', acceptLanguage: 'en' });
  const poll = (s: NewSession, since: number, opts: { wait?: number; client?: TestClient; token?: string } = {}): Promise<PollAnswer> =>
    service.poll(s.key, opts.token ?? s.pollToken, since, opts.wait, opts.client ?? new TestClient(), ADDRESS);
  /** Resolves once the service holds `count` polls. */
  const held = (count = 1): Promise<void> => until(() => service.heldPolls === count, `${count} held poll(s)`);
  return { service, store, relay, events, origin, clock, misses, mint, poll, held };
}

/**
 * Waits for `cond`, letting pending I/O callbacks and promises run between checks (the memory
 * store answers within a few turns). Fails rather than waits on when it never holds.
 */
async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let turn = 0; turn < 1_000; turn++) {
    if (await cond()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

/** Whether `p` has settled, after letting pending callbacks run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/** The view and receipt of an answer that hands out a final status. */
function handOutOf(answer: PollAnswer): { view: HandedView; receipt: HandOutReceipt } {
  if (answer.view === undefined || answer.handOut === undefined) throw new Error(`no hand-out in ${JSON.stringify(answer)}`);
  return { view: answer.view, receipt: answer.handOut };
}

const confirmedBy = async (service: SessionService, key: string, actor = 'alice', data = { user: 42 }): Promise<void> => {
  await service.set(key, { status: 'scanned', actor });
  await service.set(key, { status: 'confirmed', actor, data });
};

afterEach(() => {
  vi.useRealTimers();
});

describe('create and peek', () => {
  it('a new session is pending at version 0, and its scan URL carries its key before the fragment', async () => {
    const { service, events, clock, mint } = setUp();
    const s = await mint();
    expect(s).toMatchObject({ status: 'pending', version: 0, expiresAt: clock.now + SESSION_TTL_MS, holdMs: HOLD_MS });
    expect(s.scanUrl).toBe(`https://login.example/scan?app=demo&key=${s.key}#top`);
    expect(events.created).toEqual([s.key]);
    await expect(service.peek(s.key)).resolves.toMatchObject({ status: 'pending', version: 0, client: { ip: '192.0.2.1' } });
  });

  it('peek shows the derived expired state once the lifetime has passed; an unknown key is not_found', async () => {
    const { service, clock, mint } = setUp();
    const s = await mint();
    await service.set(s.key, { status: 'scanned', actor: 'alice', data: { step: 1 } });
    await expect(service.peek(s.key)).resolves.toMatchObject({ status: 'scanned', version: 1, actor: 'alice', data: { step: 1 } });
    clock.now += SESSION_TTL_MS;
    await expect(service.peek(s.key)).resolves.toMatchObject({ status: 'expired', version: 2, data: undefined });
    await expect(service.peek('no-such-key')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('poll', () => {
  it('an unknown key and a wrong token get the same not_found, each counted for the address before it is answered', async () => {
    const { service, events, misses, mint, poll } = setUp();
    const s = await mint();
    const unknown = service.poll('AAAAAAAAAAAAAAAAAAAAAA', s.pollToken, 0, undefined, new TestClient(), ADDRESS);
    await expect(unknown).rejects.toMatchObject({ code: 'not_found' });
    await expect(poll(s, 0, { token: 'not-the-token' })).rejects.toMatchObject({ code: 'not_found' });
    expect(misses).toEqual([
      { address: ADDRESS, wrongToken: false },
      { address: ADDRESS, wrongToken: true },
    ]);
    expect(events.tokenRejections).toEqual([s.key]);
    expect(service.heldPolls).toBe(0);
    await expect(service.peek(s.key)).resolves.toMatchObject({ status: 'pending' });
  });

  it('a wrong token refused by the limit gets its refusal, and the session and its held poll go on', async () => {
    const { service, misses, mint, poll, held } = setUp({
      pollMissed: async (_address, wrongToken) => {
        if (wrongToken) throw errors.rateLimited('too many', 30_000);
      },
    });
    const s = await mint();
    const real = poll(s, 0);
    await held();
    for (let i = 0; i < 20; i++) await expect(poll(s, 0, { token: 'guess' })).rejects.toMatchObject({ code: 'rate_limited' });
    expect(misses).toHaveLength(20);
    expect(service.heldPolls).toBe(1);
    await expect(poll(s, 0, { wait: 0 })).resolves.toEqual({ reason: 'timeout' }); // the right token is served
    await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ delivered: true });
    await expect(real).resolves.toMatchObject({ reason: 'changed', view: { status: 'scanned', version: 1 } });
    expect(misses).toHaveLength(20); // right-token polls count nowhere
  });

  it('a since ahead of the version is invalid_since and holds nothing; since at an expired version acknowledges', async () => {
    const { service, clock, mint, poll } = setUp();
    const s = await mint();
    await expect(poll(s, 1)).rejects.toMatchObject({ code: 'invalid_since' });
    await expect(poll(s, 1, { wait: 0 })).rejects.toMatchObject({ code: 'invalid_since' });
    expect(service.heldPolls).toBe(0);
    // Past its lifetime the session is expired at version 1: since=1 is its client holding that.
    clock.now += SESSION_TTL_MS;
    await expect(poll(s, 2)).rejects.toMatchObject({ code: 'invalid_since' });
    await expect(service.peek(s.key)).resolves.toMatchObject({ status: 'expired', version: 1, delivered: false });
    await expect(poll(s, 1)).rejects.toMatchObject({ code: 'already_delivered' });
    await expect(service.peek(s.key)).resolves.toMatchObject({ delivered: true });
  });

  it('a wrong-token poll does not end the real poll held for the same key', async () => {
    const { service, misses, mint, poll, held } = setUp();
    const s = await mint();
    const real = poll(s, 0);
    await held();
    await expect(poll(s, 0, { token: 'guess' })).rejects.toMatchObject({ code: 'not_found' });
    expect(misses).toHaveLength(1);
    expect(service.heldPolls).toBe(1);
    expect(await settled(real)).toBe(false);
    await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ delivered: true });
    await expect(real).resolves.toMatchObject({ reason: 'changed', view: { status: 'scanned', version: 1 } });
  });

  it('a poll behind the current version answers at once with it', async () => {
    const { service, events, mint, poll } = setUp();
    const s = await mint();
    await service.set(s.key, { status: 'scanned', actor: 'alice', data: { device: 'phone' } });
    await expect(poll(s, 0)).resolves.toEqual({
      reason: 'ready',
      view: { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { device: 'phone' } },
    });
    expect(service.heldPolls).toBe(0);
    expect(events.pollEnds).toEqual([]); // answered at once: never held, not reported
  });

  it('wait=0 answers timeout at once, holds nothing and claims no route', async () => {
    const { service, store, mint, poll } = setUp({ cluster: true });
    const s = await mint();
    await expect(poll(s, 0, { wait: 0 })).resolves.toEqual({ reason: 'timeout' });
    expect(service.heldPolls).toBe(0);
    expect(store.pollClaims).toEqual([undefined]);
    // Nothing joined either: a later change finds no poll to wake.
    await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ delivered: false });
  });

  it('a held poll claims its route, is woken by set() with the new view, and counts as held only while held', async () => {
    const { service, store, events, mint, poll, held } = setUp({ cluster: true });
    const s = await mint();
    expect(service.heldPolls).toBe(0);
    const answer = poll(s, 0);
    await held();
    expect(service.heldPolls).toBe(1);
    expect(store.pollClaims).toEqual([NODE]);
    const set = await service.set(s.key, { status: 'scanned', actor: 'alice', data: { device: 'phone' } });
    expect(set).toMatchObject({ key: s.key, status: 'scanned', version: 1, delivered: true });
    await expect(answer).resolves.toEqual({
      reason: 'changed',
      view: { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { device: 'phone' } },
    });
    expect(service.heldPolls).toBe(0);
    expect(events.pollEnds).toEqual(['changed']);
    expect(events.deliveries).toEqual(['local']);
  });

  it('a held poll ends as timeout when holdMs passes, and not before', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { service, events, mint, poll, held } = setUp({ holdMs: 1_000 });
    const s = await mint();
    const answer = poll(s, 0);
    await held();
    await vi.advanceTimersByTimeAsync(999);
    expect(service.heldPolls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(answer).resolves.toEqual({ reason: 'timeout' });
    expect(service.heldPolls).toBe(0);
    expect(events.pollEnds).toEqual(['timeout']);
  });

  it("the client's wait, when shorter than holdMs, bounds the hold", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { service, mint, poll } = setUp({ holdMs: 1_000 });
    const s = await mint();
    const answer = poll(s, 0, { wait: 100 });
    await until(() => service.heldPolls === 1, 'the poll held');
    await vi.advanceTimersByTimeAsync(99);
    expect(service.heldPolls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(answer).resolves.toEqual({ reason: 'timeout' });
  });

  it('the client hanging up ends the hold as client-closed', async () => {
    const { service, events, mint, poll, held } = setUp();
    const s = await mint();
    const client = new TestClient();
    const answer = poll(s, 0, { client });
    await held();
    expect(client.listener).toBeDefined();
    client.hangUp();
    await expect(answer).resolves.toEqual({ reason: 'client-closed' });
    expect(service.heldPolls).toBe(0);
    expect(events.pollEnds).toEqual(['client-closed']);
  });

  it('a second poll for the same key supersedes the first only once admitted', async () => {
    const { service, store, events, mint, poll, held } = setUp();
    const s = await mint();
    const first = poll(s, 0);
    await held();
    const release = store.pausePolls();
    const second = poll(s, 0);
    await until(() => store.pollClaims.length === 2, 'the second poll reading the store');
    // Joined, its token not checked yet: the first is still the one held.
    expect(await settled(first)).toBe(false);
    expect(service.heldPolls).toBe(1);
    release();
    await expect(first).resolves.toEqual({ reason: 'superseded' });
    expect(service.heldPolls).toBe(1);
    expect(events.pollEnds).toEqual(['superseded']);
    await service.set(s.key, { status: 'scanned', actor: 'alice' });
    await expect(second).resolves.toMatchObject({ reason: 'changed', view: { version: 1 } });
    expect(service.heldPolls).toBe(0);
  });

  it('a newer poll stays held when an older one for the same key hears from the store last', async () => {
    const { service, store, events, mint, poll, held } = setUp();
    const s = await mint();
    const release = store.pausePolls();
    const older = poll(s, 0);
    await until(() => store.pollClaims.length === 1, 'the older poll reading the store');
    const releaseNewer = store.pausePolls();
    const newer = poll(s, 0);
    await until(() => store.pollClaims.length === 2, 'the newer poll reading the store');
    releaseNewer(); // the newer poll's read answers first and it is admitted
    await held();
    release(); // then the older one's: it must not take the key from the newer
    await expect(older).resolves.toEqual({ reason: 'superseded' });
    expect(service.heldPolls).toBe(1);
    expect(events.pollEnds).toEqual([]); // the older poll was never held
    await service.set(s.key, { status: 'scanned', actor: 'alice' });
    await expect(newer).resolves.toMatchObject({ reason: 'changed', view: { version: 1 } });
  });

  it('a session expiring while its poll is held answers with the expired status, handed out', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { service, store, events, clock, mint, poll, held } = setUp({ holdMs: 60_000, sessionTtlMs: 5_000 });
    const s = await mint();
    const answer = poll(s, 0);
    await held();
    clock.now += 4_999;
    await vi.advanceTimersByTimeAsync(4_999);
    expect(service.heldPolls).toBe(1);
    clock.now += 1;
    await vi.advanceTimersByTimeAsync(1);
    const expired = await answer;
    expect(expired.reason).toBe('expired');
    const { view, receipt } = handOutOf(expired);
    expect(view).toMatchObject({ key: s.key, status: 'expired', version: 1, ticket: undefined });
    expect(events.pollEnds).toEqual(['expired']);
    // The store wrote the expiry down with the hand-out: a late change is refused.
    await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).rejects.toMatchObject({ code: 'session_expired' });
    receipt.settle(true);
    await until(() => events.handedOut.length === 1, 'the hand-out recorded');
    expect((await store.get(s.key))?.delivered).toBe(true);
  });
});

describe('final statuses', () => {
  it('confirmed is handed out once, with a ticket and a receipt; once recorded, a poll behind it gets already_delivered', async () => {
    const { service, events, mint, poll } = setUp();
    const s = await mint();
    await confirmedBy(service, s.key, 'alice', { user: 42 });
    const answer = await poll(s, 0);
    expect(answer.reason).toBe('ready');
    const { view, receipt } = handOutOf(answer);
    expect(view).toMatchObject({ key: s.key, status: 'confirmed', version: 2, data: { user: 42 } });
    expect(view.ticket).toMatch(new RegExp(`^${s.key}[A-Za-z0-9_-]{43}$`));
    // While this hand-out is in flight, no other poll takes it.
    await expect(poll(s, 0)).rejects.toMatchObject({ code: 'hand_out_in_progress' });
    receipt.settle(true);
    await until(() => events.handedOut.length === 1, 'the hand-out recorded');
    expect(events.handedOut).toEqual([{ key: s.key, status: 'confirmed' }]);
    await expect(poll(s, 0)).rejects.toMatchObject({ code: 'already_delivered' });
    await expect(poll(s, 1)).rejects.toMatchObject({ code: 'already_delivered' });
  });

  it('a held poll woken by confirmed gets the hand-out', async () => {
    const { service, mint, poll, held } = setUp();
    const s = await mint();
    await service.set(s.key, { status: 'scanned', actor: 'alice' });
    const answer = poll(s, 1);
    await held();
    await service.set(s.key, { status: 'confirmed', actor: 'alice', data: { user: 42 } });
    const handed = await answer;
    expect(handed.reason).toBe('changed');
    expect(handOutOf(handed).view).toMatchObject({ status: 'confirmed', version: 2, data: { user: 42 }, ticket: expect.any(String) });
  });

  it('a give-back the store fails is published (qrelay:store.cleanup_failed), not swallowed; the lease then lapses', async () => {
    const { service, store, origin, mint, poll } = setUp();
    const recorded = recordChannels(origin);
    const s = await mint();
    await confirmedBy(service, s.key);
    store.abandonFailure = new Error('connection lost');
    handOutOf(await poll(s, 0)).receipt.settle(false);
    await until(() => recorded.cleanupFailed.length === 1, 'the failed give-back published');
    expect(recorded.cleanupFailed.map((m) => [m.step, (m.error as Error).message])).toEqual([['give-back-hand-out', 'connection lost']]);
    expect((await store.get(s.key))?.leasedBy).toBeDefined(); // still leased: it lapses on its own
  });

  it('settle(false) gives the final status back: the next poll gets it, with a new ticket', async () => {
    const { service, store, events, mint, poll } = setUp();
    const s = await mint();
    await confirmedBy(service, s.key);
    const first = handOutOf(await poll(s, 0));
    first.receipt.settle(false);
    await until(async () => (await store.get(s.key))?.leasedBy === undefined, 'the hand-out given back');
    const again = handOutOf(await poll(s, 0));
    expect(again.view).toMatchObject({ status: 'confirmed', version: 2, data: { user: 42 } });
    expect(again.view.ticket).toBeDefined();
    expect(again.view.ticket).not.toBe(first.view.ticket);
    expect(events.handedOut).toEqual([]);
    // Only the later ticket is redeemable.
    await expect(service.redeem(first.view.ticket ?? '')).rejects.toMatchObject({ code: 'not_found' });
    await expect(service.redeem(again.view.ticket ?? '')).resolves.toMatchObject({ key: s.key });
  });

  it('a poll whose since is already the final version gets already_delivered, and the hand-out is recorded', async () => {
    const { service, store, mint, poll } = setUp();
    const s = await mint();
    await service.set(s.key, { status: 'cancelled' });
    await expect(poll(s, 1)).rejects.toMatchObject({ code: 'already_delivered' });
    expect((await store.get(s.key))?.delivered).toBe(true);
    await expect(poll(s, 0)).rejects.toMatchObject({ code: 'already_delivered' });
  });

  it('a ticket is redeemed once: its login, then already_redeemed', async () => {
    const { service, clock, mint, poll } = setUp();
    const s = await mint();
    await confirmedBy(service, s.key, 'alice', { user: 42 });
    const confirmedAt = clock.now;
    const { view, receipt } = handOutOf(await poll(s, 0));
    receipt.settle(true);
    const ticket = view.ticket ?? '';
    await expect(service.redeem(ticket)).resolves.toEqual({
      key: s.key,
      actor: 'alice',
      data: { user: 42 },
      client: { ip: '192.0.2.1', userAgent: 'test', acceptLanguage: 'en', createdAt: expect.any(Number) },
      confirmedAt,
    });
    await expect(service.redeem(ticket)).rejects.toMatchObject({ code: 'already_redeemed' });
    await expect(service.redeem(`${s.key}${'x'.repeat(43)}`)).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('set', () => {
  const refusals: Array<[string, string, (service: SessionService, s: NewSession, clock: { now: number }) => Promise<unknown>]> = [
    ['a skipped step', 'invalid_transition', (service, s) => service.set(s.key, { status: 'confirmed', actor: 'alice' })],
    [
      'a confirm by another actor',
      'actor_mismatch',
      async (service, s) => {
        await service.set(s.key, { status: 'scanned', actor: 'alice' });
        return service.set(s.key, { status: 'confirmed', actor: 'mallory' });
      },
    ],
    ['a stale ifVersion', 'version_mismatch', (service, s) => service.set(s.key, { status: 'scanned', ifVersion: 3 })],
    [
      'a change after the lifetime',
      'session_expired',
      (service, s, clock) => {
        clock.now += SESSION_TTL_MS;
        return service.set(s.key, { status: 'scanned' });
      },
    ],
    ['an unknown key', 'not_found', (service) => service.set('AAAAAAAAAAAAAAAAAAAAAA', { status: 'scanned' })],
  ];
  it.each(refusals)('%s is refused as %s, and counted so', async (_name, code, change) => {
    const { service, events, clock, mint } = setUp();
    const s = await mint();
    await expect(change(service, s, clock)).rejects.toMatchObject({ code });
    expect(events.sets.at(-1)).toBe(code);
  });

  it('delivered is true when a held poll woke, false when none was held', async () => {
    const { service, events, mint, poll, held } = setUp();
    const s = await mint();
    await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ version: 1, delivered: false });
    const answer = poll(s, 1);
    await held();
    await expect(service.set(s.key, { status: 'confirmed', actor: 'alice' })).resolves.toMatchObject({ version: 2, delivered: true });
    await answer;
    expect(events.sets).toEqual(['ok', 'ok']);
    expect(events.deliveries).toEqual(['local']);
  });

  it('a store failure is store_unavailable', async () => {
    const { service, store, events, mint } = setUp();
    const s = await mint();
    vi.spyOn(store, 'transition').mockRejectedValueOnce(new Error('connection lost'));
    await expect(service.set(s.key, { status: 'scanned' })).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(events.sets).toEqual(['store_unavailable']);
  });

  describe('in a cluster', () => {
    it('forwards the change to every other node holding a poll, never to itself', async () => {
      const { service, store, relay, events, mint } = setUp({ cluster: true });
      const s = await mint();
      store.holders = ['http://node-b:9000', NODE, 'http://node-c:9000'];
      relay.answers = { 'http://node-c:9000': true };
      const set = await service.set(s.key, { status: 'scanned', actor: 'alice' });
      expect(set.delivered).toBe(true);
      const view = { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: undefined };
      expect(relay.forwards).toEqual([
        { route: 'http://node-b:9000', view },
        { route: 'http://node-c:9000', view },
      ]);
      expect(events.deliveries).toEqual(['forward']);
    });

    it('delivered is false when no node had the poll, and true when this node did (a local delivery)', async () => {
      const { service, store, relay, events, mint, poll, held } = setUp({ cluster: true });
      const s = await mint();
      store.holders = ['http://node-b:9000'];
      await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ delivered: false });
      expect(relay.forwards).toHaveLength(1);

      const answer = poll(s, 1);

      await held();
      store.holders = [NODE, 'http://node-b:9000']; // a stale claim on node B answers false
      await expect(service.set(s.key, { status: 'cancelled', actor: 'alice' })).resolves.toMatchObject({ delivered: true });
      await expect(answer).resolves.toMatchObject({ reason: 'changed', view: { status: 'cancelled' } });
      expect(relay.forwards.map((f) => f.route)).toEqual(['http://node-b:9000', 'http://node-b:9000']);
      expect(events.deliveries).toEqual(['local']); // woken here, though a forward was made too
    });

    it('only this node holding the poll: nothing is forwarded', async () => {
      const { service, store, relay, events, mint, poll, held } = setUp({ cluster: true });
      const s = await mint();
      const answer = poll(s, 0);
      await held();
      store.holders = [NODE];
      await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ delivered: true });
      await answer;
      expect(relay.forwards).toEqual([]);
      expect(events.deliveries).toEqual(['local']);
    });
  });
});

describe('receive', () => {
  it('a change handed over by another node wakes the poll held here, which answers with what the store holds', async () => {
    const { service, store, clock, mint, poll, held } = setUp({ cluster: true });
    const s = await mint();
    const answer = poll(s, 0);
    await held();
    await store.transition(s.key, { status: 'scanned', actor: 'alice', data: { device: 'phone' } }, clock.now); // no wake: the store alone
    const claim: SessionView = { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { name: 'Your Bank Support' } };
    expect(service.receive({ ...claim, version: 0 })).toBe(false); // not newer than what the poll has
    expect(service.receive(claim)).toBe(true);
    await expect(answer).resolves.toEqual({ reason: 'changed', view: { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { device: 'phone' } } });
    expect(service.heldPolls).toBe(0);
  });

  it('a change the store does not hold (yet) ends the poll with nothing to say, never with the claim', async () => {
    const { service, mint, poll, held } = setUp({ cluster: true });
    const s = await mint();
    const answer = poll(s, 0);
    await held();
    expect(service.receive({ key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { name: 'Your Bank Support' } })).toBe(true);
    await expect(answer).resolves.toEqual({ reason: 'timeout' });
  });

  it('returns false when no poll is held for the key', async () => {
    const { service, mint } = setUp({ cluster: true });
    const s = await mint();
    expect(service.receive({ key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt })).toBe(false);
  });
});

describe('store failure during a poll', () => {
  it('is store_unavailable, and leaves nothing held or joined', async () => {
    const { service, store, mint, poll } = setUp();
    const s = await mint();
    store.pollFailure = new Error('connection lost');
    await expect(poll(s, 0)).rejects.toMatchObject({ code: 'store_unavailable', cause: store.pollFailure });
    expect(service.heldPolls).toBe(0);
    // A poll left joined would still be woken by a change.
    await expect(service.set(s.key, { status: 'scanned', actor: 'alice' })).resolves.toMatchObject({ delivered: false });
  });
});

describe('admission', () => {
  it("a poll is admitted in one place: refused while closing before its address is counted, else its slot goes to its client", async () => {
    const admitted: Array<[string, number]> = [];
    let released = 0;
    const { service, mint, poll, held } = setUp({
      admitPoll: (address, heldHere) => {
        admitted.push([address, heldHere]);
        return () => void released++;
      },
    });
    const [a, b] = [await mint(), await mint()];
    const client = new TestClient();
    const answer = poll(a, 0, { client });
    await held(1);
    expect(admitted).toEqual([[ADDRESS, 0]]);
    expect(client.kept).toBeDefined(); // the client's request, not the service, gives the slot back
    expect(released).toBe(0);
    await poll(b, 0, { wait: 0 });
    expect(admitted).toEqual([[ADDRESS, 0], [ADDRESS, 1]]);
    await service.shutdown();
    await expect(answer).resolves.toEqual({ reason: 'shutdown' });
    await expect(poll(b, 0)).rejects.toMatchObject({ code: 'shutting_down' });
    expect(admitted).toHaveLength(2); // a closing node asks no limit: the answer is shutting_down, not rate_limited
    client.kept?.();
    expect(released).toBe(1);
  });

  it('a poll its address may not make is refused before it joins: nothing is held, nothing kept', async () => {
    const { service, store, mint, poll } = setUp({
      admitPoll: () => {
        throw errors.rateLimited('too many polls in flight from this address', 1_000);
      },
    });
    const s = await mint();
    const client = new TestClient();
    await expect(poll(s, 0, { client })).rejects.toMatchObject({ code: 'rate_limited' });
    expect(store.pollClaims).toEqual([]);
    expect(client.listener).toBeUndefined();
    expect(client.kept).toBeUndefined();
    expect(service.heldPolls).toBe(0);
  });
});

describe('shutdown', () => {
  it('ends held polls as shutdown and refuses new polls and sessions', async () => {
    const { service, events, mint, poll, held } = setUp();
    const a = await mint();
    const b = await mint();
    const answers = [poll(a, 0), poll(b, 0)];
    await held(2);
    expect(service.closing).toBe(false);
    await expect(service.shutdown()).resolves.toBe(2);
    expect(service.closing).toBe(true);
    await expect(Promise.all(answers)).resolves.toEqual([{ reason: 'shutdown' }, { reason: 'shutdown' }]);
    expect(service.heldPolls).toBe(0);
    expect(events.pollEnds).toEqual(['shutdown', 'shutdown']);
    await expect(poll(a, 0)).rejects.toMatchObject({ code: 'shutting_down' });
    await expect(mint()).rejects.toMatchObject({ code: 'shutting_down' });
  });

  it('a poll still reading the store when shutdown begins ends as shutdown, not held', async () => {
    const { service, store, mint, poll } = setUp();
    const s = await mint();
    const release = store.pausePolls();
    const answer = poll(s, 0);
    await until(() => store.pollClaims.length === 1, 'the poll reading the store');
    await expect(service.shutdown()).resolves.toBe(0);
    release();
    await expect(answer).resolves.toEqual({ reason: 'shutdown' });
    expect(service.heldPolls).toBe(0);
  });
});
