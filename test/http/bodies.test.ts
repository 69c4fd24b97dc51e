// Request bodies on both listeners: one too big, or not wanted, is refused and its connection
// closed without reading it; one that trickles is cut after RECEIVE_TIMEOUT_MS.
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import request from 'supertest';
import { describe, expect, it, onTestFinished } from 'vitest';
import { mint, poll, startNode } from '../support/node.js';

const TOKEN = 'edges-internal-token-0123456789';
const HUGE = 200 * 1024 * 1024;

/**
 * Writes `chunks` on a raw connection and waits, up to `withinMs`, for the server to close it;
 * returns what came back and whether it closed.
 */
async function exchange(url: string, chunks: string[], withinMs = 3_000): Promise<{ reply: string; closed: boolean }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  onTestFinished(() => {
    socket.destroy();
  });
  let reply = '';
  socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
  socket.on('error', () => {}); // a reset after the answer is what some cases expect
  await once(socket, 'connect');
  for (const chunk of chunks) socket.write(chunk);
  const closed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  return { reply, closed };
}

const head = (method: string, path: string, headers: Record<string, string | number>): string =>
  `${method} ${path} HTTP/1.1\r\nHost: qrelay.test\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

/** POSTs `bodies` one after another through a keep-alive agent; says which went on a reused connection. */
async function postInTurn(url: string, path: string, bodies: string[]): Promise<Array<{ status: number; reusedSocket: boolean }>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  onTestFinished(() => agent.destroy());
  const results: Array<{ status: number; reusedSocket: boolean }> = [];
  for (const body of bodies) {
    results.push(
      await new Promise((resolve, reject) => {
        const req = http.request(new URL(path, url), { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reusedSocket: req.reusedSocket }));
        });
        req.on('error', reject);
        req.end(body);
      }),
    );
  }
  return results;
}

describe('bodies', () => {
  it('a body declared over 16 KiB is refused 413 at once, and the connection closed without reading it', async () => {
    const node = await startNode();
    const s = await mint(node);
    const { reply, closed } = await exchange(node.privateUrl, [
      head('POST', '/status/set', { 'Content-Type': 'application/json', 'Content-Length': HUGE }),
      `{"key":"${s.key}","status":"scanned","pad":"${'x'.repeat(1024)}`,
    ]);
    expect(closed).toBe(true);
    expect(reply).toMatch(/^HTTP\/1.1 413/);
    expect(reply).toMatch(/^connection: close\r$/im);
    expect(reply).toContain('payload_too_large');
  });

  it('a chunked body that grows past 16 KiB is refused 413, and the connection closed', async () => {
    const node = await startNode();
    const chunk = 'x'.repeat(20 * 1024);
    const { reply, closed } = await exchange(node.privateUrl, [
      head('POST', '/status/set', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }),
      `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
    ]);
    expect(closed).toBe(true);
    expect(reply).toMatch(/^HTTP\/1.1 413/);
    expect(reply).toMatch(/^connection: close\r$/im);
  });

  it.each([
    ['public', 'POST', '/status/new', 201],
    ['public', 'POST', '/nope', 404],
    ['public', 'GET', '/qrelay-login.js', 200],
    ['private', 'POST', '/status/set', 401],
    ['private', 'POST', '/nope', 401],
    ['private', 'GET', '/healthz', 200],
  ] as const)('a body nobody reads (%s %s %s) is answered %i and the connection closed, not drained', async (listener, method, path, status) => {
    const node = await startNode({ INTERNAL_TOKEN: TOKEN });
    const url = listener === 'public' ? node.publicUrl : node.privateUrl;
    const { reply, closed } = await exchange(url, [
      head(method, path, { 'Content-Type': 'application/json', 'Content-Length': HUGE }),
      'x'.repeat(1024),
    ]);
    expect(closed).toBe(true);
    expect(reply).toMatch(new RegExp(`^HTTP/1.1 ${status}`));
    expect(reply).toMatch(/^connection: close\r$/im);
  });

  it('a small body nobody reads (`{}` on POST /status/new) is drained and keeps the connection', async () => {
    // A client that reconnects for every login pays a TCP handshake each time; under load, dropped
    // SYNs cost it a second each (seen in the bench when every such answer closed the connection).
    const node = await startNode();
    const [first, second] = await postInTurn(node.publicUrl, '/status/new', ['{}', '{}']);
    expect(first).toEqual({ status: 201, reusedSocket: false });
    expect(second).toEqual({ status: 201, reusedSocket: true });
  });

  it('a body that is read keeps the connection open for the next request', async () => {
    const node = await startNode();
    const s = await mint(node);
    const [first, second] = await postInTurn(node.privateUrl, '/status/set', [
      JSON.stringify({ key: s.key, status: 'scanned', actor: 'ann' }),
      JSON.stringify({ key: s.key, status: 'cancelled', actor: 'ann' }),
    ]);
    expect(first).toEqual({ status: 200, reusedSocket: false });
    expect(second).toEqual({ status: 200, reusedSocket: true });
  });

  it.each([
    ['private', '/status/set'],
    ['public', '/demo/scan'],
  ] as const)('a body that trickles is cut after RECEIVE_TIMEOUT_MS with 408 (%s %s)', async (listener, path) => {
    const node = await startNode({ RECEIVE_TIMEOUT_MS: '300', DEMO: '1' });
    const url = listener === 'public' ? node.publicUrl : node.privateUrl;
    const started = Date.now();
    const { reply, closed } = await exchange(url, [head('POST', path, { 'Content-Type': 'application/json', 'Content-Length': 100 }), '{"key":']);
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // One answer, which says it closes the connection; not a second, bare 408 from Node's own
    // request timeout (twice RECEIVE_TIMEOUT_MS) on a connection left open for the rest of the body.
    expect(reply.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
    expect(reply).toMatch(/^HTTP\/1.1 408/);
    expect(reply).toContain('body_timeout');
    expect(reply).toMatch(/^connection: close\r$/im);
  });

  it('a held poll is not a request still arriving: it outlives RECEIVE_TIMEOUT_MS', async () => {
    const node = await startNode({ RECEIVE_TIMEOUT_MS: '200', HOLD_MS: '1500' });
    const s = await mint(node);
    const started = Date.now();
    await poll(node, s).expect(204);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
  });

  it.each(['public', 'private'] as const)('headers that trickle are cut too (%s)', async (listener) => {
    const node = await startNode({ RECEIVE_TIMEOUT_MS: '300' });
    const url = listener === 'public' ? node.publicUrl : node.privateUrl;
    const { reply, closed } = await exchange(url, ['POST /status/set HTTP/1.1\r\nHost: qrelay.test\r\nX-Slow: '], 4_000);
    expect(closed).toBe(true);
    expect(reply).toMatch(/^HTTP\/1.1 408/);
  });
});
