// The store interface: where sessions live. The memory store (one node) and the Redis store
// (cluster) implement it with the same semantics; the behaviour suite runs against both.
//
// Stores keep sessions as written (`StoredSession`); expiry is derived by the caller with
// `effective()`. A store forgets a session on its own some time after it expires (the grace period),
// so memory and Redis do not grow with the number of sessions ever created.
import type { StatusChange, StoredSession, TransitionRefusal } from './session.js';

export type TransitionOutcome =
  | { readonly ok: true; readonly session: StoredSession; readonly route: string | undefined }
  | { readonly ok: false; readonly refusal: TransitionRefusal }
  | undefined;

export interface SessionStore {
  /** Adds a new session. Keys are random 128-bit values; a collision is not handled. */
  create(session: StoredSession): Promise<void>;
  /** The session as stored, or undefined when unknown or forgotten. */
  get(key: string): Promise<StoredSession | undefined>;
  /**
   * Records that `holder` now holds the poll for `key` (for `ttlMs`), then reads the session, in
   * one step. A store without routing (memory) just reads. Routes are not removed when a poll
   * ends: a stale route costs one forward answered `delivered: false`, and expires on its own.
   */
  claim(key: string, holder: string, ttlMs: number): Promise<StoredSession | undefined>;
  /**
   * Applies `change` atomically (check, bump version, write) and returns the new session with the
   * node currently holding its poll, if any. `undefined` when the key is unknown.
   */
  transition(key: string, change: StatusChange, now: number): Promise<TransitionOutcome>;
  /**
   * Marks the final status as handed out. Returns false when it already was: the caller lost the
   * race and must answer 410. The data stays (for undoDelivered) until the session is forgotten.
   */
  markDelivered(key: string): Promise<boolean>;
  /** Takes a hand-out back when its response never reached the client. */
  undoDelivered(key: string): Promise<void>;
  /** Forgets a session at once (too many wrong tokens). */
  destroy(key: string): Promise<void>;
  /** Resolves when the store is reachable; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
