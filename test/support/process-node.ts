// A qrelay node as a real child process (`node dist/main.js`), for tests that kill -9 it. The
// test script builds dist/ before running the suite. It binds ports the kernel picks and its
// "qrelay listening" log line says which.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { onTestFinished } from 'vitest';
import { childEnv } from './env.js';
import { TEST_ENV } from './node.js';

export const MAIN = new URL('../../dist/main.js', import.meta.url);

export interface NodeProcess {
  readonly publicUrl: string;
  readonly privateUrl: string;
  readonly child: ChildProcess;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** The addresses in a "qrelay listening" log line, or undefined for any other line. */
export function listeningLine(line: string): { publicUrl: string; privateUrl: string } | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return undefined;
  }
  const { msg, public: publicUrl, private: privateUrl } = (entry ?? {}) as Record<string, unknown>;
  if (msg !== 'qrelay listening' || typeof publicUrl !== 'string' || typeof privateUrl !== 'string') return undefined;
  return { publicUrl, privateUrl };
}

/** Starts a node with the test defaults plus `env` (and nothing from this process's environment). */
export async function spawnNode(env: Record<string, string>): Promise<NodeProcess> {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first (npm test does)');
  const child = spawn(process.execPath, [MAIN.pathname], {
    env: childEnv({ ...TEST_ENV, LOG_LEVEL: 'info', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  onTestFinished(() => kill('SIGKILL'));
  let out = '';
  const onStderr = (d: Buffer): void => {
    out += d.toString();
  };
  child.stderr!.on('data', onStderr);
  const lines = createInterface({ input: child.stdout! });
  try {
    const urls = await new Promise<{ publicUrl: string; privateUrl: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node did not start within 20 s: ${out}`)), 20_000);
      lines.on('line', (line) => {
        out += `${line}\n`;
        const found = listeningLine(line);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`node exited at start: ${out}`));
      });
    });
    return { ...urls, child, kill };
  } finally {
    // From here on its output is only drained.
    lines.close();
    child.stderr!.off('data', onStderr);
    child.stdout!.resume();
    child.stderr!.resume();
  }
}
