import { spawn } from 'node:child_process';
import { once } from 'node:events';
import request from 'supertest';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startQrelay } from '../../src/app.js';
import { childEnv } from '../support/env.js';
import { mint, poll, TEST_ENV, untilHeld } from '../support/node.js';
import { MAIN } from '../support/process-node.js';

describe('graceful shutdown', () => {
  it('answers every held poll 204, refuses new work, and closes within its timeout', async () => {
    const node = await startQrelay(loadConfig({ ...TEST_ENV, HOLD_MS: '60000' }));
    onTestFinished(() => node.close()); // a failed assertion must not leave it running; a second close waits for the first
    const sessions = await Promise.all([mint(node), mint(node), mint(node)]);
    const held = sessions.map((s) => poll(node, s).then((r) => r));
    await untilHeld(node, 3);
    const started = Date.now();
    await Promise.all([node.close(), node.close()]);
    const answers = await Promise.all(held);
    expect(answers.map((r) => r.status)).toEqual([204, 204, 204]);
    expect(answers[0]?.headers.connection).toBe('close');
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(node.polls.size).toBe(0);
    await expect(request(node.publicUrl).post('/status/new')).rejects.toThrow();
  });

  it('a node that cannot bind its port fails to start, naming the variable to change, and leaves nothing listening', async () => {
    const first = await startQrelay(loadConfig(TEST_ENV));
    onTestFinished(() => first.close());
    const { port: taken } = new URL(first.publicUrl);
    const { port: takenPrivate } = new URL(first.privateUrl);
    const refusal = (variable: string, port: string) => ({ name: 'ConfigError', message: `${variable}: 127.0.0.1:${port} is already in use (by another process, or another qrelay); set ${variable} to a free port` });
    await expect(startQrelay(loadConfig({ ...TEST_ENV, PUBLIC_PORT: taken }))).rejects.toMatchObject(refusal('PUBLIC_PORT', taken));
    await expect(startQrelay(loadConfig({ ...TEST_ENV, PRIVATE_PORT: takenPrivate }))).rejects.toMatchObject(refusal('PRIVATE_PORT', takenPrivate));
  });

  it('a node process whose port is taken prints one line naming the variable, and exits non-zero', async () => {
    const first = await startQrelay(loadConfig(TEST_ENV));
    onTestFinished(() => first.close());
    const { port } = new URL(first.publicUrl);
    const child = spawn(process.execPath, [MAIN.pathname], { env: childEnv({ ...TEST_ENV, LOG_LEVEL: 'silent', PUBLIC_PORT: port }), stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toBe(`qrelay: PUBLIC_PORT: 127.0.0.1:${port} is already in use (by another process, or another qrelay); set PUBLIC_PORT to a free port\n`);
  });
});
