// One log line per private request, written when its response has ended (or the client left),
// with a request id: the caller's X-Request-Id when it is a plain token, else a new UUID, echoed
// back in the response. 5xx answers and requests the client left early log at error and warn.
//
// This is pino-http's line ({req: {id, method, url}, res: {statusCode}, responseTime}) without its
// per-request child logger: nothing here logs through one, so building it per request was work
// for nothing on the hot path.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

const REQUEST_ID = /^[\w.:-]{1,128}$/;
/** Session keys in query strings are shortened, as in the lifecycle lines. */
const KEY_IN_URL = /key=([A-Za-z0-9_-]{8})[A-Za-z0-9_-]*/g;

export function requestLog(log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    const started = performance.now();
    res.once('close', () => {
      const finished = res.writableFinished;
      const level = res.statusCode >= 500 ? 'error' : finished ? 'info' : 'warn';
      if (!log.isLevelEnabled(level)) return;
      log[level](
        {
          req: { id, method: req.method, url: (req.url ?? '').replace(KEY_IN_URL, 'key=$1…') },
          res: { statusCode: res.headersSent ? res.statusCode : undefined },
          responseTime: Math.round(performance.now() - started),
        },
        finished ? 'request completed' : 'request aborted',
      );
    });
  };
}
