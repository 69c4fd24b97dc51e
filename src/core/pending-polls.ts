// The held polls of this node: at most one admitted poll per session key.
//
// A poll joins first (so a change that lands while the store is being asked reaches it), and is
// admitted once the store has checked its token and claimed its route: only then does it
// supersede an older poll for the same key (a poll with a wrong token must not end the real one)
// and start its deadline. Joined polls of one key form a short chain behind the registry entry;
// nearly always it is one poll long.
//
// A held poll is a Hold, and a Hold ends through one door: end(ending). Whatever ends it (a change
// of status, its hold timeout, the session's expiry, a newer poll for the same key, the client
// hanging up, shutdown, or an answer given at once) calls end() with a reason,
// and end() removes exactly what was added: the deadline timer, its place as the client's
// listener, and its place in the registry; an admitted poll's ending is published there too
// (qrelay:poll.ended). Later calls do nothing.
//
// The client is the HTTP layer's (PollClient): it says whether the client has hung up and tells
// its one listener when it does. It is not an AbortSignal: each signal is an EventTarget, and
// making one per poll, adding its listener and removing it was a few per cent of a wake's CPU
// (docs/performance.md).
//
// The client also keeps what the poll took on its way in (its per-address slot) and frees it when
// the client's request ends, with the rest of what the request holds (http/poll-response.ts).
//
// Per poll this costs a Hold, one timer and one promise: no closures are made for the timer or
// the listener (the Hold is the listener; the timer callback is shared).
import { channels, Origin } from './channels.js';
import type { SessionView } from './session.js';

// `answered` is not client-visible and ends only a poll never admitted: the store's answer (or its
// failure) was given at once, and the poll was never held.
export type PollEndReason = 'changed' | 'timeout' | 'superseded' | 'client-closed' | 'expired' | 'shutdown' | 'answered';

export type PollEnding =
  // `claimed`: the view came from another node, so it says when to answer, not what (see
  // SessionService.receive); a view from this node's own transition is the store's reply.
  | { readonly reason: 'changed'; readonly view: SessionView; readonly claimed: boolean }
  | { readonly reason: Exclude<PollEndReason, 'changed'> };

/** The endings that carry no state, as shared frozen values. */
export const PollEnd = Object.freeze({
  timeout: Object.freeze({ reason: 'timeout' }),
  superseded: Object.freeze({ reason: 'superseded' }),
  clientClosed: Object.freeze({ reason: 'client-closed' }),
  expired: Object.freeze({ reason: 'expired' }),
  shutdown: Object.freeze({ reason: 'shutdown' }),
  answered: Object.freeze({ reason: 'answered' }),
} satisfies Record<string, PollEnding>);

/** Told when a poll's client hangs up. */
export interface ClientGoneListener {
  clientGone(): void;
}

/**
 * A poll's client, implemented by the HTTP layer: `gone` once the client has hung up, and then
 * `listener.clientGone()` called, once, for the listener registered at the time. A poll has one
 * listener at most: listen(undefined) removes it.
 */
export interface PollClient {
  readonly gone: boolean;
  listen(listener: ClientGoneListener | undefined): void;
  /** Keeps `release` (what admitting the poll took) and calls it once, when the client's request ends. */
  keep(release: () => void): void;
}

/** One held poll. `ended` resolves with the first ending given to `end()`. */
export class Hold implements ClientGoneListener {
  readonly ended: Promise<PollEnding>;
  /** A poll for the same key that joined before this one and is still open. */
  older: Hold | undefined;
  #resolve!: (ending: PollEnding) => void;
  #timer: NodeJS.Timeout | undefined;
  #client: PollClient | undefined;
  #open = true;
  #admitted = false;

  constructor(
    readonly registry: PendingPolls | undefined,
    readonly key: string,
    readonly since: number,
  ) {
    this.ended = new Promise<PollEnding>((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Whether the poll is still held. */
  get open(): boolean {
    return this.#open;
  }

  /** Whether the poll was admitted (its token checked, its route claimed, its deadline running). */
  get admitted(): boolean {
    return this.#admitted;
  }

  /** The one door out: removes what join() and admit() added and resolves `ended`, once. */
  end(ending: PollEnding): void {
    if (!this.#open) return;
    this.#open = false;
    clearTimeout(this.#timer);
    this.#client?.listen(undefined);
    const registry = this.registry;
    if (registry !== undefined) {
      registry.remove(this);
      if (this.#admitted && channels.pollEnded.hasSubscribers) channels.pollEnded.publish({ origin: registry.origin, reason: ending.reason });
    }
    this.#resolve(ending);
  }

  /** Listens for the client hanging up. */
  listen(client: PollClient): void {
    this.#client = client;
    client.listen(this);
  }

  /** Admits the poll: its deadline starts. */
  start(ms: number, deadline: PollEnding): void {
    this.#admitted = true;
    this.#timer = setTimeout(onDeadline, Math.max(0, ms), this, deadline);
    this.#timer.unref();
  }

  /** The client hung up. */
  clientGone(): void {
    this.end(PollEnd.clientClosed);
  }
}

function onDeadline(hold: Hold, ending: PollEnding): void {
  hold.end(ending);
}

export class PendingPolls {
  /** The node whose messages this registry's polls publish. */
  readonly origin: Origin;
  /** The newest open poll of each key; older ones of the same key hang off it (Hold.older). */
  readonly #newest = new Map<string, Hold>();
  #admitted = 0;
  /** Set by endAll: a poll still being set up when it ran ends at once with this. */
  #closedWith: PollEnding | undefined;

  constructor(origin = new Origin()) {
    this.origin = origin;
  }

  /** Number of polls held (admitted) right now. */
  get size(): number {
    return this.#admitted;
  }

  /** Whether an admitted poll for `key` is held here. */
  has(key: string): boolean {
    for (let h = this.#newest.get(key); h !== undefined; h = h.older) if (h.admitted) return true;
    return false;
  }

  /**
   * A poll for `key` joins: a change newer than `since` ends it from now on, and it ends as
   * `client-closed` when `client` hangs up (at once if it has). It supersedes nothing and has no
   * deadline until admit().
   */
  join(key: string, since: number, client: PollClient): Hold {
    if (this.#closedWith !== undefined || client.gone) {
      const hold = new Hold(undefined, key, since);
      hold.end(this.#closedWith ?? PollEnd.clientClosed);
      return hold;
    }
    const hold = new Hold(this, key, since);
    hold.older = this.#newest.get(key);
    this.#newest.set(key, hold);
    hold.listen(client);
    return hold;
  }

  /**
   * Admits a joined poll: an admitted poll that joined before it ends as `superseded`, and the
   * hold lasts `holdMs`, or until `expiresInMs` if that is sooner (then it ends as `expired`).
   * The newest poll wins whatever order the store answers in: if one that joined after this one
   * is admitted already, this one ends as `superseded` instead. Does nothing to a poll that has
   * ended or was admitted already.
   */
  admit(hold: Hold, holdMs: number, expiresInMs: number): void {
    if (!hold.open || hold.admitted) return;
    let h = this.#newest.get(hold.key);
    for (; h !== undefined && h !== hold; h = h.older) {
      if (h.admitted) {
        hold.end(PollEnd.superseded);
        return;
      }
    }
    for (h = hold.older; h !== undefined; ) {
      const older = h.older;
      if (h.admitted) h.end(PollEnd.superseded);
      h = older;
    }
    this.#admitted++;
    const expiresFirst = expiresInMs <= holdMs;
    hold.start(expiresFirst ? expiresInMs : holdMs, expiresFirst ? PollEnd.expired : PollEnd.timeout);
  }

  /**
   * Ends every poll for `view.key` (held, or still joining) that waits for a version older than
   * `view.version`, with `changed`; `claimed` when the view came from another node. Returns
   * whether a poll was woken.
   */
  wake(view: SessionView, claimed = false): boolean {
    let woken = false;
    for (let h = this.#newest.get(view.key); h !== undefined; ) {
      const older = h.older;
      if (view.version > h.since) {
        h.end({ reason: 'changed', view, claimed });
        woken = true;
      }
      h = older;
    }
    return woken;
  }

  /** Removes an ending hold from its key's chain (Hold.end calls this, once). */
  remove(hold: Hold): void {
    if (hold.admitted) this.#admitted--;
    const newest = this.#newest.get(hold.key);
    if (newest === hold) {
      if (hold.older === undefined) this.#newest.delete(hold.key);
      else this.#newest.set(hold.key, hold.older);
    } else {
      let h = newest;
      while (h !== undefined && h.older !== hold) h = h.older;
      if (h !== undefined) h.older = hold.older;
    }
    hold.older = undefined;
  }

  /**
   * Ends every poll with `ending`, each held one at a random moment within `spreadMs` (so
   * thousands of clients do not reconnect in the same instant), and every poll joining after this
   * at once. Resolves with the number of polls that were held, once all have ended.
   */
  async endAll(ending: PollEnding, spreadMs = 0): Promise<number> {
    this.#closedWith = ending;
    const holds: Hold[] = [];
    for (const newest of this.#newest.values()) for (let h: Hold | undefined = newest; h !== undefined; h = h.older) holds.push(h);
    const held = holds.filter((h) => h.admitted).length;
    await Promise.all(
      holds.map(async (hold) => {
        if (spreadMs > 0 && hold.admitted) {
          await new Promise((r) => setTimeout(r, Math.random() * spreadMs).unref());
        }
        hold.end(ending);
      }),
    );
    return held;
  }
}
