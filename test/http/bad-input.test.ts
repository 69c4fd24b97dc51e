// Malformed input of every kind gets a specific 4xx in the one error shape, never a crash or hang.
import net from 'node:net';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { mint, poll, setStatus, startNode } from '../support/node.js';

const errorShape = { error: { code: expect.any(String), message: expect.any(String) } };

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
    const empty = await request(node.privateUrl).post('/status/set').set('Content-Type', 'application/json').send('').expect(400);
    expect(empty.body).toMatchObject(errorShape);
  });

  it('invalid JSON is 400, a wrong content type 415, over 16 KiB 413', async () => {
    const node = await startNode();
    const invalid = await request(node.privateUrl).post('/status/set').set('Content-Type', 'application/json').send('{"key":').expect(400);
    expect(invalid.body.error.code).toBe('invalid_json');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await request(node.privateUrl).post('/status/set').set('Content-Type', type).send('key=x').expect(415);
      expect(res.body.error.code).toBe('unsupported_media_type');
    }
    const none = await request(node.privateUrl).post('/status/set').expect(415);
    expect(none.body.error.code).toBe('unsupported_media_type');
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
