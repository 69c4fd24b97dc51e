// A node's logger whose lines are kept, parsed, for a test to look at.
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { Config } from '../../src/config.js';
import { createLogger } from '../../src/observability/logger.js';

/** A logger at `level` (warn by default) and the lines it has written so far, parsed. */
export function capturedLog(level: Config['logLevel'] = 'warn'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger({ logLevel: level }, sink), lines };
}
