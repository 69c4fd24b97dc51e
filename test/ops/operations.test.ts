// Operations: metrics, structured logs without secrets, limits, drain.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import request from 'supertest';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createLogger } from '../../src/app.js';
import { MemoryStore } from '../../src/core/memory-store.js';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { childEnv } from '../support/env.js';
import { holdPoll, mint, poll, setStatus, startNode, TEST_ENV, untilHeld, waitFor } from '../support/node.js';
import { MAIN } from '../support/process-node.js';

describe('GET /metrics', () => {
  it('exposes held polls, poll endings by reason, sessions, sets by outcome, delivery latency and process metrics', async () => {
    const node = await startNode({ HOLD_MS: '10000' });
    const s = await mint(node);
    await poll(node, s, { wait: 50 }).expect(204); // a hold that runs out
    const held = (await holdPoll(node, s)).answer; // a hold that a set ends
    let text = (await request(node.privateUrl).get('/metrics').expect(200)).text;
    expect(text).toMatch(/^qrelay_held_polls 1$/m);
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    await held;
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'another' }).expect(409);
    text = (await request(node.privateUrl).get('/metrics').expect(200)).text;
    expect(text).toMatch(/^qrelay_held_polls 0$/m);
    expect(text).toMatch(/^qrelay_sessions_created_total 1$/m);
    expect(text).toMatch(/^qrelay_poll_endings_total\{reason="timeout"\} 1$/m);
    expect(text).toMatch(/^qrelay_poll_endings_total\{reason="changed"\} 1$/m);
    expect(text).toMatch(/^qrelay_sets_total\{outcome="ok"\} 1$/m);
    expect(text).toMatch(/^qrelay_sets_total\{outcome="invalid_transition"\} 1$/m);
    expect(text).toMatch(/^qrelay_set_to_delivery_seconds_count\{via="local"\} 1$/m);
    expect(text).toMatch(/^qrelay_process_resident_memory_bytes \d+/m);
    expect((await request(node.publicUrl).get('/metrics')).status).toBe(404);
  });
});

/** The node's logger (its serializers) at debug level, its lines collected here. */
function collectingLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger({ logLevel: 'debug' }, sink), lines };
}

describe('logs', () => {
  it('are JSON lines with request ids, and never contain a poll token, a ticket, data or the internal token', async () => {
    const { log, lines } = collectingLogger();
    const internal = 'internal-token-that-must-not-leak-1234';
    const node = await startNode({ INTERNAL_TOKEN: internal }, { log });
    const s = await mint(node);
    const held = (await holdPoll(node, s)).answer;
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'u1', data: { name: 'Secret Name' } }, internal).expect(200);
    await held;
    await setStatus(node, { key: s.key, status: 'confirmed', actor: 'u1', data: { ticket: 'TICKET-must-not-leak' } }, internal)
      .set('X-Request-Id', 'req-42')
      .expect(200);
    const { ticket } = (await poll(node, s, { since: 1 }).expect(200)).body as { ticket: string };
    await request(node.privateUrl).post('/ticket/redeem').set('Authorization', `Bearer ${internal}`).send({ ticket }).expect(200);
    await request(node.privateUrl).post('/ticket/redeem').set('Authorization', `Bearer ${internal}`).send({ ticket }).expect(410);
    await poll(node, { key: s.key, pollToken: 'W'.repeat(43) }).expect(404);
    await setStatus(node, { key: s.key, status: 'scanned', data: { x: 'DATA-must-not-leak' } }, internal).expect(409);
    await request(node.privateUrl).get('/metrics').set('Authorization', 'Bearer wrong-token-value').expect(401);
    await request(node.privateUrl).get('/status/peek').query({ key: s.key }).set('Authorization', `Bearer ${internal}`).expect(200);

    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const all = lines.join('\n');
    for (const secret of [s.pollToken, s.key, ticket, ticket.slice(22), 'TICKET-must-not-leak', 'Secret Name', 'DATA-must-not-leak', internal, 'wrong-token-value']) {
      expect(all).not.toContain(secret);
    }
    expect(parsed.some((l) => (l['req'] as { id?: string } | undefined)?.id === 'req-42')).toBe(true);
    const events = parsed.map((l) => l['event']).filter(Boolean);
    expect(events).toEqual(expect.arrayContaining(['session.created', 'session.status', 'session.final', 'session.bad_token', 'session.refused']));
  });

  it("keep an error's type, code, message and stack but not the properties a client library hangs on it, and replace a secret passed by mistake", () => {
    const { log, lines } = collectingLogger();
    // As ioredis reports a failed command: the command's arguments ride on the error.
    const failed = Object.assign(new Error('ERR Error running script'), { code: 'ERR_SCRIPT', command: { name: 'evalsha', args: ['k', 'DATA-in-error-must-not-leak'] } });
    log.error({ err: new Error('set failed', { cause: failed }) }, 'request failed');
    log.info(
      { pollToken: 'TOKEN-must-not-leak', ticket: 'TICKET-must-not-leak', data: { name: 'DATA-must-not-leak' }, req: { id: 'r1', method: 'POST', url: '/status/set', headers: { authorization: 'Bearer AUTH-must-not-leak' } } },
      'a careless line',
    );
    const all = lines.join('\n');
    for (const secret of ['DATA-in-error-must-not-leak', 'TOKEN-must-not-leak', 'TICKET-must-not-leak', 'DATA-must-not-leak', 'AUTH-must-not-leak']) {
      expect(all).not.toContain(secret);
    }
    const [error, careless] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(error?.['err']).toMatchObject({ type: 'Error', message: 'set failed', stack: expect.stringContaining('set failed'), cause: { type: 'Error', code: 'ERR_SCRIPT', message: 'ERR Error running script' } });
    expect(careless).toMatchObject({ pollToken: '[redacted]', ticket: '[redacted]', data: '[redacted]', req: { id: 'r1', method: 'POST', url: '/status/set' } });
  });

  it("of a node process: a quiet node's line is out without waiting for a batch to fill, and a clean stop writes the last lines before exiting", async () => {
    const child = spawn(process.execPath, [MAIN.pathname], { env: childEnv({ ...TEST_ENV, LOG_LEVEL: 'info' }), stdio: ['ignore', 'pipe', 'inherit'] });
    // 'close': the process has exited and everything it wrote to stdout has been read.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const logged = (what: string, test: (l: Record<string, unknown>) => boolean, timeoutMs = 2_000) => waitFor(() => lines.some(test), timeoutMs, what);
    await logged('the listening line', (l) => l['msg'] === 'qrelay listening', 20_000); // start-up takes its time on a loaded machine
    const listening = lines.find((l) => l['msg'] === 'qrelay listening')!;
    expect((await fetch(`${String(listening['public'])}/status/new`, { method: 'POST' })).status).toBe(201);
    await logged('the session.created line', (l) => l['event'] === 'session.created');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.slice(-2).map((l) => l['msg'])).toEqual(['stopping', 'draining: held polls answered']);
  });
});

describe('limits', () => {
  it('sessions per client IP: 429 with Retry-After', async () => {
    const node = await startNode({ RATE_SESSIONS_PER_IP: '3' });
    for (let i = 0; i < 3; i++) await mint(node);
    const res = await request(node.publicUrl).post('/status/new').expect(429);
    expect(res.body.error.code).toBe('rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('QR images per client IP: 429 with Retry-After (rendering costs CPU)', async () => {
    const node = await startNode({ RATE_QR_PER_IP: '2' });
    const s = await mint(node);
    for (let i = 0; i < 2; i++) await request(node.publicUrl).get('/status/qr.svg').query({ key: s.key }).expect(200);
    const res = await request(node.publicUrl).get('/status/qr.svg').query({ key: s.key }).expect(429);
    expect(res.body.error.code).toBe('rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('sessions per node in memory mode: 503 sessions_full once MAX_SESSIONS are kept', async () => {
    const node = await startNode({ MAX_SESSIONS: '2' });
    await mint(node);
    await mint(node);
    const res = await request(node.publicUrl).post('/status/new').expect(503);
    expect(res.body.error.code).toBe('sessions_full');
    expect(res.headers['retry-after']).toBe('1');
  });

  it('an IPv6 client is counted per /64: other addresses in its block share its limit', async () => {
    const node = await startNode({ TRUST_PROXY: 'loopback', RATE_SESSIONS_PER_IP: '2' });
    await mint(node, { 'X-Forwarded-For': '2001:db8:1:2::10' });
    await mint(node, { 'X-Forwarded-For': '2001:db8:1:2::11' });
    const refused = await request(node.publicUrl).post('/status/new').set('X-Forwarded-For', '2001:db8:1:2:ffff::1').expect(429);
    expect(refused.body.error.code).toBe('rate_limited');
    await mint(node, { 'X-Forwarded-For': '2001:db8:1:3::10' }); // the next /64 is another client
  });

  it('polls in flight per client IP: 429, and the count is given back when polls end', async () => {
    const node = await startNode({ MAX_POLLS_PER_IP: '2', HOLD_MS: '5000' });
    const sessions = [await mint(node), await mint(node), await mint(node)];
    const held = sessions.slice(0, 2).map((s) => poll(node, s).then((r) => r));
    await untilHeld(node, 2);
    const refused = await poll(node, sessions[2]!).expect(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(refused.headers['retry-after']).toBeDefined();
    for (const s of sessions.slice(0, 2)) await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    // Each poll's count is given back before its answer is written.
    await Promise.all(held);
    await poll(node, sessions[2]!, { wait: 20 }).expect(204);
  });

  it('polls per node: 503 node_full with Retry-After (admission control)', async () => {
    const node = await startNode({ MAX_POLLS_PER_NODE: '1', HOLD_MS: '5000' });
    const [a, b] = [await mint(node), await mint(node)];
    const held = (await holdPoll(node, a)).answer;
    const res = await poll(node, b).expect(503);
    expect(res.body.error.code).toBe('node_full');
    expect(res.headers['retry-after']).toBe('1');
    await setStatus(node, { key: a.key, status: 'scanned' }).expect(200);
    await held;
  });

  it('after a few wrong tokens the session is destroyed, and its held poll ends', async () => {
    const node = await startNode({ MAX_TOKEN_FAILURES: '3', HOLD_MS: '5000' });
    const s = await mint(node);
    const held = (await holdPoll(node, s)).answer;
    for (let i = 0; i < 4; i++) await poll(node, { key: s.key, pollToken: 'Z'.repeat(43) }).expect(404);
    const ended = await held;
    expect(ended.status).toBe(404); // what its next poll would hear: the session is gone
    expect(ended.body).toMatchObject({ error: { code: 'not_found' } });
    await poll(node, s).expect(404);
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(404);
  });

  it('a wrong token still gets 404 when the store fails to destroy the session; the real poll goes on', async () => {
    class NoDestroy extends MemoryStore {
      override async destroy(): Promise<void> {
        throw new Error('store down');
      }
    }
    const node = await startNode({ MAX_TOKEN_FAILURES: '1', HOLD_MS: '5000' }, { store: new NoDestroy({ graceMs: 60_000 }) });
    const s = await mint(node);
    const held = (await holdPoll(node, s)).answer;
    for (let i = 0; i < 3; i++) await poll(node, { key: s.key, pollToken: 'Z'.repeat(43) }).expect(404);
    expect(node.polls.size).toBe(1);
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    expect((await held).body.status).toBe('scanned');
  });
});

describe('drain', () => {
  it('refuses new polls with 503 and spreads the 204s over DRAIN_MS', async () => {
    const node = await startNode({ DRAIN_MS: '600', HOLD_MS: '30000' });
    const sessions = await Promise.all(Array.from({ length: 12 }, () => mint(node)));
    const answeredAt: number[] = [];
    const held = sessions.map((s) => poll(node, s).then((r) => (answeredAt.push(Date.now()), r.status)));
    await untilHeld(node, 12);
    const started = Date.now();
    const closing = node.close();
    const refused = await poll(node, sessions[0]!);
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('shutting_down');
    expect(refused.headers['retry-after']).toBe('1');
    expect(await Promise.all(held)).toEqual(Array(12).fill(204));
    await closing;
    const spread = Math.max(...answeredAt) - Math.min(...answeredAt);
    expect(spread).toBeGreaterThan(100);
    expect(Math.max(...answeredAt) - started).toBeLessThan(1_500);
  });
});

describe('limits in cluster mode', () => {
  it('per-IP rates hold across nodes (counters in Redis)', async () => {
    const { nodes: [a, b] } = await startNodes(2, { REDIS_URL: inject('redisUrl') }, { RATE_SESSIONS_PER_IP: '3' });
    await mint(a!);
    await mint(b!);
    await mint(a!);
    const res = await request(b!.publicUrl).post('/status/new').expect(429);
    expect(res.body.error.code).toBe('rate_limited');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    await request(a!.publicUrl).post('/status/new').expect(429);
  });

  it('polls in flight per IP are counted per node: another node has slots of its own', async () => {
    const { nodes: [a, b] } = await startNodes(2, { REDIS_URL: inject('redisUrl') }, { MAX_POLLS_PER_IP: '1', HOLD_MS: '5000' });
    const [first, second, third] = [await mint(a!), await mint(a!), await mint(a!)];
    const heldOnA = (await holdPoll(a!, first)).answer;
    const refused = await poll(a!, second).expect(429);
    expect(refused.body.error.code).toBe('rate_limited');
    const heldOnB = (await holdPoll(b!, third)).answer;
    for (const s of [first, third]) await setStatus(a!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect((await heldOnA).body).toMatchObject({ key: first.key, version: 1 });
    expect((await heldOnB).body).toMatchObject({ key: third.key, version: 1 });
  });
});
