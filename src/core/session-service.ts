// The login-session service: mint, poll, set, peek. It knows the store interface, the held polls
// of this node and (in cluster mode) a Relay that hands a change to another node; it knows
// nothing of HTTP, Redis or undici.
//
// Why a held poll cannot miss a change (cluster mode; one node is the special case with no routes):
//   1. the poll joins this node's PendingPolls (from then on a change reaching this node ends it),
//   2. then, in one step in the store, its token is checked, the session read and, if the poll is
//      to be held, "key K is held by this node" recorded (next to other live holders),
//   3. then it answers at once if what it read is final or newer than `since`, else it is admitted.
// A set is one atomic step that writes the new version and reads the route. Either that step runs
// before step 2, and then step 2's read sees the new version (3 answers the poll); or it runs
// after, and then the holders it reads include this node, whose poll has joined since step 1, and
// the change is delivered to it (locally or through the relay). There is no third order. Claims
// add up rather than replace each other, so a slow claim cannot hide a newer poll on another node.
// A poll supersedes an older one for the same key only once admitted, so a wrong token ends
// nothing.
import { errors, type QrelayError } from '../errors.js';
import { HandOuts, type HandedView, type HandOutReceipt } from './hand-out.js';
import { PollEnd, type PendingPolls, type PollClient } from './pending-polls.js';
import { hashToken, newKeyAndToken } from './secrets.js';
import {
  effective,
  isFinal,
  viewOf,
  type ClientInfo,
  type SessionView,
  type StatusChange,
  type StoredSession,
  type TransitionRefusal,
} from './session.js';
import { guard, type PollRead, type Redemption, type SessionStore } from './session-store.js';
import { NO_EVENTS, type ServiceEvents, type SetOutcome } from './service-events.js';

/** Hands a change to the node holding the poll. Never throws: false when it was not delivered. */
export interface Relay {
  forward(route: string, view: SessionView): Promise<boolean>;
}

export interface SessionServiceOptions {
  store: SessionStore;
  polls: PendingPolls;
  sessionTtlMs: number;
  holdMs: number;
  /** How long a `confirmed` login's ticket may be redeemed, from its hand-out, ms. */
  ticketTtlMs: number;
  scanUrlBase: string;
  clock?: () => number;
  /** This node's address as other nodes reach it (cluster mode). */
  nodeAddr?: string;
  relay?: Relay;
  events?: ServiceEvents;
  /** Counts a wrong poll token for a session; resolves true when the session must be destroyed. */
  tokenFailed?: (key: string) => Promise<boolean>;
}

export interface NewSession {
  readonly key: string;
  readonly pollToken: string;
  readonly status: 'pending';
  readonly version: 0;
  readonly expiresAt: number;
  readonly holdMs: number;
  readonly scanUrl: string;
}

/**
 * A poll's answer: a session view (200), or a reason to answer 204 (or nothing, if the client
 * left). `handOut` comes with a final status: the caller settles it once, with whether the
 * response carrying it left.
 */
export type PollAnswer =
  | { readonly reason: 'ready' | 'changed' | 'expired'; readonly view: HandedView; readonly handOut?: HandOutReceipt | undefined }
  | { readonly reason: 'timeout' | 'superseded' | 'shutdown' | 'client-closed'; readonly view?: undefined };

export interface SetResult {
  readonly key: string;
  readonly status: StoredSession['status'];
  readonly version: number;
  readonly delivered: boolean;
  readonly client: ClientInfo;
}

export interface Peek {
  readonly key: string;
  readonly status: StoredSession['status'];
  readonly version: number;
  readonly expiresAt: number;
  readonly actor?: string | undefined;
  readonly data?: StoredSession['data'];
  readonly delivered: boolean;
  readonly client: ClientInfo;
}

/** Stands in for the key while the scan URL template is built. */
const KEY_SLOT = 'QRELAYKEYSLOT';

/** Extra lifetime of a route record beyond the hold, so it outlives the poll it names. */
const ROUTE_MARGIN_MS = 5_000;

export class SessionService {
  readonly #store: SessionStore;
  readonly #polls: PendingPolls;
  readonly #ttlMs: number;
  readonly #holdMs: number;
  readonly #scanUrlHead: string;
  readonly #scanUrlTail: string;
  readonly #clock: () => number;
  readonly #nodeAddr: string;
  readonly #relay: Relay | undefined;
  readonly #events: ServiceEvents;
  readonly #tokenFailed: (key: string) => Promise<boolean>;
  readonly #handOuts: HandOuts;
  #closing = false;

  constructor(options: SessionServiceOptions) {
    this.#store = options.store;
    this.#polls = options.polls;
    this.#ttlMs = options.sessionTtlMs;
    this.#holdMs = options.holdMs;
    // Built once: the URL with a placeholder key (set() replaces a key= already in the base, or
    // appends one to the query, before any fragment), split around the placeholder.
    const url = new URL(options.scanUrlBase);
    url.searchParams.set('key', KEY_SLOT);
    const template = url.toString();
    const at = template.lastIndexOf(`key=${KEY_SLOT}`) + 'key='.length;
    this.#scanUrlHead = template.slice(0, at);
    this.#scanUrlTail = template.slice(at + KEY_SLOT.length);
    this.#clock = options.clock ?? Date.now;
    this.#nodeAddr = options.nodeAddr ?? 'local';
    this.#relay = options.relay;
    this.#events = options.events ?? NO_EVENTS;
    this.#tokenFailed = options.tokenFailed ?? (async () => false);
    this.#handOuts = new HandOuts({ store: this.#store, clock: this.#clock, events: this.#events, ticketTtlMs: options.ticketTtlMs });
  }

  /** Polls held on this node right now. */
  get heldPolls(): number {
    return this.#polls.size;
  }

  get closing(): boolean {
    return this.#closing;
  }

  async create(client: Omit<ClientInfo, 'createdAt'>): Promise<NewSession> {
    this.#refuseWhenClosing();
    const { key, pollToken } = newKeyAndToken();
    const now = this.#clock();
    // Every field written out, in the order changed() copies them (see there why).
    const session: StoredSession = {
      key,
      tokenHash: hashToken(pollToken),
      status: 'pending',
      version: 0,
      expiresAt: now + this.#ttlMs,
      client: { ip: client.ip, userAgent: client.userAgent, acceptLanguage: client.acceptLanguage, createdAt: now },
      actor: undefined,
      data: undefined,
      delivered: false,
      leasedUntil: undefined,
      leasedBy: undefined,
      confirmedAt: undefined,
      changeDigest: undefined,
    };
    await guard(this.#store.create(session));
    this.#events.sessionCreated(key);
    return { key, pollToken, status: 'pending', version: 0, expiresAt: session.expiresAt, holdMs: this.#holdMs, scanUrl: this.scanUrl(key) };
  }

  /** SCAN_URL_BASE with `key` added as a query parameter (keys are URL-safe base64url). */
  scanUrl(key: string): string {
    return this.#scanUrlHead + key + this.#scanUrlTail;
  }

  /** Answers GET /status/get. The hold ends when `client` hangs up. */
  async poll(key: string, token: string | undefined, since: number, waitMs: number | undefined, client: PollClient): Promise<PollAnswer> {
    this.#refuseWhenClosing();
    const holdMs = Math.min(this.#holdMs, waitMs ?? Number.POSITIVE_INFINITY);
    // wait=0 asks "anything newer?" and nothing more: no hold, so no route claimed away from a
    // poll held elsewhere.
    const hold = holdMs > 0 ? this.#polls.join(key, since, client) : undefined; // step 1
    let read: PollRead;
    try {
      const holder = hold?.open === true ? this.#nodeAddr : undefined; // a client gone already claims no route
      read = await this.#store.poll(key, token === undefined ? '' : hashToken(token), since, holder, holdMs + ROUTE_MARGIN_MS, this.#clock()); // step 2
    } catch (cause) {
      hold?.end(PollEnd.answered);
      throw errors.storeUnavailable(cause);
    }
    if (!read.found) {
      hold?.end(PollEnd.answered);
      // Counted after this answer has gone, so a wrong token takes no longer than an unknown key.
      if (read.wrongToken) setImmediate(() => void this.#rejectToken(key).catch(() => {}));
      throw errors.sessionNotFound();
    }

    const stored = read.session;
    const now = this.#clock();
    const current = effective(stored, now);
    if (hold !== undefined && !isFinal(current.status) && current.version <= since) {
      this.#polls.admit(hold, holdMs, current.expiresAt - now); // step 3 (a no-op if a change or the client ended it)
      const ending = await hold.ended;
      if (hold.admitted) this.#events.pollEnded(ending.reason); // a poll ended while joining was never held
      if (ending.reason === 'changed') {
        return isFinal(ending.view.status) ? this.#handOutFinal(ending.view, 'changed', since) : { reason: 'changed', view: ending.view };
      }
      if (ending.reason === 'expired') return this.#answerExpiry(key, stored.expiresAt, since);
      if (ending.reason === 'destroyed') throw errors.sessionNotFound(); // what its next poll would hear
      if (ending.reason === 'answered') throw new Error('an admitted poll ended as answered'); // only unadmitted ones do
      return { reason: ending.reason };
    }
    hold?.end(PollEnd.answered);
    if (isFinal(current.status)) {
      if (since >= current.version) return this.#handOuts.acknowledge(key);
      return this.#handOutFinal(viewOf(current), 'ready', since);
    }
    if (current.version > since) return { reason: 'ready', view: viewOf(current) };
    return { reason: 'timeout' };
  }

  /** Answers POST /status/set: one atomic transition, then wake the poll wherever it is held. */
  async set(key: string, change: StatusChange): Promise<SetResult> {
    const started = performance.now();
    let outcome;
    try {
      outcome = await guard(this.#store.transition(key, change, this.#clock()));
    } catch (err) {
      this.#events.statusSet(key, 'store_unavailable');
      throw err;
    }
    if (outcome === undefined) {
      this.#events.statusSet(key, 'not_found');
      throw errors.sessionNotFound();
    }
    if (!outcome.ok) {
      this.#events.statusSet(key, outcome.refusal.code satisfies SetOutcome);
      throw refusalError(outcome.refusal);
    }
    const { session } = outcome;
    const view = viewOf(session);
    const relay = this.#relay;
    const remote = relay === undefined || outcome.holders.length === 0 ? NO_HOLDERS : outcome.holders.filter((h) => h !== this.#nodeAddr);
    // No other node holds a poll (always so in memory mode): wake here, without a promise.
    const woke = relay === undefined || remote.length === 0 ? (this.#polls.wake(view) ? 'local' : undefined) : await this.#notify(view, relay, remote);
    const delivered = woke !== undefined;
    if (woke !== undefined) this.#events.delivered((performance.now() - started) / 1000, woke);
    this.#events.statusSet(key, 'ok', { status: session.status, version: session.version, delivered });
    return { key, status: session.status, version: session.version, delivered, client: session.client };
  }

  /** Answers POST /ticket/redeem: a `confirmed` login's ticket, redeemed once. */
  redeem(ticket: string): Promise<Redemption> {
    return this.#handOuts.redeem(ticket);
  }

  /**
   * Answers POST /channel/set: another node hands over a change for a poll held here. The caller
   * has checked the change's seal; a final status is answered with what the store holds anyway.
   */
  receive(view: SessionView): boolean {
    return this.#polls.wake(view);
  }

  async peek(key: string): Promise<Peek> {
    const stored = await guard(this.#store.get(key));
    if (stored === undefined) throw errors.sessionNotFound();
    const s = effective(stored, this.#clock());
    return {
      key: s.key,
      status: s.status,
      version: s.version,
      expiresAt: s.expiresAt,
      actor: s.actor,
      data: s.data,
      delivered: s.delivered,
      client: s.client,
    };
  }

  /**
   * Refuses new polls and sessions and ends every held poll with `shutdown`, spread over
   * `spreadMs` so the clients do not all reconnect at once. Resolves when all have ended.
   */
  shutdown(spreadMs = 0): Promise<number> {
    this.#closing = true;
    return this.#polls.endAll(PollEnd.shutdown, spreadMs);
  }

  /** Too many wrong tokens destroy the session: whoever is guessing gets nothing more. */
  async #rejectToken(key: string): Promise<void> {
    this.#events.tokenRejected(key);
    if (!(await this.#tokenFailed(key))) return;
    try {
      await this.#store.destroy(key);
    } catch {
      return; // the store is down: the guesser still gets 404, and the next wrong token tries again
    }
    this.#polls.end(key, PollEnd.destroyed);
  }

  /**
   * Wakes a poll held here, and forwards to every other node holding one. Says how a poll was
   * woken (here first), or undefined when none was.
   */
  async #notify(view: SessionView, relay: Relay, remote: readonly string[]): Promise<'local' | 'forward' | undefined> {
    const here = this.#polls.wake(view);
    const there = await Promise.all(remote.map((holder) => relay.forward(holder, view)));
    return here ? 'local' : there.includes(true) ? 'forward' : undefined;
  }

  /** A held poll reached the session's lifetime: answer with the expired (or final) state. */
  async #answerExpiry(key: string, expiresAt: number, since: number): Promise<PollAnswer> {
    const stored = await guard(this.#store.get(key));
    if (stored === undefined) throw errors.sessionNotFound();
    // Timers may fire a hair early against the wall clock; the poll's own deadline is authoritative.
    const now = Math.max(this.#clock(), expiresAt);
    return this.#handOutFinal(viewOf(effective(stored, now)), 'expired', since, now);
  }

  /**
   * A final status is handed out once, by the hand-out module. If the store holds another,
   * non-final state (the view that woke the poll was not the stored one), the poll answers with
   * it only if it is newer than `since`, and ends without a state otherwise.
   */
  async #handOutFinal(view: SessionView, reason: 'ready' | 'changed' | 'expired', since: number, now = this.#clock()): Promise<PollAnswer> {
    const taken = await this.#handOuts.take(view, now);
    if (taken.receipt !== undefined) return { reason, view: taken.view, handOut: taken.receipt };
    return taken.view.version > since ? { reason: 'changed', view: taken.view } : { reason: 'timeout' };
  }

  #refuseWhenClosing(): void {
    if (this.#closing) throw errors.shuttingDown();
  }
}

const NO_HOLDERS: readonly string[] = Object.freeze([]);

function refusalError(r: TransitionRefusal): QrelayError {
  switch (r.code) {
    case 'session_expired':
      return errors.sessionExpired();
    case 'invalid_transition':
      return errors.invalidTransition(r.from, r.to);
    case 'actor_mismatch':
      return errors.actorMismatch();
    case 'version_mismatch':
      return errors.versionMismatch(r.expected, r.actual);
  }
}
