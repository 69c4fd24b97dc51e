// Where log lines go on their way to stdout: batched in memory, then pino's own destination
// (SonicBoom).
//
// pino formats a line in a few microseconds; handing each line to the kernel on its own is what
// costs. An asynchronous write goes through libuv's thread pool: the event loop wakes a worker
// thread, the worker writes and wakes the event loop back, which runs one more turn for the
// completion. Those wake-ups and context switches cost several times the line itself, and a
// server busy with requests pays them for nearly every line, since few lines share a turn.
// So lines wait here until defaults.logBatchBytes of them are waiting, and a tick every defaults.logFlushEveryMs
// writes what is waiting anyway: a busy node makes a few writes a second, and a quiet node's line
// is out within that tick.
//
// A line is encoded as UTF-8 straight into one batch buffer: no Buffer per line (SonicBoom's
// buffer mode takes one per line) and no string kept past its line (its string mode keeps a batch
// string grown by `+=` and measures it on every line, copying the whole batch each time). A full
// batch is handed to SonicBoom as one buffer and a new batch buffer begins.
//
// SonicBoom does the writing: one write in flight at a time (so lines keep their order), partial
// writes, EAGAIN. pino.destination() also stops logging, rather than serving, if stdout's reader
// goes away (EPIPE); this layer then drops its lines too. Lines waiting here or in SonicBoom are
// written when the process exits, however it exits (a crash, the shutdown watchdog), synchronously
// from the process's `exit` event (pino's hook writes SonicBoom's, this layer's hook both).
import pino from 'pino';
import { defaults } from '../defaults.js';

/** A UTF-16 code unit is at most this many bytes of UTF-8. */
const MAX_BYTES_PER_CHAR = 3;

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
  const batchBytes = options.batchBytes ?? defaults.logBatchBytes;
  // Room for a full batch plus the longest line that may still start below batchBytes.
  const capacity = 2 * batchBytes;
  // SonicBoom starts a write once batchBytes are waiting in it: a full batch goes out at once (or
  // after the write in flight), while a part batch handed over on the way to flush() or
  // flushSync() waits in it for that call.
  const boom = pino.destination({ dest: fd, sync: false, contentMode: 'buffer', minLength: batchBytes, maxWrite: capacity });
  // SonicBoom's types know only its string mode; in buffer mode write() takes a Buffer. Looked up
  // on every hand-over, not bound once: on EPIPE pino replaces `write` with a no-op, which is how
  // this layer learns that its lines can no longer be written.
  const sink = boom as unknown as { write(chunk: Buffer): boolean; readonly destroyed: boolean };
  const writeBuffer = sink.write;
  /** Set once lines can no longer be written: destroyed, or stdout's reader gone. */
  let closed = false;
  let batch = Buffer.allocUnsafeSlow(capacity);
  let used = 0;
  /**
   * Bytes handed to SonicBoom and not yet written. SonicBoom's flush() calls back once at most
   * minLength bytes are left, so flush() here asks again until none are.
   */
  let waiting = 0;
  boom.on('write', (n: number) => {
    waiting = Math.max(0, waiting - n);
  });

  const hand = (chunk: Buffer): void => {
    if (closed) return;
    if (sink.write !== writeBuffer || sink.destroyed) {
      closed = true;
      return;
    }
    waiting += chunk.length;
    sink.write(chunk);
  };
  const handOver = (): void => {
    if (used === 0) return;
    const full = batch.subarray(0, used);
    batch = Buffer.allocUnsafeSlow(capacity);
    used = 0;
    hand(full);
  };

  const tick = setInterval(() => {
    handOver();
    if (waiting > 0 && !closed) boom.flush();
  }, options.flushEveryMs ?? defaults.logFlushEveryMs);
  tick.unref();

  // pino's own exit hooks run first (registered with the destination): on `beforeExit` it flushes
  // SonicBoom and ends it once written, so the waiting batch must reach it in the same turn.
  const beforeExit = (): void => handOver();
  // SonicBoom's waiting lines are written first: with them gone, the part batch handed over next
  // stays below minLength, so it cannot start an asynchronous write that flushSync would skip.
  const writeAllSync = (): void => {
    boom.flushSync();
    handOver();
    boom.flushSync();
    waiting = 0; // flushSync reports no writes
  };
  const onExit = (): void => {
    if (closed || sink.destroyed) return;
    writeAllSync();
  };
  process.on('beforeExit', beforeExit);
  process.on('exit', onExit);

  return {
    write: (line) => {
      if (closed) return;
      if (used + line.length * MAX_BYTES_PER_CHAR > capacity) {
        handOver();
        if (line.length * MAX_BYTES_PER_CHAR > capacity) {
          hand(Buffer.from(line));
          return;
        }
      }
      used += batch.write(line, used);
      if (used >= batchBytes) handOver();
    },
    flush: function flush(cb) {
      handOver();
      boom.flush((err) => {
        if (err || closed || waiting === 0) cb(err);
        else flush(cb);
      });
    },
    flushSync: writeAllSync,
    destroy: () => {
      clearInterval(tick);
      process.off('beforeExit', beforeExit);
      process.off('exit', onExit);
      used = 0;
      closed = true;
      boom.destroy();
    },
  };
}

let stdout: LogDestination | undefined;

/** The process's one destination for stdout. */
export function stdoutDestination(): LogDestination {
  stdout ??= logDestination(1);
  return stdout;
}
