// The hand-out of a final status, from taking it to recording it, and the one-time ticket of a
// `confirmed` login, from minting it to its redemption. Nothing else touches either.
//
// A final status is handed to one poll once. Taking it leases it for LEASE_MS in the store (so a
// node that dies mid-write only delays it); the HTTP layer then settles the receipt once: sent
// (recorded as delivered for good, retried until it lands or the lease ends) or not sent (given
// back at once for the client's next poll). What is sent is what the store holds: the take
// returns the stored data, never the caller's copy, so a view that came from elsewhere (another
// node) can only decide *when* a poll answers, never *what* it says.
//
// The ticket of a `confirmed` hand-out is minted here and lives in the response alone: the store
// keeps its SHA-256 with a copy of the session's actor, data and client, for TICKET_TTL_MS. A
// later hand-out (the earlier one's node died before recording it) mints a new ticket that
// replaces the old one, so at most one ticket of a session is ever redeemable.
import { randomUUID } from 'node:crypto';
import { errors } from '../errors.js';
import { hashToken, newTicket, ticketKey } from './secrets.js';
import { effective, isFinal, viewOf, type SessionView } from './session.js';
import { guard, type Redemption, type SessionStore } from './session-store.js';
import type { ServiceEvents } from './service-events.js';

/** A poll's answer carrying a final status: the view, and for `confirmed` its ticket. */
export interface HandedView extends SessionView {
  readonly ticket?: string;
}

/** How long a hand-out may take before another poll may take it over, ms. */
export const LEASE_MS = 5_000;

/** Waits between attempts to record a hand-out, ms (the last one repeats until the lease ends). */
const RECORD_BACKOFF_MS = [25, 50, 100, 200, 400, 800];

export interface HandOutsOptions {
  store: SessionStore;
  clock: () => number;
  events: ServiceEvents;
  ticketTtlMs: number;
  leaseMs?: number;
}

/** What a taken hand-out answers: a final status and its receipt, or a newer non-final state. */
export type Taken =
  | { readonly view: HandedView; readonly receipt: HandOutReceipt }
  | { readonly view: SessionView; readonly receipt?: undefined };

/**
 * The receipt of one hand-out in flight. `settle(true)` once its response has left, or
 * `settle(false)` if it never did; later calls do nothing.
 */
export class HandOutReceipt {
  #settled = false;

  constructor(
    readonly key: string,
    readonly status: SessionView['status'],
    readonly leaseId: string,
    readonly leaseEnds: number,
    readonly owner: HandOuts,
  ) {}

  settle(sent: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    if (sent) void this.owner.record(this);
    else void this.owner.giveBack(this);
  }
}

export class HandOuts {
  readonly #store: SessionStore;
  readonly #clock: () => number;
  readonly #events: ServiceEvents;
  readonly #ticketTtlMs: number;
  readonly #leaseMs: number;

  constructor(options: HandOutsOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#ticketTtlMs = options.ticketTtlMs;
    this.#leaseMs = options.leaseMs ?? LEASE_MS;
  }

  /**
   * Takes the hand-out of the final status `view` names (status and version). If the store holds
   * another state (a change raced this, or `view` was not the stored one), answers with what it
   * holds: its final status, taken in turn, or a non-final state without a receipt. Throws
   * `already_delivered` (410) or `hand_out_in_progress` (503).
   */
  async take(view: SessionView, now = this.#clock(), retried = false): Promise<Taken> {
    const leaseId = randomUUID();
    const ticket = view.status === 'confirmed' ? newTicket(view.key) : undefined;
    const grant = ticket === undefined ? undefined : { hash: hashToken(ticket), ttlMs: this.#ticketTtlMs };
    const start = await guard(
      this.#store.beginHandOut(view.key, now, this.#leaseMs, view, leaseId, grant).catch(async (cause: unknown) => {
        // The lease may be taken all the same (the store applied it but its replicas did not
        // acknowledge it, or its answer was lost): give it back before the 503, so the client's
        // retry takes the status at once instead of waiting out the lease.
        await this.#store.abandonHandOut(view.key, leaseId).catch(() => {});
        throw cause;
      }),
    );
    if (start.ok) {
      const sent: HandedView = { key: view.key, status: view.status, version: view.version, expiresAt: view.expiresAt, data: start.data, ticket };
      return { view: sent, receipt: new HandOutReceipt(view.key, view.status, leaseId, performance.now() + this.#leaseMs, this) };
    }
    if ('changed' in start) {
      const stored = await guard(this.#store.get(view.key));
      if (stored === undefined) throw errors.sessionNotFound();
      const current = viewOf(effective(stored, now));
      if (!isFinal(current.status)) return { view: current };
      if (!retried) return this.take(current, now, true);
      throw errors.handOutInProgress(1_000);
    }
    throw start.delivered ? errors.alreadyDelivered() : errors.handOutInProgress(start.busyMs);
  }

  /**
   * A poll whose `since` is already the final version proves its client holds the final status:
   * record the hand-out (the response carrying it may never have been recorded), then 410.
   */
  async acknowledge(key: string): Promise<never> {
    await guard(this.#store.completeHandOut(key));
    throw errors.alreadyDelivered();
  }

  /** Redeems a ticket once: its login's actor, data and client. Throws 404, or 410 when redeemed. */
  async redeem(ticket: string): Promise<Redemption> {
    const outcome = await guard(this.#store.redeemTicket(ticketKey(ticket), hashToken(ticket), this.#clock()));
    if (outcome.ok) return outcome.redemption;
    throw outcome.reason === 'redeemed' ? errors.alreadyRedeemed() : errors.ticketNotFound();
  }

  /** Records a sent hand-out, retrying a failing store until it lands or the lease ends. */
  async record(receipt: HandOutReceipt): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#store.completeHandOut(receipt.key);
        this.#events.finalHandedOut(receipt.key, receipt.status);
        return;
      } catch (cause) {
        const wait = RECORD_BACKOFF_MS[Math.min(attempt, RECORD_BACKOFF_MS.length - 1)]!;
        if (performance.now() + wait >= receipt.leaseEnds) {
          this.#events.handOutUnrecorded(receipt.key, cause);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Gives an unsent hand-out back at once; if that fails, its lease lapses on its own. */
  async giveBack(receipt: HandOutReceipt): Promise<void> {
    try {
      await this.#store.abandonHandOut(receipt.key, receipt.leaseId);
    } catch {
      // The lease lapses within LEASE_MS and the client's next poll takes the status then.
    }
  }
}
