// One log line per private request, written when its response has ended (or the client left),
// with a request id: the caller's X-Request-Id when it is a plain token, else a new UUID, which the
// listener echoes back in the response, and an error answer's code. 5xx answers and requests the
// client left early log at error and warn; but the 503s of a drain (shutting_down) are intended
// and log at info, and health probes, which a balancer sends every few seconds, at debug.
//
// This is pino-http's line ({req: {id, method, url}, res: {statusCode}, responseTime}) without its
// per-request child logger: nothing here logs through one, so building it per request was work
// for nothing on the hot path.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Level, Logger } from 'pino';
import { errorCodeOf } from './respond.js';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** Session keys in query strings are shortened, as in the lifecycle lines. */
const KEY_IN_URL = /key=([A-Za-z0-9_-]{8})[A-Za-z0-9_-]*/g;

/** Counter halves: small integers, so formatting one stays cheap. */
const HALF = 0x1000000;
const hex6 = (n: number): string => (HALF + n).toString(16).slice(1);

/**
 * New request ids: UUIDs (version 4 in form) whose last 48 bits count this process's requests and
 * whose other 74 bits are drawn once per process (and again after 2^48 ids). Unique, not secret
 * (an id only correlates log lines), and no random draw per request.
 */
export function requestIds(): () => string {
  let random = '';
  let high = HALF - 1;
  let low = HALF;
  let prefix = '';
  return () => {
    if (low === HALF) {
      low = 0;
      high = (high + 1) % HALF;
      if (high === 0) random = randomUUID().slice(0, 24);
      prefix = random + hex6(high);
    }
    return prefix + hex6(low++);
  };
}

/** GET /healthz and /readyz, by their URL (a few string compares: this runs for every request). */
const isProbe = (url: string): boolean =>
  url === '/healthz' || url === '/readyz' || url.startsWith('/healthz?') || url.startsWith('/readyz?');

/** Logs each request when its response ends; returns the request's id, for its X-Request-Id. */
export function requestLog(log: Logger): (req: IncomingMessage, res: ServerResponse) => string {
  const newId = requestIds();
  return (req, res) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : newId();
    const started = performance.now();
    // A response closes once, so the listener needs no removing (`once` wraps it to remove it).
    res.on('close', () => {
      const finished = res.writableFinished;
      const url = req.url ?? '';
      const code = res.statusCode >= 400 ? errorCodeOf(res) : undefined;
      const level: Level =
        isProbe(url) ? 'debug' : code === 'shutting_down' ? 'info' : res.statusCode >= 500 ? 'error' : finished ? 'info' : 'warn';
      if (!log.isLevelEnabled(level)) return;
      log[level](
        {
          req: { id, method: req.method, url: url.includes('key=') ? url.replace(KEY_IN_URL, 'key=$1…') : url },
          res: { statusCode: res.headersSent ? res.statusCode : undefined },
          code,
          responseTime: Math.round(performance.now() - started),
        },
        finished ? 'request completed' : 'request aborted',
      );
    });
    return id;
  };
}
