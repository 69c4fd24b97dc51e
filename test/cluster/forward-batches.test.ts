// Changes for polls held on one node travel together: POST /channel/set takes one change (the
// form every version reads) or an array of them, sealed whole, checked whole before any poll wakes,
// and answered with one `delivered` per change, in order. A node sends the changes it has for one
// holder at once (out of one callback of its event loop) in one request. Every forward names the
// protocol version it speaks, and a holder refuses another version whole (no guessing, no resend).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { ChangeSeal } from '../../src/cluster/change-seal.js';
import { HttpRelay } from '../../src/cluster/http-relay.js';
import type { Qrelay } from '../../src/app.js';
import { observe, Origin, type ForwardFailure } from '../../src/core/channels.js';
import type { SessionView } from '../../src/core/session.js';
import { forwardChange, INTERNAL_TOKEN, PEER_ADDR, peerSeal, startNodes, type RedisEnv } from '../support/cluster.js';
import { holdPoll, mint, setStatus } from '../support/node.js';

const redisEnv = (): RedisEnv => ({ REDIS_URL: inject('redisUrl') });

interface Received {
  readonly body: unknown;
  readonly status: number;
}

/**
 * A holder's stand-in on port 0: records each POST /channel/set body it receives and the status
 * `answer` gave it (`passTo` passes it on to a real node). Closed when the test ends.
 */
async function holderAt(answer: (body: unknown, text: string, req: http.IncomingMessage) => Promise<[number, string]>): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(text) as unknown;
      void answer(body, text, req).then(([status, out]) => {
        received.push({ body, status });
        res.writeHead(status, { 'content-type': 'application/json' }).end(out);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** Passes each request on to the private listener at `target()`, as it came. */
const passTo = (target: () => string) => async (_body: unknown, text: string, req: http.IncomingMessage): Promise<[number, string]> => {
  const res = await fetch(`${target()}/channel/set`, {
    method: 'POST',
    headers: {
      'content-type': String(req.headers['content-type']),
      'x-qrelay-seal': String(req.headers['x-qrelay-seal']),
      'x-qrelay-protocol': String(req.headers['x-qrelay-protocol']),
    },
    body: text,
  });
  return [res.status, await res.text()];
};

/** Told of each failed request, from the relay's qrelay:forward.failed messages. */
type OnFailure = (cause: ForwardFailure, route: string, changes: number, err: unknown) => void;

const relay = (options: { maxChanges?: number; maxBytes?: number; timeoutMs?: number; onFailure?: OnFailure } = {}): HttpRelay => {
  const origin = new Origin();
  const r = new HttpRelay({
    seal: peerSeal(),
    timeoutMs: options.timeoutMs ?? 2_000,
    batch: { maxChanges: options.maxChanges ?? 100, maxBytes: options.maxBytes ?? 16 * 1024 },
    origin,
  });
  const { onFailure } = options;
  if (onFailure !== undefined) onTestFinished(observe(origin, { forwardFailed: (m) => onFailure(m.cause, m.route, m.changes, m.error) }));
  onTestFinished(() => r.destroy());
  return r;
};

const view = (key: string, version: number, expiresAt: number): SessionView => ({ key, status: 'scanned', version, expiresAt });

/** Writes the scan to Redis alone, as another node's set does before it forwards: nothing wakes here. */
async function storeScan(node: Qrelay, key: string): Promise<void> {
  expect(await node.store.transition(key, { status: 'scanned', actor: 'ann' }, Date.now())).toMatchObject({ ok: true });
}

/** A node holding a poll at version 0 whose scan is stored, not yet forwarded: `change` is that scan. */
async function pollAtScan() {
  const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
  const s = await mint(a!);
  const held = (await holdPoll(a!, s)).answer;
  await storeScan(a!, s.key);
  return { a, held, change: view(s.key, 1, s.expiresAt) };
}

describe('POST /channel/set with an array of changes', () => {
  it('wakes the poll of each change that is news to it, and answers per change, in order', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const sessions = [await mint(a!), await mint(a!), await mint(a!)];
    const held = [];
    for (const [i, s] of sessions.entries()) held.push((await holdPoll(a!, s, {}, i + 1)).answer);
    await storeScan(a!, sessions[0]!.key);
    await storeScan(a!, sessions[2]!.key);
    const res = await forwardChange(
      a!,
      sessions.map((s, i) => view(s.key, i === 1 ? 0 : 1, s.expiresAt)), // the middle poll has version 0 already
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ delivered: [true, false, true] });
    expect((await held[0]!).body).toMatchObject({ key: sessions[0]!.key, status: 'scanned', version: 1 });
    expect((await held[2]!).body).toMatchObject({ key: sessions[2]!.key, status: 'scanned', version: 1 });
    expect(a!.polls.size).toBe(1);
  });

  it('holds at most 100 changes: 100 are taken, 101 or none refused with 400 invalid_body, and nothing wakes', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    const stale = view(s.key, 0, s.expiresAt);
    const wake = view(s.key, 1, s.expiresAt);
    for (const body of [[...Array<SessionView>(100).fill(stale), wake], []]) {
      const res = await forwardChange(a!, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
    }
    expect(a!.polls.size).toBe(1);
    const hundred = await forwardChange(a!, Array<SessionView>(100).fill(stale));
    expect(((await hundred.json()) as { delivered: boolean[] }).delivered).toEqual(Array<boolean>(100).fill(false));
    expect(a!.polls.size).toBe(1);
    await setStatus(a!, { key: s.key, status: 'scanned' }, INTERNAL_TOKEN).expect(200);
    expect((await held).body).toMatchObject({ version: 1 });
  });

  it('one malformed change refuses the whole array with 400 naming its field, and wakes nothing', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    await holdPoll(a!, s);
    for (const [bad, code] of [[{ key: 'short' }, 'invalid_key'], [{ ticket: 'x' }, 'unknown_field'], [{ version: -1 }, 'invalid_version']] as const) {
      const res = await forwardChange(a!, [view(s.key, 1, s.expiresAt), { ...view(s.key, 2, s.expiresAt), ...bad }]);
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe(code);
      expect(error.message).toMatch(/\(change 1\)$/); // which change, too
    }
    const notAChange = await forwardChange(a!, [view(s.key, 1, s.expiresAt), 'scanned']);
    expect(((await notAChange.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
    expect(a!.polls.size).toBe(1);
  });

  it('needs the seal of the whole array: a wrong one is 401 invalid_seal and wakes nothing', async () => {
    const { a, held, change } = await pollAtScan();
    const seal = (body: unknown, by = peerSeal()) => by.seal('POST', '/channel/set', a!.nodeAddr, JSON.stringify(body));
    for (const wrong of [seal(change), seal([change, change]), seal([change], new ChangeSeal('another-cluster-token-0000', { self: PEER_ADDR, windowMs: 30_000 }))]) {
      const res = await forwardChange(a!, [change], { seal: wrong });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_seal');
    }
    expect(a!.polls.size).toBe(1);
    expect(await (await forwardChange(a!, [change])).json()).toEqual({ delivered: [true] }); // sealed whole
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('speaks one protocol version: a sealed forward without X-Qrelay-Protocol: 1 is 400 unsupported_protocol and wakes nothing', async () => {
    const { a, held, change } = await pollAtScan();
    for (const protocol of ['2', '', null]) {
      const res = await forwardChange(a!, [change], { protocol });
      expect(res.status, String(protocol)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsupported_protocol');
    }
    expect(a!.polls.size).toBe(1);
    expect(await (await forwardChange(a!, [change])).json()).toEqual({ delivered: [true] });
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('keeps the single form: one change is answered with one boolean', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    await storeScan(a!, s.key);
    expect(await (await forwardChange(a!, view(s.key, 0, s.expiresAt))).json()).toEqual({ delivered: false });
    expect(await (await forwardChange(a!, view(s.key, 1, s.expiresAt))).json()).toEqual({ delivered: true });
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
  });
});

describe('a node forwarding changes', () => {
  it('sends the changes it has at once for one holder in one request, and each set hears of its own poll', async () => {
    let holder = '';
    const proxy = await holderAt(passTo(() => holder));
    const { nodes: [b], prefix } = await startNodes(1, redisEnv(), { HOLD_MS: '10000' });
    // The holder's polls are claimed under the proxy's address, so B's forwards to it pass through it.
    const { nodes: [viaProxy] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000', REDIS_PREFIX: prefix, NODE_ADDR: proxy.url });
    holder = viaProxy!.privateUrl;
    const a = viaProxy;
    const sessions = [];
    for (let i = 0; i < 5; i++) sessions.push(await mint(a!));
    const held = [];
    for (const [i, s] of sessions.entries()) held.push((await holdPoll(viaProxy!, s, {}, i + 1)).answer);
    // Five sets started together: their transitions come back in one read, their forwards go together.
    const sets = await Promise.all(sessions.map((s) => b!.service.set(s.key, { status: 'scanned', actor: 'ann' })));
    expect(sets.map((r) => r.delivered)).toEqual([true, true, true, true, true]);
    expect(proxy.received).toHaveLength(1);
    expect((proxy.received[0]!.body as SessionView[]).map((v) => v.key)).toEqual(sessions.map((s) => s.key));
    for (const answer of held) expect((await answer).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('gives each forward its own answer, and sends a lone change in the single form', async () => {
    let holder = '';
    const proxy = await holderAt(passTo(() => holder));
    // Sealed for the address the relay sends to, which is the proxy's: the node is known by it.
    const { nodes: [a] } = await startNodes(1, redisEnv(), { HOLD_MS: '10000', NODE_ADDR: proxy.url });
    holder = a!.privateUrl;
    const s0 = await mint(a!);
    const s1 = await mint(a!);
    await holdPoll(a!, s0, {}, 1);
    await holdPoll(a!, s1, {}, 2);
    const r = relay();
    const answers = await Promise.all([r.forward(proxy.url, view(s0.key, 1, s0.expiresAt)), r.forward(proxy.url, view(s1.key, 0, s1.expiresAt))]);
    expect(answers).toEqual([true, false]);
    expect(await r.forward(proxy.url, view(s1.key, 1, s1.expiresAt))).toBe(true);
    expect(proxy.received.map((x) => Array.isArray(x.body))).toEqual([true, false]);
  });

  it('splits the changes it has at once at the batch limits, in changes and in bytes', async () => {
    const holder = await holderAt(async (body) => [200, JSON.stringify({ delivered: Array.isArray(body) ? body.map(() => true) : true })]);
    const changes = (n: number) => Array.from({ length: n }, (_, i) => view('A'.repeat(21) + String.fromCharCode(65 + (i % 26)), i + 1, 1));
    const byCount = relay({ maxChanges: 100 });
    expect(await Promise.all(changes(250).map((v) => byCount.forward(holder.url, v)))).toEqual(Array<boolean>(250).fill(true));
    expect(holder.received.map((x) => (x.body as unknown[]).length)).toEqual([100, 100, 50]);
    holder.received.length = 0;
    const size = JSON.stringify(changes(1)[0]).length; // ASCII: a byte per character
    const byBytes = relay({ maxBytes: 1 + 3 * (size + 1) }); // three changes, their commas and brackets
    expect(await Promise.all(changes(7).map((v) => byBytes.forward(holder.url, v)))).toEqual(Array<boolean>(7).fill(true));
    expect(holder.received.map((x) => (Array.isArray(x.body) ? x.body.length : 1))).toEqual([3, 3, 1]);
  });

  it('names its protocol version on every request, and a holder that refuses it fails each change once, with no resend', async () => {
    const other = await holderAt(async (_body, _text, req) =>
      req.headers['x-qrelay-protocol'] === '1'
        ? [400, JSON.stringify({ error: { code: 'unsupported_protocol', message: 'this node speaks node-to-node protocol 2 only' } })]
        : [200, JSON.stringify({ delivered: true })],
    );
    const failures: Array<[string, number]> = [];
    const r = relay({ onFailure: (cause, _route, changes) => failures.push([cause, changes]) });
    const answers = await Promise.all([1, 2, 3].map((v) => r.forward(other.url, view('B'.repeat(22), v, 1))));
    expect(answers).toEqual([false, false, false]);
    expect(other.received.map((x) => [x.status, Array.isArray(x.body)])).toEqual([[400, true]]);
    expect(failures).toEqual([['status', 3]]);
  });
});

describe('the answer to a forward', () => {
  it('that does not match its batch (another length, or not a list) fails every change in it, counted as an error', async () => {
    for (const delivered of [[true], true, null]) {
      const odd = await holderAt(async () => [200, JSON.stringify({ delivered })]);
      const failures: Array<[string, number]> = [];
      const r = relay({ onFailure: (cause, _route, changes) => failures.push([cause, changes]) });
      const answers = await Promise.all([1, 2].map((v) => r.forward(odd.url, view('F'.repeat(22), v, 1))));
      expect(answers, JSON.stringify(delivered)).toEqual([false, false]);
      expect(failures, JSON.stringify(delivered)).toEqual([['error', 2]]);
    }
  });

  it('is not read past 64 KiB: a peer that sends more fails the forward, counted as an error', async () => {
    const talkative = await holderAt(async () => [200, JSON.stringify({ delivered: true, padding: 'x'.repeat(200_000) })]);
    const failures: Array<[string, string | undefined]> = [];
    const r = relay({ onFailure: (cause, _route, _changes, err) => failures.push([cause, err instanceof Error ? err.message : undefined]) });
    expect(await r.forward(talkative.url, view('C'.repeat(22), 1, 1))).toBe(false);
    expect(failures).toEqual([['error', 'the answer is larger than 65536 bytes']]);
  });
});

describe('a forward as a whole', () => {
  it('ends at FORWARD_TIMEOUT_MS even when the peer keeps trickling its answer (each gap shorter than the timeout)', async () => {
    let trickling: NodeJS.Timeout | undefined;
    let peerDone = false;
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        let sent = 0;
        trickling = setInterval(() => {
          if (res.destroyed || ++sent > 100) {
            clearInterval(trickling);
            peerDone = !res.destroyed;
            res.end();
            return;
          }
          res.write(' ');
        }, 50); // every gap far inside the 500 ms timeout; 5 s in all
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      clearInterval(trickling);
      server.closeAllConnections();
      server.close();
    });
    const failures: string[] = [];
    const r = relay({ timeoutMs: 500, onFailure: (cause) => failures.push(cause) });
    expect(await r.forward(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, view('D'.repeat(22), 1, 1))).toBe(false);
    expect(failures).toEqual(['timeout']);
    expect(peerDone).toBe(false); // settled at the deadline, not when the peer was done
  });

  it('close() sends the changes queued in this callback before it closes the pools', async () => {
    const holder = await holderAt(async () => [200, JSON.stringify({ delivered: true })]);
    const r = relay();
    const forwarded = r.forward(holder.url, view('E'.repeat(22), 1, 1));
    await r.close();
    expect(await forwarded).toBe(true);
    expect(holder.received).toHaveLength(1);
  });
});
