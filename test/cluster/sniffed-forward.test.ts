// Whoever sees the traffic between two nodes learns nothing they can use: a real TCP proxy sits
// between node B (where sets land) and node A (which holds the poll), records B's forwards byte
// for byte, and the test plays the attacker with what it recorded. Sent again, a forward is
// refused; altered in any byte its seal covers, refused; held back past CLUSTER_SEAL_WINDOW_MS
// (A's clock moved, either way), refused. And the recording holds no CLUSTER_TOKEN.
import net from 'node:net';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { CLUSTER_TOKEN, INTERNAL_TOKEN, uniquePrefix } from '../support/cluster.js';
import { holdPoll, mint, setStatus, startNode, waitFor } from '../support/node.js';
import type { Qrelay } from '../../src/app.js';

/** The complete HTTP/1.1 requests at the start of `bytes` (each sized by its Content-Length). */
function splitRequests(bytes: Buffer): Buffer[] {
  const requests: Buffer[] = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end < 0) return requests;
    const head = bytes.subarray(at, end).toString('latin1');
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (bytes.length < end + 4 + length) return requests;
    requests.push(bytes.subarray(at, end + 4 + length));
    at = end + 4 + length;
  }
}

/**
 * A TCP proxy on port 0 in front of `target()`'s private port. `pass`: every byte goes through,
 * and what the client sent is recorded. `cut`: the first complete request of a connection is
 * recorded and never delivered; the connection is cut (the sender's forward fails).
 */
async function recordingProxy(target: () => string, mode: 'pass' | 'cut'): Promise<{ url: string; requests(): Buffer[] }> {
  const sent: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('error', () => {});
    let received = Buffer.alloc(0);
    if (mode === 'cut') {
      client.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const [first] = splitRequests(received);
        if (first !== undefined) {
          sent.push(first);
          client.destroy();
        }
      });
      return;
    }
    const upstream = net.connect(Number(new URL(target()).port), '127.0.0.1');
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (chunk: Buffer) => {
      sent.push(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, requests: () => splitRequests(Buffer.concat(sent)) };
}

/** Sends `bytes` as they are to the node's private port; its answer's status and JSON body. */
async function sendRaw(node: Qrelay, bytes: Buffer): Promise<{ status: number; body: unknown }> {
  const socket = net.connect(Number(new URL(node.privateUrl).port), '127.0.0.1');
  onTestFinished(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  // The whole answer, then the connection: the node closes it after answering a half-closed one.
  socket.end(bytes);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const text = Buffer.concat(chunks).toString('utf8');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  return { status, body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as unknown };
}

/** `bytes` with the first match of `pattern` (in the head or body, as latin1) replaced. */
function alter(bytes: Buffer, pattern: RegExp, replace: (match: string) => string): Buffer {
  const text = bytes.toString('latin1');
  const m = pattern.exec(text);
  if (m === null) throw new Error(`${pattern} is not in the recorded request`);
  const altered = text.slice(0, m.index) + replace(m[0]) + text.slice(m.index + m[0].length);
  expect(altered).not.toBe(text);
  return Buffer.from(altered, 'latin1');
}

const nextDigit = (d: string): string => String((Number(d) + 1) % 10);

/**
 * Node A holds polls and is reached through the proxy (its NODE_ADDR is the proxy's address, so
 * B's forwards pass through it); node B takes the sets. A's clock is `Date.now() + skew.ms`.
 */
async function twoNodes(mode: 'pass' | 'cut', env: Record<string, string> = {}) {
  const skew = { ms: 0 };
  let holder = '';
  const proxy = await recordingProxy(() => holder, mode);
  const shared = { REDIS_URL: inject('redisUrl'), REDIS_PREFIX: uniquePrefix(), INTERNAL_TOKEN, CLUSTER_TOKEN, HOLD_MS: '10000', ...env };
  const a = await startNode({ ...shared, NODE_ADDR: proxy.url }, { clock: () => Date.now() + skew.ms });
  holder = a.privateUrl;
  const b = await startNode(shared);
  return { a, b, proxy, skew };
}

const refusal = { status: 401, body: { error: { code: 'invalid_seal', message: expect.any(String) as string } } };

describe('a forward seen on the wire', () => {
  it('carries no CLUSTER_TOKEN, and sent again byte for byte, to its holder or another node, is refused 401 invalid_seal', async () => {
    const { a, b, proxy } = await twoNodes('pass');
    const s = await mint(a);
    const held = (await holdPoll(a, s)).answer;
    const set = await setStatus(b, { key: s.key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(true);
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1, data: { name: 'Ann' } });
    const [recorded] = proxy.requests();
    expect(recorded!.toString('latin1')).toMatch(/^POST \/channel\/set HTTP\/1\.1\r\n/);
    expect(recorded!.toString('latin1')).not.toContain(CLUSTER_TOKEN);
    expect(recorded!.toString('latin1')).not.toMatch(/\r\nauthorization:/i);
    // The attacker's copy, while the browser polls on for the confirm: refused, and it wakes nothing.
    const next = (await holdPoll(a, s, { since: 1 })).answer;
    expect(await sendRaw(a, recorded!)).toEqual(refusal);
    expect(a.polls.size).toBe(1);
    // Nor is it taken by another node, which has never seen its nonce: it was sealed for A.
    expect(await sendRaw(b, recorded!)).toEqual(refusal);
    await setStatus(b, { key: s.key, status: 'cancelled', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    expect((await next).body).toMatchObject({ status: 'cancelled', version: 2 });
  });

  it('caught on its way and altered in its body, path, time, nonce or node is refused; untouched, it is taken once', async () => {
    const { a, b, proxy } = await twoNodes('cut');
    const s = await mint(a);
    const held = (await holdPoll(a, s)).answer;
    const set = await setStatus(b, { key: s.key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(false); // the proxy cut it
    const [recorded] = proxy.requests();
    const alterations: Array<[string, Buffer]> = [
      ['body', alter(recorded!, /"Ann"/, () => '"Eve"')],
      ['path', alter(recorded!, /^POST \/channel\/set /, () => 'POST /channel/set?to=a ')],
      ['time', alter(recorded!, /t=\d+/, (t) => t.slice(0, -1) + nextDigit(t.slice(-1)))],
      ['nonce', alter(recorded!, /,n=[^,]/, (n) => n.slice(0, -1) + (n.endsWith('a') ? 'b' : 'a'))],
      ['node', alter(recorded!, /node=http:\/\/127\.0\.0\.1:\d+/, (node) => node.slice(0, -1) + nextDigit(node.slice(-1)))],
    ];
    for (const [what, bytes] of alterations) expect(await sendRaw(a, bytes), what).toEqual(refusal);
    expect(a.polls.size).toBe(1);
    // The recording itself was sound, and refused only for what was changed: it is taken once.
    expect(await sendRaw(a, recorded!)).toEqual({ status: 200, body: { delivered: true } });
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1, data: { name: 'Ann' } });
    expect(await sendRaw(a, recorded!)).toEqual(refusal);
  });

  it('held back past CLUSTER_SEAL_WINDOW_MS, either way of clock skew, is refused', async () => {
    const { a, b, proxy, skew } = await twoNodes('cut', { CLUSTER_SEAL_WINDOW_MS: '5000' });
    const s = await mint(a);
    const held = (await holdPoll(a, s)).answer;
    await setStatus(b, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200);
    await waitFor(() => proxy.requests().length === 1, 3_000, 'the forward recorded');
    const [recorded] = proxy.requests();
    const sealedAt = Number(/t=(\d+)/.exec(recorded!.toString('latin1'))![1]);
    for (const ms of [5_000 + 1_000, -(5_000 + 1_000)]) {
      skew.ms = sealedAt + ms - Date.now(); // A's clock reads the seal's time plus (or minus) more than the window
      expect(await sendRaw(a, recorded!), `A's clock ${ms} ms from the seal's`).toEqual(refusal);
    }
    expect(a.polls.size).toBe(1);
    skew.ms = sealedAt + 4_000 - Date.now(); // within the window: the same bytes are taken
    expect(await sendRaw(a, recorded!)).toEqual({ status: 200, body: { delivered: true } });
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
  });
});
