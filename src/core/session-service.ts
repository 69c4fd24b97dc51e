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
// nothing; nor does a wrong token, however many, harm the session: it is counted against the
// address that sent it (`pollMissed`), never the session.
//
// A poll is admitted in one place, here: refused while the node is closing, then counted against
// its address (`admitPoll`), whose slot its client keeps until its request ends.
//
// A poll is held only while the session is at exactly `since`: a `since` ahead of the session's
// version (its effective one: an expired session's is one more than stored) is refused
// `invalid_since` and changes nothing, neither a route claim (the store's rule) nor a hand-out.
import { errors, invalidField } from '../errors.js';
import { channels, type SetOutcome } from './channels.js';
import { HandOuts, type HandedView, type HandOutReceipt } from './hand-out.js';
import { PollEnd, type PendingPolls, type PollClient } from './pending-polls.js';
import { hashToken, newKeyAndToken } from './secrets.js';
import {
  effective,
  isFinal,
  refusalError,
  viewOf,
  type ClientInfo,
  type SessionView,
  type StatusChange,
  type StoredSession,
} from './session.js';
import { guard, type PollRead, type Redemption, type SessionStore } from './session-store.js';
import { defaults } from '../defaults.js';

/** Hands a change to the node holding the poll. Never throws: false when it was not delivered. */
export interface Relay {
  forward(route: string, view: SessionView): Promise<boolean>;
}

export interface SessionServiceOptions {
  store: SessionStore;
  /** This node's held polls; what the service publishes (channels.ts) names their origin. */
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
  /**
   * Takes a slot for a poll from `address` while this node holds `heldHere` polls, and returns
   * its release; throws `node_full` or `rate_limited` (Limits.admitPoll).
   */
  admitPoll?: (address: string, heldHere: number) => () => void;
  /**
   * Counts, for the sending address, a poll that found no session: an unknown key or a wrong token
   * (both, so that both take the same time). Rejects (`rate_limited`) to refuse it instead.
   */
  pollMissed?: (address: string, wrongToken: boolean) => Promise<void>;
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
  readonly #admitPoll: (address: string, heldHere: number) => () => void;
  readonly #pollMissed: (address: string, wrongToken: boolean) => Promise<void>;
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
    this.#admitPoll = options.admitPoll ?? (() => nothing);
    this.#pollMissed = options.pollMissed ?? (async () => {});
    this.#handOuts = new HandOuts({ store: this.#store, clock: this.#clock, origin: this.#polls.origin, ticketTtlMs: options.ticketTtlMs });
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
    if (channels.sessionCreated.hasSubscribers) channels.sessionCreated.publish({ origin: this.#polls.origin, key });
    return { key, pollToken, status: 'pending', version: 0, expiresAt: session.expiresAt, holdMs: this.#holdMs, scanUrl: this.scanUrl(key) };
  }

  /** SCAN_URL_BASE with `key` added as a query parameter (keys are URL-safe base64url). */
  scanUrl(key: string): string {
    return this.#scanUrlHead + key + this.#scanUrlTail;
  }

  /**
   * Answers GET /status/get from `address`. The hold ends when `client` hangs up; the client keeps
   * the poll's slot until its request ends.
   */
  async poll(key: string, token: string, since: number, waitMs: number | undefined, client: PollClient, address: string): Promise<PollAnswer> {
    this.#refuseWhenClosing();
    client.keep(this.#admitPoll(address, this.#polls.size));
    const holdMs = Math.min(this.#holdMs, waitMs ?? Number.POSITIVE_INFINITY);
    // wait=0 asks "anything newer?" and nothing more: no hold, so no route claimed away from a
    // poll held elsewhere.
    const hold = holdMs > 0 ? this.#polls.join(key, since, client) : undefined; // step 1
    let read: PollRead;
    try {
      const holder = hold?.open === true ? this.#nodeAddr : undefined; // a client gone already claims no route
      read = await this.#store.poll(key, hashToken(token), since, holder, holdMs + defaults.routeMarginMs, this.#clock()); // step 2
    } catch (cause) {
      hold?.end(PollEnd.answered);
      throw errors.storeUnavailable(cause);
    }
    if (!read.found) {
      hold?.end(PollEnd.answered);
      await this.#pollMissed(address, read.wrongToken); // a wrong token past the limit: rate_limited
      // After the limit, so a guesser's log lines are bounded too.
      if (read.wrongToken && channels.tokenRejected.hasSubscribers) channels.tokenRejected.publish({ origin: this.#polls.origin, key });
      throw errors.sessionNotFound();
    }

    const stored = read.session;
    const now = this.#clock();
    const current = effective(stored, now);
    if (since > current.version) {
      hold?.end(PollEnd.answered);
      throw invalidField('since', `is ${since}, ahead of the session's version ${current.version}: send the last version seen`);
    }
    if (hold !== undefined && !isFinal(current.status) && current.version === since) {
      this.#polls.admit(hold, holdMs, current.expiresAt - now); // step 3 (a no-op if a change or the client ended it)
      const ending = await hold.ended;
      if (ending.reason === 'changed') {
        if (isFinal(ending.view.status)) return this.#handOutFinal(ending.view, 'changed', since);
        return ending.claimed ? this.#answerStored(key, since) : { reason: 'changed', view: ending.view };
      }
      if (ending.reason === 'expired') return this.#answerExpiry(key, stored.expiresAt, since);
      if (ending.reason === 'answered') throw new Error('an admitted poll ended as answered'); // only unadmitted ones do
      return { reason: ending.reason };
    }
    hold?.end(PollEnd.answered);
    if (isFinal(current.status)) {
      if (since === current.version) return this.#handOuts.acknowledge(key);
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
      this.#setRefused(key, 'store_unavailable');
      throw err;
    }
    if (outcome === undefined) {
      this.#setRefused(key, 'not_found');
      throw errors.sessionNotFound();
    }
    if (!outcome.ok) {
      this.#setRefused(key, outcome.refusal.code);
      throw refusalError(outcome.refusal);
    }
    const { session } = outcome;
    const view = viewOf(session);
    const relay = this.#relay;
    const remote = relay === undefined || outcome.holders.length === 0 ? NO_HOLDERS : outcome.holders.filter((h) => h !== this.#nodeAddr);
    // No other node holds a poll (always so in memory mode): wake here, without a promise.
    const woke = relay === undefined || remote.length === 0 ? (this.#polls.wake(view) ? 'local' : undefined) : await this.#notify(view, relay, remote);
    const delivered = woke !== undefined;
    const origin = this.#polls.origin;
    if (woke !== undefined && channels.delivered.hasSubscribers) channels.delivered.publish({ origin, seconds: (performance.now() - started) / 1000, via: woke });
    if (channels.statusSet.hasSubscribers) {
      channels.statusSet.publish({ origin, key, outcome: 'ok', change: { status: session.status, version: session.version, delivered } });
    }
    return { key, status: session.status, version: session.version, delivered, client: session.client };
  }

  /** Answers POST /ticket/redeem: a `confirmed` login's ticket, redeemed once. */
  redeem(ticket: string): Promise<Redemption> {
    return this.#handOuts.redeem(ticket);
  }

  /**
   * Answers POST /channel/set: another node hands over a change for a poll held here. The caller
   * has checked the request's seal, and still the change is a claim: it decides when the poll
   * answers, never what with. A final status is answered through its hand-out, which takes it at
   * the stored version and sends the stored data; any other is read again from the store. The
   * wake itself stays a lookup in this node's polls; the read runs in the woken poll's own time.
   */
  receive(view: SessionView): boolean {
    return this.#polls.wake(view, true);
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

  /**
   * Wakes a poll held here, and forwards to every other node holding one. Says how a poll was
   * woken (here first), or undefined when none was.
   */
  async #notify(view: SessionView, relay: Relay, remote: readonly string[]): Promise<'local' | 'forward' | undefined> {
    const here = this.#polls.wake(view);
    const there = await Promise.all(remote.map((holder) => relay.forward(holder, view)));
    return here ? 'local' : there.includes(true) ? 'forward' : undefined;
  }

  /** A held poll woken by another node's word: answer with what the store holds, if newer. */
  async #answerStored(key: string, since: number): Promise<PollAnswer> {
    const stored = await guard(this.#store.get(key));
    if (stored === undefined) throw errors.sessionNotFound();
    const now = this.#clock();
    const current = viewOf(effective(stored, now));
    if (isFinal(current.status)) return this.#handOutFinal(current, 'changed', since, now);
    return current.version > since ? { reason: 'changed', view: current } : { reason: 'timeout' };
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

  #setRefused(key: string, outcome: Exclude<SetOutcome, 'ok'>): void {
    if (channels.statusSet.hasSubscribers) channels.statusSet.publish({ origin: this.#polls.origin, key, outcome });
  }

  #refuseWhenClosing(): void {
    if (this.#closing) throw errors.shuttingDown();
  }
}

const NO_HOLDERS: readonly string[] = Object.freeze([]);

const nothing = (): void => {};
