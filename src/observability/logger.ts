// The root logger and what keeps secrets out of its lines. Built by main.ts (and tests) and
// handed to startQrelay; every other module logs through the Logger it is given.
import pino, { type Logger } from 'pino';
import type { Config } from '../config.js';
import { stdoutDestination } from './log-destination.js';

/**
 * The root logger: JSON lines, batched on their way to stdout (see log-destination.ts). No line
 * carries a secret: lines are built from named fields (lifecycle-log.ts, request-log.ts), errors
 * are reduced to their type, code, message and stack, and a poll token, ticket or `data` passed
 * by mistake at the top of a line is replaced. Serializers run only for the keys a line has;
 * pino's `redact` paths would inspect every line, and cost about as much as formatting it.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, destination: pino.DestinationStream = stdoutDestination()): Logger {
  return pino(
    {
      level: config.logLevel,
      timestamp: epochTime(),
      serializers: { err: errorFields, req: requestFields, pollToken: redacted, ticket: redacted, data: redacted },
    },
    destination,
  );
}

/** pino's own `"time"` field (epoch milliseconds), formatted once per millisecond, not per line. */
function epochTime(): () => string {
  let ms = 0;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      field = `,"time":${now}`;
    }
    return field;
  };
}

const redacted = (): string => '[redacted]';

/** A request as the request line shows it: never its headers (Authorization) or body. */
function requestFields(req: { id?: unknown; method?: unknown; url?: unknown }): unknown {
  return { id: req.id, method: req.method, url: req.url };
}

/**
 * An error's type, code, message and stack, and its cause's. Not its other properties: a client
 * library's error can carry the command that failed, arguments (tickets, `data`) included.
 */
function errorFields(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  return {
    type: err.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code } : {}),
    message: err.message,
    stack: err.stack,
    ...(err.cause instanceof Error ? { cause: errorFields(err.cause) } : {}),
  };
}
