// GET /qrelay-login.js (and its types): cached by browsers with a validator, cacheable for a year
// under its version, and a page of another origin that CORS_ORIGINS does not list is logged once.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { WARNED_ORIGINS_MAX } from '../../src/http/client-files.js';
import { capturedLog } from '../support/log-capture.js';
import { startNode } from '../support/node.js';

describe('GET /qrelay-login.js', () => {
  it.each(['/qrelay-login.js', '/qrelay-login.d.ts'])('%s: an ETag, no-cache, and 304 without a body while it is unchanged', async (path) => {
    const node = await startNode();
    const first = await fetch(`${node.publicUrl}${path}`);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{16}"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const body = await first.text();
    expect(body.length).toBeGreaterThan(1000);

    // As a browser revalidates what it keeps (fetch() would add Cache-Control: no-cache, a reload).
    const revalidate = (ifNoneMatch: string) => request(node.publicUrl).get(path).set('If-None-Match', ifNoneMatch).buffer(true).parse((res, done) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => done(null, text));
    });
    const again = await revalidate(etag!);
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers['etag']).toBe(etag);
    expect((await revalidate(`"another", ${etag!}`)).status).toBe(304);
    const changed = await revalidate('"an-older-version"');
    expect(changed.status).toBe(200);
    expect(changed.body).toBe(body);
  });

  it('under ?v=<its version> it is cacheable for a year; under another version, revalidated like the plain URL', async () => {
    const node = await startNode();
    const plain = await fetch(`${node.publicUrl}/qrelay-login.js`);
    const version = plain.headers.get('etag')!.slice(1, -1);
    const body = await plain.text();
    const pinned = await fetch(`${node.publicUrl}/qrelay-login.js?v=${version}`);
    expect(pinned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await pinned.text()).toBe(body);
    const stale = await fetch(`${node.publicUrl}/qrelay-login.js?v=AAAAAAAAAAAAAAAA`);
    expect(stale.status).toBe(200);
    expect(stale.headers.get('cache-control')).toBe('no-cache');
    expect(await stale.text()).toBe(body);
  });

  it('a page of an origin CORS_ORIGINS does not list is logged once per origin, naming CORS_ORIGINS', async () => {
    const { log, lines } = capturedLog();
    const node = await startNode({ CORS_ORIGINS: 'https://listed.example' }, { log });
    const load = async (origin: string) => {
      const res = await fetch(`${node.publicUrl}/qrelay-login.js`, { headers: { Origin: origin } });
      await res.arrayBuffer();
      return res;
    };
    for (const origin of ['https://shop.example', 'https://shop.example', 'https://listed.example', new URL(node.publicUrl).origin, 'https://other.example']) {
      await load(origin);
    }
    const refused = lines.filter((l) => l['origin'] !== undefined);
    expect(refused.map((l) => l['origin'])).toEqual(['https://shop.example', 'https://other.example']);
    expect(refused[0]).toMatchObject({ level: 40, msg: expect.stringContaining('add the origin to CORS_ORIGINS') });
    // The listed origin's page may read it; the others' pages may not (and their browsers refuse it).
    expect((await load('https://listed.example')).headers.get('access-control-allow-origin')).toBe('https://listed.example');
    expect((await load('https://shop.example')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('the origins remembered for that are bounded: endless made-up origins cost a bounded set and bounded lines', async () => {
    const { log, lines } = capturedLog();
    const node = await startNode({}, { log });
    for (let i = 0; i < WARNED_ORIGINS_MAX + 50; i++) {
      await (await fetch(`${node.publicUrl}/qrelay-login.js`, { headers: { Origin: `https://site-${i}.example` } })).arrayBuffer();
    }
    expect(lines.filter((l) => l['origin'] !== undefined)).toHaveLength(WARNED_ORIGINS_MAX);
    expect(lines.filter((l) => String(l['msg']).includes('further origins are not logged'))).toHaveLength(1);
    // Nothing else but the start-up warnings of a trial configuration (they name a `setting`).
    expect(lines.filter((l) => l['setting'] === undefined)).toHaveLength(WARNED_ORIGINS_MAX + 1);
  });
});
