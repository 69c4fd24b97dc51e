// Where log lines go on their way to stdout: pino's own destination (SonicBoom), batching.
//
// pino formats a line in a few microseconds; handing each line to the kernel on its own is what
// costs. An asynchronous write goes through libuv's thread pool: the event loop wakes a worker
// thread, the worker writes and wakes the event loop back, which runs one more turn for the
// completion. Those wake-ups and context switches cost several times the line itself, and a
// server busy with requests pays them for nearly every line, since few lines share a turn.
// So lines wait in SonicBoom's buffer until BATCH_BYTES of them are waiting (minLength), and a
// timer flushes what is waiting every FLUSH_EVERY_MS (periodicFlush): a busy node makes a few
// writes a second, and a quiet node's line is out within FLUSH_EVERY_MS.
//
// pino.destination() also writes what is waiting when the process exits, however it exits (a
// crash, the shutdown watchdog), and stops logging, rather than serving, if stdout's reader goes
// away (EPIPE). One write is in flight at a time, so lines keep their order.
//
// Lines reach SonicBoom as UTF-8 buffers (its `buffer` content mode), not strings. With strings it
// keeps the waiting lines in one string grown by `+=` and measures that string's UTF-8 length
// (Buffer.byteLength) on every write, which flattens it: each line copied the whole batch so far,
// a third of all the bytes a busy node allocated (docs/performance.md). Buffers are kept in a list
// and joined once per write.
import pino from 'pino';

/** A write starts once this many bytes of lines are waiting (below SonicBoom's 16 KiB maxWrite). */
const BATCH_BYTES = 12 * 1024;
/** How often what is waiting is written anyway, ms: the longest a line waits. */
const FLUSH_EVERY_MS = 100;

/** What pino writes lines to, and what the process flushes on its way out. */
export interface LogDestination {
  write(line: string): void;
  /** Calls back once every waiting line is out. */
  flush(cb: (err?: Error | null) => void): void;
  /** Writes every waiting line now, synchronously (the exit path). */
  flushSync(): void;
  destroy(): void;
}

/** A batching destination writing to `fd` (stdout by default). */
export function logDestination(fd = 1, options: { batchBytes?: number; flushEveryMs?: number } = {}): LogDestination {
  const boom = pino.destination({
    dest: fd,
    sync: false,
    contentMode: 'buffer',
    minLength: options.batchBytes ?? BATCH_BYTES,
    periodicFlush: options.flushEveryMs ?? FLUSH_EVERY_MS,
  });
  // SonicBoom's types know only its string mode; in buffer mode write() takes a Buffer. Looked up
  // on every line, not bound once: on EPIPE pino replaces `write` with a no-op, and a bound copy
  // would keep queueing lines that can never be written.
  const sink = boom as unknown as { write(chunk: Buffer): boolean };
  return {
    write: (line) => {
      sink.write(Buffer.from(line));
    },
    flush: (cb) => boom.flush(cb),
    flushSync: () => boom.flushSync(),
    destroy: () => boom.destroy(),
  };
}

let stdout: LogDestination | undefined;

/** The process's one destination for stdout. */
export function stdoutDestination(): LogDestination {
  stdout ??= logDestination(1);
  return stdout;
}
