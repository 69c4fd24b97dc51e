// The held polls of this node: at most one per session key.
//
// Each held poll is governed by one AbortController. What ends it from outside (its hold timeout,
// the session's expiry, a newer poll for the same key, the client hanging up, shutdown, a store
// failure) aborts that controller with a PollEnding as the abort reason. A change of status, the
// hot path (thousands a second), ends it directly through wake() instead: Node 20's abort dispatch
// builds an Event and walks the EventTarget on every abort, which was a fifth of the core's CPU
// per wake (test/bench/core.mjs). (The service's self-wake after claiming, rare, aborts: it must
// end this very poll, and a newer one may hold the key's entry by then.) Either way the poll's one
// cleanup is Waiter.settle(): it clears the timer, removes the registry entry (if it is still
// ours) and resolves the hold, and runs once. A poll settled directly leaves its listener on its
// signal: the controller is the request's own and goes with it, and a later abort is a no-op.
//
// Per poll this costs a Waiter, its controller, one timer and one promise: no closures are made
// for the timer or the listener (the Waiter is the listener; the timer callback is shared).
import type { SessionView } from './session.js';

// `failed` is not a client-visible ending: the store failed while the poll was being set up.
export type PollEndReason = 'changed' | 'timeout' | 'superseded' | 'client-closed' | 'expired' | 'shutdown' | 'failed';

export type PollEnding =
  | { readonly reason: 'changed'; readonly view: SessionView }
  | { readonly reason: Exclude<PollEndReason, 'changed'> };

/** The endings that carry no state, as shared frozen values (used as abort reasons). */
export const PollEnd = Object.freeze({
  timeout: Object.freeze({ reason: 'timeout' }),
  superseded: Object.freeze({ reason: 'superseded' }),
  clientClosed: Object.freeze({ reason: 'client-closed' }),
  expired: Object.freeze({ reason: 'expired' }),
  shutdown: Object.freeze({ reason: 'shutdown' }),
  failed: Object.freeze({ reason: 'failed' }),
} satisfies Record<string, PollEnding>);

const isPollEnding = (v: unknown): v is PollEnding =>
  typeof v === 'object' && v !== null && typeof (v as { reason?: unknown }).reason === 'string';

class Waiter {
  timer: NodeJS.Timeout | undefined;
  resolve!: (ending: PollEnding) => void;
  settled = false;

  constructor(
    readonly registry: Map<string, Waiter>,
    readonly key: string,
    readonly since: number,
    readonly controller: AbortController,
    /** The ending its timer produces: `timeout`, or `expired` when the session ends first. */
    readonly deadlineEnding: PollEnding,
  ) {}

  /** The one cleanup of this poll, whichever ending comes first; later ones are no-ops. */
  settle(ending: PollEnding): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.registry.get(this.key) === this) this.registry.delete(this.key);
    this.resolve(ending);
  }

  /** The abort listener: an ending from outside. */
  handleEvent(): void {
    const reason: unknown = this.controller.signal.reason;
    // Anything aborting with a foreign reason is treated as the client going away.
    this.settle(isPollEnding(reason) ? reason : PollEnd.clientClosed);
  }
}

function onDeadline(waiter: Waiter): void {
  waiter.controller.abort(waiter.deadlineEnding);
}

export class PendingPolls {
  readonly #waiters = new Map<string, Waiter>();
  /** Set by endAll: a poll still being set up when it ran ends at once with this. */
  #closedWith: PollEnding | undefined;

  /** Number of polls held right now. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Whether a poll for `key` is held here. */
  has(key: string): boolean {
    return this.#waiters.has(key);
  }

  /**
   * Holds a poll for `key` until something ends it; a poll already held for `key` ends as
   * `superseded`. The hold lasts `holdMs`, or until `expiresInMs` if that is sooner (then it ends
   * as `expired`).
   */
  hold(key: string, since: number, controller: AbortController, holdMs: number, expiresInMs: number): Promise<PollEnding> {
    const signal = controller.signal;
    if (this.#closedWith !== undefined) controller.abort(this.#closedWith);
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      return Promise.resolve(isPollEnding(reason) ? reason : PollEnd.clientClosed);
    }
    this.#waiters.get(key)?.controller.abort(PollEnd.superseded);

    const expiresFirst = expiresInMs <= holdMs;
    const waiter = new Waiter(this.#waiters, key, since, controller, expiresFirst ? PollEnd.expired : PollEnd.timeout);
    const ended = new Promise<PollEnding>((resolve) => {
      waiter.resolve = resolve;
    });
    this.#waiters.set(key, waiter);
    signal.addEventListener('abort', waiter, { once: true });
    waiter.timer = setTimeout(onDeadline, Math.max(0, expiresFirst ? expiresInMs : holdMs), waiter);
    waiter.timer.unref();
    return ended;
  }

  /**
   * Ends the poll held for `view.key` with `changed` if it waits for a version older than
   * `view.version`. Returns whether a poll was woken.
   */
  wake(view: SessionView): boolean {
    const waiter = this.#waiters.get(view.key);
    if (waiter === undefined || view.version <= waiter.since) return false;
    waiter.settle({ reason: 'changed', view });
    return true;
  }

  /** Ends the poll held for `key`, if any. */
  end(key: string, ending: PollEnding): void {
    this.#waiters.get(key)?.controller.abort(ending);
  }

  /**
   * Ends every held poll with `ending`, each at a random moment within `spreadMs` (so thousands of
   * clients do not reconnect in the same instant), and every poll held after this at once.
   * Resolves with the number of polls that were held, once all have ended.
   */
  async endAll(ending: PollEnding, spreadMs = 0): Promise<number> {
    this.#closedWith = ending;
    const waiters = [...this.#waiters.values()];
    await Promise.all(
      waiters.map(async (waiter) => {
        if (spreadMs > 0 && !waiter.settled) {
          await new Promise((r) => setTimeout(r, Math.random() * spreadMs).unref());
        }
        waiter.controller.abort(ending);
      }),
    );
    return waiters.length;
  }
}
