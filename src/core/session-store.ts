// The store interface: where sessions live. The memory store (one node) and the Redis store
// (cluster) implement it with the same semantics; the behaviour suite runs against both.
//
// Stores keep sessions as written (`StoredSession`); expiry is derived by the caller with
// `effective()`. A store forgets a session on its own some time after it expires (the grace period),
// so memory and Redis do not grow with the number of sessions ever created.
import { errors, QrelayError } from '../errors.js';
import type { ClientInfo, JsonObject, SessionStatus, StatusChange, StoredSession, TransitionRefusal } from './session.js';

export type TransitionOutcome =
  | { readonly ok: true; readonly session: StoredSession; readonly holders: readonly string[] }
  | { readonly ok: false; readonly refusal: TransitionRefusal }
  | undefined;

/** A one-time ticket to record with the hand-out of `confirmed`: only its hash is stored. */
export interface TicketGrant {
  /** base64url SHA-256 of the ticket. */
  readonly hash: string;
  /** How long the ticket may be redeemed, from the hand-out, ms. */
  readonly ttlMs: number;
}

/** What a redeemed ticket proves: who confirmed which browser's login, and when. */
export interface Redemption {
  readonly key: string;
  readonly actor: string | undefined;
  readonly data: JsonObject | undefined;
  readonly client: ClientInfo;
  readonly confirmedAt: number;
}

export type RedeemOutcome =
  | { readonly ok: true; readonly redemption: Redemption }
  | { readonly ok: false; readonly reason: 'unknown' | 'redeemed' };

export type HandOutStart =
  /** The lease is taken; `data` is the stored data, which is what gets sent. */
  | { readonly ok: true; readonly data: JsonObject | undefined }
  | { readonly ok: false; readonly delivered: true }
  | { readonly ok: false; readonly delivered: false; readonly busyMs: number }
  /** The stored session is not the one the caller is about to send (a change raced it). */
  | { readonly ok: false; readonly changed: true };

/** What a poll's step in the store found: the session, or why there is none to show. */
export type PollRead =
  | { readonly found: true; readonly session: StoredSession }
  | { readonly found: false; readonly wrongToken: boolean };

/** The two PollReads without a session, shared by every store. */
export const UNKNOWN_SESSION: PollRead = Object.freeze({ found: false, wrongToken: false });
export const WRONG_TOKEN: PollRead = Object.freeze({ found: false, wrongToken: true });

export interface SessionStore {
  /** Adds a new session. Keys are random 128-bit values; a collision is not handled. */
  create(session: StoredSession): Promise<void>;
  /** The session as stored, or undefined when unknown or forgotten. */
  get(key: string): Promise<StoredSession | undefined>;
  /**
   * A poll's one step: checks `tokenHash` against the session's (a wrong one reads nothing), reads
   * the session and, if `holder` is given and the poll is to be held (the session, as it is at
   * `now`, is not final and not newer than `since`), records that `holder` holds a poll for `key`
   * for `ttlMs`, next to any other live holder. A store without routing (memory) just reads.
   * Claims are not removed when a poll ends: a stale one costs a forward answered
   * `delivered: false`, and lapses on its own.
   */
  poll(key: string, tokenHash: string, since: number, holder: string | undefined, ttlMs: number, now: number): Promise<PollRead>;
  /**
   * Applies `change` atomically (check, bump version, write) and returns the new session with the
   * nodes whose claim to hold its poll is live. `undefined` when the key is unknown.
   */
  transition(key: string, change: StatusChange, now: number): Promise<TransitionOutcome>;
  /**
   * Starts handing out the final status `sending` (status and version): takes the lease `leaseId`
   * on it until `now + leaseMs`. A session past its lifetime is first written as expired, atomically, so no
   * change can land after its poll was told it expired. `changed` when the stored session is not
   * `sending`; `delivered` when it was handed out for good already (410); `busy` while another
   * hand-out holds the lease. An expired lease (its node died mid-write) is taken over.
   * With `ticket` (a `confirmed` hand-out), the ticket's hash is recorded with a copy of the
   * session's actor, data and client, replacing any ticket an earlier, lapsed hand-out recorded.
   */
  beginHandOut(
    key: string,
    now: number,
    leaseMs: number,
    sending: { status: SessionStatus; version: number },
    leaseId: string,
    ticket?: TicketGrant,
  ): Promise<HandOutStart>;
  /**
   * The final status reached its client: it is delivered for good, and the session forgets its
   * actor and data (a ticket keeps its own copy until it is redeemed or lapses).
   */
  completeHandOut(key: string): Promise<void>;
  /**
   * Redeems the ticket whose hash is `hash` for session `key`, once: the ticket's copy of actor
   * and data is dropped, and only the fact that it was redeemed stays until the ticket lapses.
   */
  redeemTicket(key: string, hash: string, now: number): Promise<RedeemOutcome>;
  /**
   * The response never left: give the final status back at once, if lease `leaseId` still holds
   * it (a lease that lapsed and was taken over belongs to its new holder).
   */
  abandonHandOut(key: string, leaseId: string): Promise<void>;
  /** Resolves when the store is reachable; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Store failures become one catalogued 503; catalogued errors pass through. */
export function guard<T>(p: Promise<T>): Promise<T> {
  return p.catch(storeFailure);
}

function storeFailure(cause: unknown): never {
  if (cause instanceof QrelayError) throw cause;
  throw errors.storeUnavailable(cause);
}
