// Session lifecycle events as structured log lines, from the node's channels (core/channels.ts).
// Never logs a poll token, `data` (tickets, names), or the internal token; keys are shortened to a
// prefix that correlates lines without handing a log reader the full key.
import type { Logger } from 'pino';
import { observe, type Origin } from '../core/channels.js';

export const shortKey = (key: string): string => key.slice(0, 8);

/** Logs what `origin` publishes; returns the unsubscribe. */
export function lifecycleLog(log: Logger, origin: Origin): () => void {
  // A child logger per event: pino formats its `event` field once, not on every line (the line
  // reads the same: a child's fields come right after pino's own).
  const as = (event: string): Logger => log.child({ event });
  const created = as('session.created');
  const changed = as('session.status');
  const refused = as('session.refused');
  const badToken = as('session.bad_token');
  const handedOut = as('session.final');
  const unrecorded = as('session.unrecorded');
  const cleanup = as('store.cleanup_failed');
  return observe(origin, {
    sessionCreated: ({ key }) => created.info({ key: shortKey(key) }, 'session created'),
    statusSet: ({ key, outcome, change }) =>
      outcome === 'ok' && change !== undefined
        ? changed.info({ key: shortKey(key), status: change.status, version: change.version, delivered: change.delivered }, 'status changed')
        : refused.info({ key: shortKey(key), outcome }, 'status change refused'),
    tokenRejected: ({ key }) => badToken.warn({ key: shortKey(key) }, 'poll with a wrong token'),
    finalHandedOut: ({ key, status }) => handedOut.info({ key: shortKey(key), status }, 'final status handed out'),
    handOutUnrecorded: ({ key, cause }) =>
      unrecorded.error(
        { key: shortKey(key), err: cause instanceof Error ? cause.message : String(cause) },
        'a sent final status could not be recorded before its lease ended; it may be handed out again',
      ),
    cleanupFailed: ({ step, error }) =>
      cleanup.warn({ step, err: error instanceof Error ? error.message : String(error) }, 'giving back to the store failed: a hand-out lease lapses on its own, a redemption mark stays'),
    forwardFailed: ({ cause, route, changes }) => log.warn({ cause, route, changes }, 'forward to the holding node failed'),
  });
}
