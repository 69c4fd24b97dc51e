// Where log lines go on their way to stdout: kept in memory and written in batches.
//
// pino formats a line in a few microseconds; handing each line to the kernel on its own is what
// costs. An asynchronous write goes through libuv's thread pool: the event loop wakes a worker
// thread, the worker writes and wakes the event loop back, which runs one more turn for the
// completion. Those wake-ups and context switches cost several times the line itself, and a
// server busy with requests pays them for nearly every line, since few lines share a turn.
// So lines wait here until BATCH_CHARS of them are waiting or MAX_DELAY_MS have passed since the
// first, whichever comes first, and then go out in one write: a busy node makes a few writes a
// second, and a quiet node's line is out within MAX_DELAY_MS without waiting for a batch to fill.
//
// One write is in flight at a time, so lines keep their order. If stdout's reader went away
// (EPIPE) or a write fails otherwise, lines are dropped from then on: logging never stops serving.
// flush(cb) writes everything now and calls back when it is out (a clean stop); flushSync() is for
// the process's 'exit' event, where nothing asynchronous runs any more (fatal errors, a forced
// exit).
import fs from 'node:fs';

/** A batch is written once this many characters of lines are waiting. */
const BATCH_CHARS = 16 * 1024;
/** The longest a line waits for its batch (ms). */
const MAX_DELAY_MS = 100;
/** How soon a write that met a full non-blocking pipe (EAGAIN) is tried again (ms). */
const RETRY_MS = 20;

export interface LogDestinationOptions {
  batchChars?: number;
  maxDelayMs?: number;
}

export class LogDestination {
  readonly #fd: number;
  readonly #batchChars: number;
  readonly #maxDelayMs: number;
  #lines: string[] = [];
  #chars = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing = false;
  #broken = false;
  #flushed: Array<() => void> = [];

  constructor(fd: number, options: LogDestinationOptions = {}) {
    this.#fd = fd;
    this.#batchChars = options.batchChars ?? BATCH_CHARS;
    this.#maxDelayMs = options.maxDelayMs ?? MAX_DELAY_MS;
  }

  /** pino calls this with each formatted line (newline included). */
  write(line: string): void {
    if (this.#broken) return;
    this.#lines.push(line);
    this.#chars += line.length;
    if (this.#chars >= this.#batchChars) this.#writeBatch();
    else this.#timer ??= setTimeout(this.#onTimer, this.#maxDelayMs).unref();
  }

  /** Writes every waiting line now; `cb` runs once they are out (or lost to a broken stdout). */
  flush(cb?: () => void): void {
    if (cb !== undefined) this.#flushed.push(cb);
    this.#writeBatch();
    if (!this.#writing) this.#settle();
  }

  /**
   * Writes the waiting lines synchronously, for the process's 'exit' event. Skipped while a write
   * is in flight: its worker may be blocked on a reader that stopped reading, and a blocking write
   * here would keep the process from exiting (and could land before the one in flight).
   */
  flushSync(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#broken || this.#writing || this.#lines.length === 0) return;
    let chunk = Buffer.from(this.#lines.join(''));
    this.#lines = [];
    this.#chars = 0;
    try {
      while (chunk.length > 0) chunk = chunk.subarray(fs.writeSync(this.#fd, chunk));
    } catch {
      // A reader that went away, or a full non-blocking pipe: those lines are lost.
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#writeBatch();
  };

  #writeBatch(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#lines.length === 0) return;
    const chunk = Buffer.from(this.#lines.join(''));
    this.#lines = [];
    this.#chars = 0;
    this.#writing = true;
    this.#send(chunk);
  }

  #send(chunk: Buffer): void {
    fs.write(this.#fd, chunk, (err, written) => {
      if (err === null && written < chunk.length) {
        this.#send(chunk.subarray(written));
        return;
      }
      if (err?.code === 'EAGAIN') {
        setTimeout(() => this.#send(chunk), RETRY_MS);
        return;
      }
      if (err !== null) {
        this.#broken = true;
        this.#lines = [];
        this.#chars = 0;
      }
      this.#writing = false;
      // Lines that came during the write: they go now if their batch is full, their timer has
      // already fired (it could not write while this one was in flight), or someone waits on flush.
      if (this.#chars >= this.#batchChars || (this.#lines.length > 0 && this.#timer === undefined) || this.#flushed.length > 0) this.#writeBatch();
      if (!this.#writing) this.#settle();
    });
  }

  #settle(): void {
    const waiting = this.#flushed;
    this.#flushed = [];
    for (const cb of waiting) cb();
  }
}

let stdout: LogDestination | undefined;

/**
 * The process's one destination for stdout. Its waiting lines are written when the process exits,
 * however it exits (the 'exit' listener is registered once, with the destination).
 */
export function stdoutDestination(): LogDestination {
  if (stdout === undefined) {
    const destination = new LogDestination(1);
    process.once('exit', () => destination.flushSync());
    stdout = destination;
  }
  return stdout;
}
