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
//
// This module is the one home of the session's rules: the statuses, which are final and which
// settable, the transition table, the actor rule, the data limits and the refusals. The HTTP
// schemas read them from here, and the Lua scripts in cluster/scripts get them generated
// (luaScript in cluster/redis-keys.ts), so adding a status or a transition is an edit here.
import { createHash } from 'node:crypto';
import { errors, type CatalogCode, type QrelayError } from '../errors.js';

export const SESSION_STATUSES = ['pending', 'scanned', 'confirmed', 'cancelled', 'expired'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
/** What a status change may ask for; the rest are the initial status and the derived expiry. */
export const SETTABLE_STATUSES = ['scanned', 'confirmed', 'cancelled'] as const satisfies readonly SessionStatus[];
export type SettableStatus = (typeof SETTABLE_STATUSES)[number];
/** No change applies to a session in one of these; its poll is answered, never held. */
export const FINAL_STATUSES: readonly SessionStatus[] = ['confirmed', 'cancelled', 'expired'];

/** Which settable statuses a session in each status may be changed to. */
export const TRANSITIONS: Readonly<Record<SessionStatus, readonly SettableStatus[]>> = {
  pending: ['scanned', 'cancelled'],
  scanned: ['confirmed', 'cancelled'],
  confirmed: [],
  cancelled: [],
  expired: [],
};

/**
 * The actor rule: a change to one of `requiredFor` must name its actor; the actor of the change
 * that leaves `recordedLeaving` is recorded (the one who scans), and a change that leaves
 * `checkedLeaving` must come from that actor.
 */
export const ACTOR_RULE = {
  requiredFor: ['scanned', 'confirmed'] as readonly SettableStatus[],
  recordedLeaving: 'pending' as SessionStatus,
  checkedLeaving: 'scanned' as SessionStatus,
  maxLength: 256,
} as const;

/** Largest `data` object accepted on a status change, as JSON bytes. */
export const DATA_LIMIT_BYTES = 4096;
/** Deepest nesting accepted in `data`, counting the object itself. */
export const DATA_MAX_DEPTH = 32;

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

/** Why a change is refused, in the order refuseTransition checks them. */
export const REFUSAL_CODES = ['session_expired', 'invalid_transition', 'actor_mismatch', 'version_mismatch'] as const satisfies readonly CatalogCode[];
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export type TransitionRefusal =
  | { readonly code: 'session_expired' }
  | { readonly code: 'invalid_transition'; readonly from: SessionStatus; readonly to: SettableStatus }
  | { readonly code: 'actor_mismatch' }
  | { readonly code: 'version_mismatch'; readonly expected: number; readonly actual: number };

const FINAL: ReadonlySet<SessionStatus> = new Set(FINAL_STATUSES);
export const isFinal = (status: SessionStatus): boolean => FINAL.has(status);

/**
 * The refusal `code` names, with its one detail as a store reports it (the Lua script too): the
 * session's status for invalid_transition, its version for version_mismatch.
 */
export function refusal(code: RefusalCode, detail: string | number | null | undefined, change: StatusChange): TransitionRefusal {
  switch (code) {
    case 'session_expired':
    case 'actor_mismatch':
      return { code };
    case 'invalid_transition':
      return { code, from: String(detail) as SessionStatus, to: change.status };
    case 'version_mismatch':
      return { code, expected: change.ifVersion ?? 0, actual: Number(detail) };
  }
}

/** The catalogued error a refusal is answered with. */
export function refusalError(r: TransitionRefusal): QrelayError {
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
  if (current.status === 'expired') return refusal('session_expired', undefined, change);
  if (!TRANSITIONS[current.status].includes(change.status)) return refusal('invalid_transition', current.status, change);
  if (current.status === ACTOR_RULE.checkedLeaving && current.actor !== undefined && change.actor !== current.actor) {
    return refusal('actor_mismatch', undefined, change);
  }
  if (change.ifVersion !== undefined && change.ifVersion !== current.version) return refusal('version_mismatch', current.version, change);
  return null;
}

/**
 * What identifies a change for isRepeat(): SHA-1 of status, actor and data's JSON. The Redis store
 * hands it to the transition script, which stores and compares it as given.
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
    actor: s.status === ACTOR_RULE.recordedLeaving ? change.actor : s.actor,
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
