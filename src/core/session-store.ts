// The store interface: where sessions live. The memory store (one node) and the Redis store
// (cluster) implement it with the same semantics; the behaviour suite runs against both.
//
// Stores keep sessions as written (`StoredSession`); expiry is derived by the caller with
// `effective()`. A store forgets a session on its own some time after it expires (the grace period),
// so memory and Redis do not grow with the number of sessions ever created.
import type { SessionStatus, StatusChange, StoredSession, TransitionRefusal } from './session.js';

export type TransitionOutcome =
  | { readonly ok: true; readonly session: StoredSession; readonly holders: readonly string[] }
  | { readonly ok: false; readonly refusal: TransitionRefusal }
  | undefined;

export type HandOutStart =
  | { readonly ok: true }
  | { readonly ok: false; readonly delivered: true }
  | { readonly ok: false; readonly delivered: false; readonly busyMs: number }
  /** The stored session is not the one the caller is about to send (a change raced it). */
  | { readonly ok: false; readonly changed: true };

export interface SessionStore {
  /** Adds a new session. Keys are random 128-bit values; a collision is not handled. */
  create(session: StoredSession): Promise<void>;
  /** The session as stored, or undefined when unknown or forgotten. */
  get(key: string): Promise<StoredSession | undefined>;
  /**
   * Records that `holder` holds a poll for `key` (for `ttlMs`), next to any other live holder,
   * then reads the session, in one step. A store without routing (memory) just reads. Claims are
   * not removed when a poll ends: a stale one costs a forward answered `delivered: false`, and
   * lapses on its own.
   */
  claim(key: string, holder: string, ttlMs: number, now: number): Promise<StoredSession | undefined>;
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
   */
  beginHandOut(key: string, now: number, leaseMs: number, sending: { status: SessionStatus; version: number }, leaseId: string): Promise<HandOutStart>;
  /** The response carrying the final status left: it is delivered for good. */
  completeHandOut(key: string): Promise<void>;
  /**
   * The response never left: give the final status back at once, if lease `leaseId` still holds
   * it (a lease that lapsed and was taken over belongs to its new holder).
   */
  abandonHandOut(key: string, leaseId: string): Promise<void>;
  /** Forgets a session at once (too many wrong tokens). */
  destroy(key: string): Promise<void>;
  /** Resolves when the store is reachable; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
