// What a session key tells whoever holds it (anyone who saw the QR): the QR image of any
// well-formed key, the same whatever its session's state, under its per-address limit; and from
// a poll without the poll token, nothing: a wrong token is answered as an unknown key is.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { mint, poll, setStatus, startNode } from '../support/node.js';

describe('what a key reveals', () => {
  it('the QR image is the same before and after a scan, after expiry, and for an unknown key', async () => {
    let now = Date.now();
    const node = await startNode({ SESSION_TTL_MS: '60000' }, { clock: () => now });
    const qr = (key: string) => request(node.publicUrl).get('/status/qr.svg').query({ key }).buffer(true).expect(200);
    const image = async (key: string): Promise<{ svg: string; type: string | undefined; cache: string | undefined }> => {
      const res = await qr(key);
      return { svg: res.text || String(res.body), type: res.headers['content-type'], cache: res.headers['cache-control'] };
    };
    const s = await mint(node);
    const pending = await image(s.key);
    expect(pending.svg).toContain('<svg');
    expect(pending.type).toBe('image/svg+xml; charset=utf-8');
    expect(pending.cache).toBe('no-store');
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    expect(await image(s.key)).toEqual(pending);
    await setStatus(node, { key: s.key, status: 'confirmed' }).expect(200);
    expect(await image(s.key)).toEqual(pending);
    now += 60_001;
    expect(await image(s.key)).toEqual(pending);
    const unknown = await image('B'.repeat(22));
    expect(unknown.svg).toContain('<svg');
    expect({ ...unknown, svg: '' }).toEqual({ ...pending, svg: '' });
  });

  it('the QR limit counts every key, known or not', async () => {
    const node = await startNode({ RATE_QR_PER_IP: '2' });
    const s = await mint(node);
    for (let i = 0; i < 2; i++) await request(node.publicUrl).get('/status/qr.svg').query({ key: 'B'.repeat(22) }).expect(200);
    expect((await request(node.publicUrl).get('/status/qr.svg').query({ key: s.key }).expect(429)).body.error.code).toBe('rate_limited');
  });

  it('a wrong token is answered as an unknown key is, and both take a point of the address', async () => {
    const node = await startNode({ MAX_TOKEN_FAILURES: '2' });
    const s = await mint(node);
    const wrong = { key: s.key, pollToken: 'W'.repeat(43) };
    const unknown = { key: 'B'.repeat(22), pollToken: s.pollToken };
    const answers = [await poll(node, wrong, { wait: 0 }).expect(404), await poll(node, unknown, { wait: 0 }).expect(404)];
    expect(answers[0]!.body).toEqual(answers[1]!.body);
    expect(answers[0]!.body).toEqual({ error: { code: 'not_found', message: 'no such session' } });
    // Two points taken, one by the unknown key: the next wrong token is over the limit.
    expect((await poll(node, wrong, { wait: 0 }).expect(429)).body.error.code).toBe('rate_limited');
    await poll(node, unknown, { wait: 0 }).expect(404); // an unknown key is never refused
  });
});
