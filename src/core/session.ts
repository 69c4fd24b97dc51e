// A login session and its state machine.
//
//   pending --scanned--> scanned --confirmed--> confirmed
//      \                    \
//       +----cancelled-------+--cancelled----> cancelled
//   (any non-final status) --lifetime ends--> expired
//
// Every change bumps `version` by one. Expiry is derived on read: a non-final session read at or
// after `expiresAt` *is* `expired` at `version + 1`. Nothing can change a session after its
// lifetime (transitions refuse it), so every node derives the same expired state without a
// sweeper. The one write is when `expired` is handed to a poll: the store writes it down in the
// same atomic step, so a change racing that hand-out (a node whose clock runs behind) is refused
// as expired instead of landing unseen.
//
// A change that is already in place (same status, actor and data as the one that made the
// current version) is a *repeat*: answered as applied, with no new version. A caller whose change
// landed but was answered 503 (its replicas did not acknowledge it in time) retries it and gets
// its 200 instead of a 409. The session keeps only a digest of that change (`changeDigest`), since
// it forgets actor and data once the final status is handed out.
import { createHash } from 'node:crypto';

export type SessionStatus = 'pending' | 'scanned' | 'confirmed' | 'cancelled' | 'expired';
export type SettableStatus = 'scanned' | 'confirmed' | 'cancelled';
export const SESSION_STATUSES: readonly SessionStatus[] = ['pending', 'scanned', 'confirmed', 'cancelled', 'expired'];
export const SETTABLE_STATUSES: readonly SettableStatus[] = ['scanned', 'confirmed', 'cancelled'];

export type JsonObject = { [key: string]: unknown };

export interface ClientInfo {
  readonly ip: string;
  readonly userAgent: string;
  readonly acceptLanguage: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

/**
 * A session as stored. A final status is handed out once: while a poll's response carrying it is
 * being written, a lease holds it until `leasedUntil` (so a crash mid-write only delays it), and
 * only its holder (`leasedBy`) may give it back; once the response has left, `delivered` is set
 * for good.
 */
export interface StoredSession {
  readonly key: string;
  /** base64url SHA-256 of the poll token; the token itself is never stored. */
  readonly tokenHash: string;
  readonly status: SessionStatus;
  readonly version: number;
  readonly expiresAt: number;
  readonly client: ClientInfo;
  readonly actor?: string | undefined;
  readonly data?: JsonObject | undefined;
  readonly delivered: boolean;
  readonly leasedUntil?: number | undefined;
  readonly leasedBy?: string | undefined;
  /** When the session became `confirmed` (epoch ms). */
  readonly confirmedAt?: number | undefined;
  /** changeDigest() of the change that made this version (none for a fresh session). */
  readonly changeDigest?: string | undefined;
}

/** What a poll returns: the public view of a session at a moment. */
export interface SessionView {
  readonly key: string;
  readonly status: SessionStatus;
  readonly version: number;
  readonly expiresAt: number;
  readonly data?: JsonObject | undefined;
}

export interface StatusChange {
  readonly status: SettableStatus;
  readonly actor?: string | undefined;
  readonly data?: JsonObject | undefined;
  readonly ifVersion?: number | undefined;
}

export type TransitionRefusal =
  | { readonly code: 'session_expired' }
  | { readonly code: 'invalid_transition'; readonly from: SessionStatus; readonly to: SettableStatus }
  | { readonly code: 'actor_mismatch' }
  | { readonly code: 'version_mismatch'; readonly expected: number; readonly actual: number };

const FINAL: ReadonlySet<SessionStatus> = new Set(['confirmed', 'cancelled', 'expired']);
export const isFinal = (status: SessionStatus): boolean => FINAL.has(status);

const ALLOWED: Readonly<Record<SessionStatus, readonly SettableStatus[]>> = {
  pending: ['scanned', 'cancelled'],
  scanned: ['confirmed', 'cancelled'],
  confirmed: [],
  cancelled: [],
  expired: [],
};

/** The session as it is at `now`: a non-final session past its lifetime is expired. */
export function effective(s: StoredSession, now: number): StoredSession {
  if (now < s.expiresAt || isFinal(s.status)) return s;
  return changed(s, { status: 'expired', version: s.version + 1, data: undefined });
}

/**
 * Decides whether `change` may apply to `s` at `now`. Checks run in this order, so a client
 * learns the most basic reason first: lifetime, then the transition table, then the actor that
 * scanned, then compare-and-set. The Lua script in cluster/ implements the same order.
 */
export function refuseTransition(s: StoredSession, change: StatusChange, now: number): TransitionRefusal | null {
  const current = effective(s, now);
  if (current.status === 'expired') return { code: 'session_expired' };
  if (!ALLOWED[current.status].includes(change.status)) {
    return { code: 'invalid_transition', from: current.status, to: change.status };
  }
  if (current.status === 'scanned' && current.actor !== undefined && change.actor !== current.actor) {
    return { code: 'actor_mismatch' };
  }
  if (change.ifVersion !== undefined && change.ifVersion !== current.version) {
    return { code: 'version_mismatch', expected: change.ifVersion, actual: current.version };
  }
  return null;
}

/**
 * What identifies a change for isRepeat(): SHA-1 of status, actor and data's JSON. The transition
 * script computes the same from the same strings (redis.sha1hex).
 */
export function changeDigest(change: StatusChange): string {
  const data = change.data === undefined ? '' : JSON.stringify(change.data);
  return createHash('sha1').update(`${change.status}\n${change.actor ?? ''}\n${data}`).digest('hex');
}

/**
 * Whether `change`, refused as invalid_transition, is the change that made the current version
 * (and its ifVersion, if any, names the version it was made from): then it is answered as applied.
 */
export function isRepeat(s: StoredSession, change: StatusChange): boolean {
  if (s.status !== change.status || s.changeDigest === undefined) return false;
  if (change.ifVersion !== undefined && change.ifVersion !== s.version - 1) return false;
  return s.changeDigest === changeDigest(change);
}

/** The session after an allowed change. The scanning actor sticks; data belongs to its status. */
export function applyTransition(s: StoredSession, change: StatusChange, now: number): StoredSession {
  return changed(s, {
    status: change.status,
    version: s.version + 1,
    actor: s.status === 'pending' ? change.actor : s.actor,
    data: change.data,
    confirmedAt: change.status === 'confirmed' ? now : s.confirmedAt,
    changeDigest: changeDigest(change),
  });
}

/** What may change in a stored session; its identity, token, lifetime and client never do. */
type Changes = {
  -readonly [K in 'status' | 'version' | 'actor' | 'data' | 'delivered' | 'leasedUntil' | 'leasedBy' | 'confirmedAt' | 'changeDigest']?: StoredSession[K];
};

/**
 * `s` with `changes` applied; `actor`, `data` and the lease fields given as undefined are cleared.
 * Records are copied here, field by field in one order, never with object spread: V8 may give a
 * spread copy a hidden class of its own, which costs memory and makes every access to records
 * megamorphic (docs/performance.md has the heap snapshot that showed it).
 */
export function changed(s: StoredSession, changes: Changes): StoredSession {
  return {
    key: s.key,
    tokenHash: s.tokenHash,
    status: changes.status ?? s.status,
    version: changes.version ?? s.version,
    expiresAt: s.expiresAt,
    client: s.client,
    actor: 'actor' in changes ? changes.actor : s.actor,
    data: 'data' in changes ? changes.data : s.data,
    delivered: changes.delivered ?? s.delivered,
    leasedUntil: 'leasedUntil' in changes ? changes.leasedUntil : s.leasedUntil,
    leasedBy: 'leasedBy' in changes ? changes.leasedBy : s.leasedBy,
    confirmedAt: changes.confirmedAt ?? s.confirmedAt,
    changeDigest: changes.changeDigest ?? s.changeDigest,
  };
}

export const viewOf = (s: StoredSession): SessionView => ({
  key: s.key,
  status: s.status,
  version: s.version,
  expiresAt: s.expiresAt,
  data: s.data,
});
