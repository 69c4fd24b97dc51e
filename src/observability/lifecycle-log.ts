// Session lifecycle events as structured log lines. Never logs a poll token, `data` (tickets,
// names), or the internal token; keys are shortened to a prefix that correlates lines without
// handing a log reader the full key.
import type { Logger } from 'pino';
import type { ServiceEvents } from '../core/service-events.js';

export const shortKey = (key: string): string => key.slice(0, 8);

export function lifecycleLog(log: Logger): ServiceEvents {
  return {
    sessionCreated: (key) => log.info({ event: 'session.created', key: shortKey(key) }, 'session created'),
    pollEnded: () => {},
    statusSet: (key, outcome, change) =>
      outcome === 'ok' && change !== undefined
        ? log.info({ event: 'session.status', key: shortKey(key), status: change.status, version: change.version, delivered: change.delivered }, 'status changed')
        : log.info({ event: 'session.refused', key: shortKey(key), outcome }, 'status change refused'),
    delivered: () => {},
    tokenRejected: (key) => log.warn({ event: 'session.bad_token', key: shortKey(key) }, 'poll with a wrong token'),
    finalHandedOut: (key, status) => log.info({ event: 'session.final', key: shortKey(key), status }, 'final status handed out'),
    handOutUnrecorded: (key, cause) =>
      log.error(
        { event: 'session.unrecorded', key: shortKey(key), err: cause instanceof Error ? cause.message : String(cause) },
        'a sent final status could not be recorded before its lease ended; it may be handed out again',
      ),
  };
}
