// Malformed input of every kind gets a specific 4xx in the one error shape, never a crash or hang.
import net from 'node:net';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { mint, poll, setStatus, startNode } from '../support/node.js';

const errorShape = { error: { code: expect.any(String), message: expect.any(String) } };

/** Writes `raw` on a new connection to `url` and returns everything read until the server closes it. */
function rawExchange(url: string, raw: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(raw));
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('poll parameters', () => {
  it.each([
    [{ key: 'short' }, 'invalid_key'],
    [{ key: 'x'.repeat(23) }, 'invalid_key'],
    [{ key: 'a/b+c=d'.padEnd(22, 'x') }, 'invalid_key'],
    [{ since: '-1' }, 'invalid_since'],
    [{ since: '1.5' }, 'invalid_since'],
    [{ since: 'abc' }, 'invalid_since'],
    [{ since: '9'.repeat(30) }, 'invalid_since'],
    [{ wait: 'soon' }, 'invalid_wait'],
    [{ wait: '-5' }, 'invalid_wait'],
  ])('%o -> 400 %s', async (params, code) => {
    const node = await startNode();
    const s = await mint(node);
    const res = await poll(node, s, params).expect(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(new RegExp(`^${code.replace('invalid_', '')}:`));
  });

  it('a missing or repeated key is a 400 naming key', async () => {
    const node = await startNode();
    const s = await mint(node);
    expect((await request(node.publicUrl).get('/status/get').expect(400)).body.error.code).toBe('invalid_key');
    const twice = await request(node.publicUrl).get(`/status/get?key=${s.key}&key=${s.key}`).expect(400);
    expect(twice.body.error.code).toBe('invalid_key');
    const sinceTwice = await request(node.publicUrl).get(`/status/get?key=${s.key}&since=1&since=2`).expect(400);
    expect(sinceTwice.body.error.code).toBe('invalid_since');
  });
});

describe('status change bodies', () => {
  it.each([
    [{ status: 'scanned' }, 'invalid_key'],
    [{ key: 5, status: 'scanned' }, 'invalid_key'],
    [{ key: 'K', status: 'done' }, 'invalid_status'],
    [{ key: 'K', status: 'pending' }, 'invalid_status'],
    [{ key: 'K' }, 'invalid_status'],
    [{ key: 'K', status: 'scanned', actor: '' }, 'invalid_actor'],
    [{ key: 'K', status: 'scanned', actor: 7 }, 'invalid_actor'],
    [{ key: 'K', status: 'scanned', ifVersion: -1 }, 'invalid_if_version'],
    [{ key: 'K', status: 'scanned', ifVersion: 1.5 }, 'invalid_if_version'],
    [{ key: 'K', status: 'scanned', ifVersion: '1' }, 'invalid_if_version'],
    [{ key: 'K', status: 'scanned', extra: true }, 'unknown_field'],
  ] as Array<[Record<string, unknown>, string]>)('%o -> 400 %s', async (body, code) => {
    const node = await startNode();
    const s = await mint(node);
    const res = await setStatus(node, { ...body, ...(body['key'] === 'K' ? { key: s.key } : {}) }).expect(400);
    expect(res.body.error.code).toBe(code);
  });

  it('a body that is not a JSON object is a 400', async () => {
    const node = await startNode();
    for (const raw of ['[1,2]', '[]']) {
      const res = await request(node.privateUrl).post('/status/set').set('Content-Type', 'application/json').send(raw).expect(400);
      expect(res.body.error.code).toBe('invalid_body');
    }
  });

  it.each([
    ['POST /status/set', 'private', '/status/set'],
    ['POST /ticket/redeem', 'private', '/ticket/redeem'],
    ['POST /demo/scan', 'public', '/demo/scan'],
  ] as const)('an empty body is 400 empty_body, whether sent with Content-Length: 0 or no body at all (%s)', async (_name, listener, path) => {
    const node = await startNode({ DEMO: '1' });
    const url = listener === 'public' ? node.publicUrl : node.privateUrl;
    const asJson = { 'Content-Type': 'application/json' };
    for (const res of [
      await fetch(`${url}${path}`, { method: 'POST', headers: asJson }), // Content-Length: 0
      await fetch(`${url}${path}`, { method: 'POST' }), // Content-Length: 0, no type
    ]) {
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('empty_body');
    }
    // No Content-Length at all (curl -X POST -H 'Content-Type: application/json'), with and without the type.
    for (const type of ['Content-Type: application/json\r\n', '']) {
      const reply = await rawExchange(url, `POST ${path} HTTP/1.1\r\nHost: qrelay.test\r\n${type}Connection: close\r\n\r\n`);
      expect(reply).toMatch(/^HTTP\/1.1 400 /);
      expect(reply).toContain('"code":"empty_body"');
    }
    // Another type with no body is still its type's refusal.
    const text = await fetch(`${url}${path}`, { method: 'POST', headers: { 'Content-Type': 'text/plain' } });
    expect(text.status).toBe(415);
  });

  it('invalid JSON is 400, a wrong content type 415, over 16 KiB 413', async () => {
    const node = await startNode();
    const invalid = await request(node.privateUrl).post('/status/set').set('Content-Type', 'application/json').send('{"key":').expect(400);
    expect(invalid.body.error.code).toBe('invalid_json');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await request(node.privateUrl).post('/status/set').set('Content-Type', type).send('key=x').expect(415);
      expect(res.body.error.code).toBe('unsupported_media_type');
    }
    const huge = await request(node.privateUrl)
      .post('/status/set')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ key: 'x', pad: 'y'.repeat(17 * 1024) }))
      .expect(413);
    expect(huge.body.error.code).toBe('payload_too_large');
    const charset = await request(node.privateUrl)
      .post('/status/set')
      .set('Content-Type', 'application/json; charset=latin-9000')
      .send('{}')
      .expect(415);
    expect(charset.body).toMatchObject(errorShape);
  });
});

describe('a method a path does not answer', () => {
  it.each([
    ['public', 'GET', '/status/new', 'POST'],
    ['public', 'DELETE', '/status/get', 'GET'],
    ['public', 'HEAD', '/status/get', 'GET'],
    ['public', 'POST', '/status/qr.svg', 'GET, HEAD'],
    ['public', 'PUT', '/qrelay-login.js', 'GET, HEAD'],
    ['public', 'GET', '/demo/confirm', 'POST'],
    ['private', 'GET', '/status/set', 'POST'],
    ['private', 'PUT', '/ticket/redeem', 'POST'],
    ['private', 'POST', '/healthz', 'GET, HEAD'],
    ['private', 'DELETE', '/readyz', 'GET, HEAD'],
    ['private', 'POST', '/metrics', 'GET, HEAD'],
    ['private', 'POST', '/status/peek', 'GET, HEAD'],
  ] as const)('%s %s %s is 405 method_not_allowed with Allow: %s', async (listener, method, path, allow) => {
    const node = await startNode({ DEMO: '1' });
    const res = await fetch(`${listener === 'public' ? node.publicUrl : node.privateUrl}${path}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe(allow);
    if (method !== 'HEAD') expect(((await res.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
  });

  it('an unknown path is still 404 no_route, whatever the method', async () => {
    const node = await startNode();
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${node.privateUrl}/status/nope`, { method });
      expect(res.status).toBe(404);
      expect(res.headers.get('allow')).toBeNull();
    }
  });
});

describe('the process survives', () => {
  it('malformed URLs and raw garbage on the socket', async () => {
    const node = await startNode();
    const bad = await request(node.publicUrl).get('/status/%E0%A4%A').expect((r) => expect([400, 404]).toContain(r.status));
    expect(bad.body).toMatchObject(errorShape);
    const { port } = new URL(node.publicUrl);
    const reply = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('GARBAGE / HTTP/9.9\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(reply).toMatch(/^HTTP\/1.1 400/);
    await mint(node);
  });

  it('a partial body that never completes does not hold a poll or leak', async () => {
    const node = await startNode();
    const s = await mint(node);
    const { port } = new URL(node.privateUrl);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /status/set HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"key":');
    socket.destroy();
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
  });
});
