// The held polls of this node: at most one per session key.
//
// A held poll is a Hold, and a Hold ends through one door: end(ending). Whatever ends it (a change
// of status, its hold timeout, the session's expiry, a newer poll for the same key, the client
// hanging up, shutdown, a store failure while it was being set up) calls end() with a reason,
// and end() removes exactly what hold() added: the deadline timer, the listener on the client's
// AbortSignal, and the registry entry (if it is still this poll's). Later calls do nothing.
//
// The client's AbortSignal is the HTTP layer's: its AbortController is aborted when the client
// hangs up, and the hold listens to it. A wake ends the hold directly, with no abort dispatched
// (in Node 20 an abort builds an Event and walks the EventTarget, a cost every wake would pay).
//
// Per poll this costs a Hold, one timer and one promise: no closures are made for the timer or
// the listener (the Hold is the listener; the timer callback is shared).
import type { SessionView } from './session.js';

// `failed` is not a client-visible ending: the store failed while the poll was being set up.
export type PollEndReason = 'changed' | 'timeout' | 'superseded' | 'client-closed' | 'expired' | 'shutdown' | 'failed';

export type PollEnding =
  | { readonly reason: 'changed'; readonly view: SessionView }
  | { readonly reason: Exclude<PollEndReason, 'changed'> };

/** The endings that carry no state, as shared frozen values. */
export const PollEnd = Object.freeze({
  timeout: Object.freeze({ reason: 'timeout' }),
  superseded: Object.freeze({ reason: 'superseded' }),
  clientClosed: Object.freeze({ reason: 'client-closed' }),
  expired: Object.freeze({ reason: 'expired' }),
  shutdown: Object.freeze({ reason: 'shutdown' }),
  failed: Object.freeze({ reason: 'failed' }),
} satisfies Record<string, PollEnding>);

/** One held poll. `ended` resolves with the first ending given to `end()`. */
export class Hold {
  readonly ended: Promise<PollEnding>;
  #resolve!: (ending: PollEnding) => void;
  #timer: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;
  #open = true;

  constructor(
    readonly registry: Map<string, Hold> | undefined,
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

  /** The one door out: removes what hold() added and resolves `ended`, once. */
  end(ending: PollEnding): void {
    if (!this.#open) return;
    this.#open = false;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this);
    if (this.registry?.get(this.key) === this) this.registry.delete(this.key);
    this.#resolve(ending);
  }

  /** Starts the hold: registers with the client's signal and the deadline. */
  start(signal: AbortSignal, ms: number, deadline: PollEnding): void {
    this.#signal = signal;
    signal.addEventListener('abort', this);
    this.#timer = setTimeout(onDeadline, Math.max(0, ms), this, deadline);
    this.#timer.unref();
  }

  /** The client hung up. */
  handleEvent(): void {
    this.end(PollEnd.clientClosed);
  }
}

function onDeadline(hold: Hold, ending: PollEnding): void {
  hold.end(ending);
}

export class PendingPolls {
  readonly #holds = new Map<string, Hold>();
  /** Set by endAll: a poll still being set up when it ran ends at once with this. */
  #closedWith: PollEnding | undefined;

  /** Number of polls held right now. */
  get size(): number {
    return this.#holds.size;
  }

  /** Whether a poll for `key` is held here. */
  has(key: string): boolean {
    return this.#holds.has(key);
  }

  /**
   * Holds a poll for `key` until something ends it; a poll already held for `key` ends as
   * `superseded`. The hold lasts `holdMs`, or until `expiresInMs` if that is sooner (then it ends
   * as `expired`), and ends as `client-closed` when `signal` aborts (at once if it has).
   */
  hold(key: string, since: number, signal: AbortSignal, holdMs: number, expiresInMs: number): Hold {
    if (this.#closedWith !== undefined || signal.aborted) {
      const hold = new Hold(undefined, key, since);
      hold.end(this.#closedWith ?? PollEnd.clientClosed);
      return hold;
    }
    this.#holds.get(key)?.end(PollEnd.superseded);
    const hold = new Hold(this.#holds, key, since);
    this.#holds.set(key, hold);
    const expiresFirst = expiresInMs <= holdMs;
    hold.start(signal, expiresFirst ? expiresInMs : holdMs, expiresFirst ? PollEnd.expired : PollEnd.timeout);
    return hold;
  }

  /**
   * Ends the poll held for `view.key` with `changed` if it waits for a version older than
   * `view.version`. Returns whether a poll was woken.
   */
  wake(view: SessionView): boolean {
    const hold = this.#holds.get(view.key);
    if (hold === undefined || view.version <= hold.since) return false;
    hold.end({ reason: 'changed', view });
    return true;
  }

  /** Ends the poll held for `key`, if any. */
  end(key: string, ending: PollEnding): void {
    this.#holds.get(key)?.end(ending);
  }

  /**
   * Ends every held poll with `ending`, each at a random moment within `spreadMs` (so thousands of
   * clients do not reconnect in the same instant), and every poll held after this at once.
   * Resolves with the number of polls that were held, once all have ended.
   */
  async endAll(ending: PollEnding, spreadMs = 0): Promise<number> {
    this.#closedWith = ending;
    const holds = [...this.#holds.values()];
    await Promise.all(
      holds.map(async (hold) => {
        if (spreadMs > 0 && hold.open) {
          await new Promise((r) => setTimeout(r, Math.random() * spreadMs).unref());
        }
        hold.end(ending);
      }),
    );
    return holds.length;
  }
}
