// Test support: boot real qrelay nodes on port 0 and tear them down when the test ends.
import net from 'node:net';
import { onTestFinished } from 'vitest';
import request from 'supertest';
import { loadConfig } from '../../src/config.js';
import { startQrelay, type Qrelay, type StartOptions } from '../../src/app.js';
import type { NewSession } from '../../src/core/session-service.js';

export const TEST_ENV: Record<string, string> = {
  PUBLIC_HOST: '127.0.0.1',
  PUBLIC_PORT: '0',
  PRIVATE_PORT: '0',
  HOLD_MS: '3000',
  LOG_LEVEL: 'silent',
  SHUTDOWN_TIMEOUT_MS: '2000',
  DRAIN_MS: '100',
  // Generous, so tests that mint many sessions from 127.0.0.1 are not limited; a test of a limit sets its own.
  RATE_SESSIONS_PER_IP: '1000000',
  RATE_QR_PER_IP: '1000000',
  MAX_POLLS_PER_IP: '1000000',
};

/** Starts a node with test defaults plus `env`; it is closed when the current test finishes. */
export async function startNode(env: Record<string, string> = {}, options: StartOptions = {}): Promise<Qrelay> {
  const node = await startQrelay(loadConfig({ ...TEST_ENV, ...env }), options);
  onTestFinished(() => node.close());
  return node;
}

export async function mint(node: Qrelay, headers: Record<string, string> = {}): Promise<NewSession> {
  const res = await request(node.publicUrl).post('/status/new').set(headers).expect(201);
  return res.body as NewSession;
}

export function poll(node: Qrelay, s: { key: string; pollToken: string }, query: Record<string, string | number> = {}) {
  return request(node.publicUrl)
    .get('/status/get')
    .query({ key: s.key, ...query })
    .set('Authorization', `Bearer ${s.pollToken}`);
}

/** The actor a test's scans and confirms name when the test does not care who scanned. */
export const TEST_ACTOR = 'test-user';

/**
 * POST /status/set. `scanned` and `confirmed` need an actor: a body without one names TEST_ACTOR
 * (pass `actor: undefined` explicitly to send none).
 */
export function setStatus(node: Qrelay, body: Record<string, unknown>, token?: string) {
  const withActor = 'actor' in body || body['status'] === 'cancelled' ? body : { ...body, actor: TEST_ACTOR };
  const req = request(node.privateUrl).post('/status/set').send(withActor);
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
}

/**
 * A poll sent on a raw socket, for tests about a client that hangs up. hangUp() closes the client's
 * side of the connection and resolves once the node has closed its side in answer: the node has
 * seen the hang-up by then (and its response's 'close' has fired).
 */
export async function rawPoll(node: Qrelay, s: { key: string; pollToken: string }): Promise<{ hangUp(): Promise<void> }> {
  const socket = net.connect(Number(new URL(node.publicUrl).port), '127.0.0.1');
  onTestFinished(() => {
    socket.destroy();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => reject(new Error(`could not connect to ${node.publicUrl}`)));
  });
  socket.resume(); // read and drop whatever comes, so the node's end of the stream is seen
  socket.write(`GET /status/get?key=${s.key} HTTP/1.1\r\nHost: qrelay\r\nAuthorization: Bearer ${s.pollToken}\r\n\r\n`);
  return {
    hangUp: async () => {
      socket.end();
      await closed;
    },
  };
}

/**
 * Starts a poll and waits until the node holds it (until `held` polls are held there); `answer`
 * is the poll's response, once something ends the hold.
 */
export async function holdPoll(
  node: Qrelay,
  s: { key: string; pollToken: string },
  query: Record<string, string | number> = {},
  held = 1,
): Promise<{ answer: Promise<request.Response> }> {
  const answer = poll(node, s, query).then((r) => r);
  await untilHeld(node, held);
  return { answer };
}

/** Waits until `node` holds `held` polls (for polls started some other way than holdPoll). */
export function untilHeld(node: Qrelay, held: number): Promise<void> {
  return waitFor(() => node.polls.size === held, 10_000, `${held} held poll(s)`);
}

/** Polls `cond` every few ms until it holds; fails the test after `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 3_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
