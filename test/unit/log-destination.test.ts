import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { logDestination, type LogDestination } from '../../src/observability/log-destination.js';
import { childEnv } from '../support/env.js';
import { waitFor } from '../support/node.js';

/** A destination writing to a fresh file; `text()` reads what reached the file. */
function fileDestination(options: Parameters<typeof logDestination>[1]) {
  const dir = fs.mkdtempSync(join(tmpdir(), 'qrelay-log-'));
  const path = join(dir, 'out.log');
  const fd = fs.openSync(path, 'w');
  const destination = logDestination(fd, options);
  onTestFinished(() => {
    destination.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { destination, text: () => fs.readFileSync(path, 'utf8') };
}

const flushed = (destination: LogDestination): Promise<void> => new Promise((resolve, reject) => destination.flush((err) => (err ? reject(err) : resolve())));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the log destination', () => {
  it('keeps lines in memory and writes them in one write once the batch is full, in order', async () => {
    const writes = vi.spyOn(fs, 'write');
    const { destination, text } = fileDestination({ batchBytes: 100, flushEveryMs: 60_000 });
    const lines = Array.from({ length: 10 }, (_, i) => `line ${String(i).padStart(4, '0')}\n`); // 10 characters each
    for (const line of lines.slice(0, 9)) destination.write(line);
    expect(writes).not.toHaveBeenCalled();
    for (const line of lines.slice(9)) destination.write(line); // the batch reaches 100 characters here
    expect(writes).toHaveBeenCalledTimes(1);
    await waitFor(() => text() === lines.join(''), 3_000, 'the batch in the file');
  });

  it('counts the batch in UTF-8 bytes and writes lines with multi-byte characters intact', async () => {
    const writes = vi.spyOn(fs, 'write');
    const { destination, text } = fileDestination({ batchBytes: 20, flushEveryMs: 60_000 });
    const line = `${'é'.repeat(6)}\n`; // 7 characters, 13 bytes
    destination.write(line);
    expect(writes).not.toHaveBeenCalled();
    destination.write(line); // 26 bytes
    expect(writes).toHaveBeenCalledTimes(1);
    await waitFor(() => text() === line + line, 3_000, 'both lines in the file');
  });

  it('a line on a quiet destination goes out after the delay, with no batch filling', async () => {
    const { destination, text } = fileDestination({ batchBytes: 12_288, flushEveryMs: 20 });
    destination.write('alone\n');
    await waitFor(() => text() === 'alone\n', 3_000, 'the line in the file');
  });

  it('flush writes every waiting line and calls back once they are out, also for lines that came during a write', async () => {
    const { destination, text } = fileDestination({ batchBytes: 10, flushEveryMs: 60_000 });
    destination.write('first batch\n'); // a write starts at once (12 characters)
    destination.write('waits for it\n');
    await flushed(destination);
    expect(text()).toBe('first batch\nwaits for it\n');
    await flushed(destination); // nothing waiting: calls back all the same
  });

  it("stops taking lines once stdout's reader is gone (EPIPE), instead of keeping them all in memory", async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'qrelay-log-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const fifo = join(dir, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const fd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.closeSync(reader); // the reader leaves: every write now fails with EPIPE
    let failedWrites = 0;
    const write = fs.write;
    vi.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) => {
      const done = args.pop() as (err: NodeJS.ErrnoException | null, written?: number) => void;
      return (write as (...a: unknown[]) => void).call(fs, ...args, (err: NodeJS.ErrnoException | null, written?: number) => {
        if (err?.code === 'EPIPE') failedWrites++;
        done(err, written);
      });
    }) as typeof fs.write);
    const destination = logDestination(fd, { batchBytes: 1024, flushEveryMs: 10 });
    onTestFinished(() => destination.destroy());
    const line = `${'x'.repeat(199)}\n`;
    destination.write(line.repeat(10)); // over a batch: a write starts, and fails
    await waitFor(() => failedWrites > 0, 3_000, 'the first write to fail with EPIPE');
    const before = process.memoryUsage().arrayBuffers;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 2000; i++) destination.write(line); // 20 MB in all
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(10_000_000);
  });

  it('a line too long for a batch goes on its own, after the lines before it and before the lines after it', async () => {
    const { destination, text } = fileDestination({ batchBytes: 100, flushEveryMs: 60_000 });
    const long = `${'x'.repeat(300)}\n`;
    destination.write('before\n');
    destination.write(long);
    destination.write('after\n');
    await flushed(destination);
    expect(text()).toBe(`before\n${long}after\n`);
  });

  it('keeps the order of many lines over many batches and writes in flight', async () => {
    const { destination, text } = fileDestination({ batchBytes: 256, flushEveryMs: 5 });
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'é'.repeat(i % 50)}\n`);
    for (const [i, line] of lines.entries()) {
      destination.write(line);
      if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await flushed(destination);
    expect(text()).toBe(lines.join(''));
  });

  it('flushSync writes the waiting lines at once (the exit path)', () => {
    const { destination, text } = fileDestination({ batchBytes: 12_288, flushEveryMs: 60_000 });
    destination.write('a\n');
    destination.write('b\n');
    destination.flushSync();
    expect(text()).toBe('a\nb\n');
  });

  it('a process that dies of an uncaught error still writes the lines it logged just before', () => {
    // The logger and destination of a real node (stdoutDestination() is what main.ts uses).
    const logger = new URL('../../dist/observability/logger.js', import.meta.url);
    if (!fs.existsSync(logger)) throw new Error('dist/observability/logger.js is missing: run `npm run build` first (npm test does)');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger.href)});
      const log = createLogger({ logLevel: 'info' });
      log.info('the line before the crash');
      log.error('the last words'); // not fatal: pino flushes after a fatal line by itself
      throw new Error('crash');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: childEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain('crash');
    const lines = child.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(lines).toEqual(['the line before the crash', 'the last words']);
  });

  it.each([
    ['calls process.exit', 'process.exit(3);', 3],
    ['runs out of work', '', 0],
  ])('a process that %s writes the lines still waiting, in order', (_, end, status) => {
    const logger = new URL('../../dist/observability/logger.js', import.meta.url);
    if (!fs.existsSync(logger)) throw new Error('dist/observability/logger.js is missing: run `npm run build` first (npm test does)');
    const script = `
      const { createLogger } = await import(${JSON.stringify(logger.href)});
      const log = createLogger({ logLevel: 'info' });
      for (let i = 0; i < 1000; i++) log.info({ i }, 'line'); // several batches, the last one part full
      ${end}
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: childEnv(), encoding: 'utf8', timeout: 20_000 });
    expect(child.status).toBe(status);
    const numbers = child.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { i: number }).i);
    expect(numbers).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});
