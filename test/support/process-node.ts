// A qrelay node as a real child process (`node dist/main.js`), for tests that kill -9 it. The
// test script builds dist/ before running the suite.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { onTestFinished } from 'vitest';
import { TEST_ENV } from './node.js';
import { freePort } from './ports.js';

const MAIN = new URL('../../dist/main.js', import.meta.url);

export interface NodeProcess {
  readonly publicUrl: string;
  readonly privateUrl: string;
  readonly child: ChildProcess;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function spawnNode(env: Record<string, string>): Promise<NodeProcess> {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first (npm test does)');
  const [pub, priv] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN.pathname], {
    env: { ...process.env, ...TEST_ENV, LOG_LEVEL: 'info', PUBLIC_PORT: String(pub), PRIVATE_PORT: String(priv), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  onTestFinished(() => kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node did not start: ${out}`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('qrelay listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', () => reject(new Error(`node exited at start: ${out}`)));
  });
  child.stdout?.resume();
  return { publicUrl: `http://127.0.0.1:${pub}`, privateUrl: `http://127.0.0.1:${priv}`, child, kill };
}
