import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startQrelay } from '../../src/app.js';
import { mint, poll, TEST_ENV, untilHeld } from '../support/node.js';

describe('graceful shutdown', () => {
  it('answers every held poll 204, refuses new work, and closes within its timeout', async () => {
    const node = await startQrelay(loadConfig({ ...TEST_ENV, HOLD_MS: '60000' }));
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

  it('a node that cannot bind its port fails to start and leaves nothing listening', async () => {
    const first = await startQrelay(loadConfig(TEST_ENV));
    const taken = new URL(first.publicUrl).port;
    await expect(startQrelay(loadConfig({ ...TEST_ENV, PUBLIC_PORT: taken }))).rejects.toThrow(/EADDRINUSE/);
    await first.close();
  });
});
