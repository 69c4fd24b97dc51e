// The in-memory store: the embedded default for a single node (no REDIS_URL).
//
// Every session lives for the same TTL, so Map insertion order is expiry order: the sweeper
// walks from the oldest entry and stops at the first one still inside its grace period, doing
// work proportional to what it forgets.
import { applyTransition, changed, effective, isRepeat, refuseTransition, type SessionStatus, type StatusChange, type StoredSession } from './session.js';
import { errors } from '../errors.js';
import { hashesMatch } from './secrets.js';
import { UNKNOWN_SESSION, WRONG_TOKEN, type HandOutStart, type PollRead, type RedeemOutcome, type Redemption, type SessionStore, type TicketGrant, type TransitionOutcome } from './session-store.js';

/** A recorded ticket: its redemption until redeemed, then only the fact that it was. */
interface TicketRecord {
  readonly hash: string;
  readonly expiresAt: number;
  readonly redemption: Redemption | undefined;
}

export interface MemoryStoreOptions {
  /** How long after expiry a session is still kept, ms. */
  graceMs: number;
  /** How often the sweeper runs, ms. */
  sweepEveryMs?: number;
  /** Sessions kept at most (expired ones in their grace period count): beyond it, create() fails. */
  maxSessions?: number;
  clock?: () => number;
}

export class MemoryStore implements SessionStore {
  readonly #sessions = new Map<string, StoredSession>();
  /** By session key; insertion order is expiry order (a re-recorded ticket is moved to the end). */
  readonly #tickets = new Map<string, TicketRecord>();
  readonly #graceMs: number;
  readonly #maxSessions: number;
  readonly #clock: () => number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions) {
    this.#graceMs = options.graceMs;
    this.#maxSessions = options.maxSessions ?? Number.POSITIVE_INFINITY;
    this.#clock = options.clock ?? Date.now;
    this.#sweeper = setInterval(() => this.sweep(), options.sweepEveryMs ?? 1_000);
    this.#sweeper.unref();
  }

  /** Number of sessions held (expired ones included until their grace period ends). */
  get size(): number {
    return this.#sessions.size;
  }

  async create(session: StoredSession): Promise<void> {
    // Memory is this node's own: many clients each under their per-IP limit must not exhaust it.
    if (this.#sessions.size >= this.#maxSessions) throw errors.sessionsFull();
    this.#sessions.set(session.key, session);
  }

  async get(key: string): Promise<StoredSession | undefined> {
    return this.#live(key);
  }

  /** No routes in memory: `since`, the holder and its claim's lifetime are not needed. */
  async poll(key: string, tokenHash: string, _since?: number, _holder?: string, _ttlMs?: number, _now?: number): Promise<PollRead> {
    const session = this.#live(key);
    if (session === undefined) return UNKNOWN_SESSION;
    return hashesMatch(tokenHash, session.tokenHash) ? { found: true, session } : WRONG_TOKEN;
  }

  async transition(key: string, change: StatusChange, now: number): Promise<TransitionOutcome> {
    const session = this.#live(key);
    if (session === undefined) return undefined;
    const refusal = refuseTransition(session, change, now);
    if (refusal?.code === 'invalid_transition' && isRepeat(session, change)) return { ok: true, session, holders: [] };
    if (refusal !== null) return { ok: false, refusal };
    const next = applyTransition(session, change, now);
    this.#sessions.set(key, next);
    return { ok: true, session: next, holders: [] };
  }

  async beginHandOut(
    key: string,
    now: number,
    leaseMs: number,
    sending: { status: SessionStatus; version: number },
    leaseId: string,
    ticket?: TicketGrant,
  ): Promise<HandOutStart> {
    let session = this.#live(key);
    if (session === undefined) return { ok: false, delivered: true };
    const current = effective(session, now);
    if (current !== session) {
      session = changed(current, { data: undefined });
      this.#sessions.set(key, session); // expiry written down: no change can land after it
    }
    if (session.status !== sending.status || session.version !== sending.version) return { ok: false, changed: true };
    if (session.delivered) return { ok: false, delivered: true };
    if (session.leasedUntil !== undefined && session.leasedUntil > now) return { ok: false, delivered: false, busyMs: session.leasedUntil - now };
    this.#sessions.set(key, changed(session, { leasedUntil: now + leaseMs, leasedBy: leaseId }));
    if (ticket !== undefined) {
      const redemption: Redemption = { key, actor: session.actor, data: session.data, client: session.client, confirmedAt: session.confirmedAt ?? now };
      this.#tickets.delete(key);
      this.#tickets.set(key, { hash: ticket.hash, expiresAt: now + ticket.ttlMs, redemption });
    }
    return { ok: true, data: session.data };
  }

  async completeHandOut(key: string): Promise<void> {
    const session = this.#live(key);
    if (session === undefined) return;
    this.#sessions.set(key, changed(session, { delivered: true, leasedUntil: undefined, leasedBy: undefined, actor: undefined, data: undefined }));
  }

  async redeemTicket(key: string, hash: string, now: number): Promise<RedeemOutcome> {
    const ticket = this.#tickets.get(key);
    if (ticket === undefined || ticket.expiresAt <= now || ticket.hash !== hash) return { ok: false, reason: 'unknown' };
    if (ticket.redemption === undefined) return { ok: false, reason: 'redeemed' };
    this.#tickets.set(key, { hash: ticket.hash, expiresAt: ticket.expiresAt, redemption: undefined });
    return { ok: true, redemption: ticket.redemption };
  }

  async abandonHandOut(key: string, leaseId: string): Promise<void> {
    const session = this.#live(key);
    if (session === undefined || session.delivered || session.leasedBy !== leaseId) return;
    this.#sessions.set(key, changed(session, { leasedUntil: undefined, leasedBy: undefined }));
  }

  async destroy(key: string): Promise<void> {
    this.#sessions.delete(key);
    this.#tickets.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** Forgets every session whose grace period has ended, and every lapsed ticket. */
  sweep(): void {
    const now = this.#clock();
    const horizon = now - this.#graceMs;
    for (const [key, session] of this.#sessions) {
      if (session.expiresAt > horizon) break;
      this.#sessions.delete(key);
    }
    for (const [key, ticket] of this.#tickets) {
      if (ticket.expiresAt > now) break;
      this.#tickets.delete(key);
    }
  }

  #live(key: string): StoredSession | undefined {
    const session = this.#sessions.get(key);
    if (session === undefined || session.expiresAt <= this.#clock() - this.#graceMs) return undefined;
    return session;
  }
}
