// What the service reports about its work: the seam between the core and its observers
// (Prometheus metrics, lifecycle logs). The core calls these; it knows nothing of either.
import type { PollEndReason } from './pending-polls.js';
import type { SessionStatus } from './session.js';

/** How a status change ended: applied, or the catalogued reason it was not. */
export type SetOutcome = 'ok' | 'not_found' | 'session_expired' | 'invalid_transition' | 'actor_mismatch' | 'version_mismatch' | 'store_unavailable';

export interface ServiceEvents {
  sessionCreated(key: string): void;
  /** A held poll ended (polls answered at once are not held and not reported here). */
  pollEnded(reason: PollEndReason): void;
  statusSet(key: string, outcome: SetOutcome, change?: { status: SessionStatus; version: number; delivered: boolean }): void;
  /** A set woke a held poll, `seconds` after the set arrived. */
  delivered(seconds: number, via: 'local' | 'forward'): void;
  /** A poll presented a wrong token for an existing session, and was answered not_found (not refused by the limit). */
  tokenRejected(key: string): void;
  /** A final status was handed to a poll, and recorded as delivered. */
  finalHandedOut(key: string, status: SessionStatus): void;
  /** A sent final status could not be recorded before its lease ended: it may be handed out again. */
  handOutUnrecorded(key: string, cause: unknown): void;
}

const nothing = (): void => {};
export const NO_EVENTS: ServiceEvents = {
  sessionCreated: nothing,
  pollEnded: nothing,
  statusSet: nothing,
  delivered: nothing,
  tokenRejected: nothing,
  finalHandedOut: nothing,
  handOutUnrecorded: nothing,
};

/** Fans each event out to several observers. */
export function allOf(...observers: ServiceEvents[]): ServiceEvents {
  return {
    sessionCreated: (k) => {
      for (const o of observers) o.sessionCreated(k);
    },
    pollEnded: (r) => {
      for (const o of observers) o.pollEnded(r);
    },
    statusSet: (k, out, c) => {
      for (const o of observers) o.statusSet(k, out, c);
    },
    delivered: (s, via) => {
      for (const o of observers) o.delivered(s, via);
    },
    tokenRejected: (k) => {
      for (const o of observers) o.tokenRejected(k);
    },
    finalHandedOut: (k, st) => {
      for (const o of observers) o.finalHandedOut(k, st);
    },
    handOutUnrecorded: (k, cause) => {
      for (const o of observers) o.handOutUnrecorded(k, cause);
    },
  };
}
