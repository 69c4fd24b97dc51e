// Property-based bad input: random methods, paths, query strings, headers, bodies and content
// types against both listeners. Every answer must be a well-formed HTTP response (errors in the one
// JSON shape), the process must keep serving, and no held poll may leak.
import http from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { mint, startNode, waitFor } from '../support/node.js';

interface Sent {
  status: number;
  contentType: string | undefined;
  allow: string | undefined;
  body: string;
}

function send(base: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], allow: res.headers['allow'], body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer to ${method} ${path}`)));
    req.end(body);
  });
}

const ALLOWED = new Set([200, 201, 204, 400, 401, 404, 405, 409, 410, 413, 415, 429, 431, 503]);

const segment = fc.oneof(
  fc.constantFrom('status', 'new', 'get', 'set', 'peek', 'qr.svg', 'channel', 'healthz', 'readyz', 'metrics', '..', '%00', '%E0%A4', 'demo'),
  fc.stringMatching(/^[A-Za-z0-9._~%-]{0,12}$/),
);
const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => `/${p.join('/')}`);
const queryValue = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', '-1', '1e9', '0x10', '99999999999999999999', 'null', '[]'));
const query = fc
  .dictionary(fc.constantFrom('key', 'since', 'wait', 'x', 'key[]', '__proto__', 'constructor'), queryValue, { maxKeys: 4 })
  .map((q) => new URLSearchParams(q).toString());
const jsonish = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.record({ key: fc.string({ maxLength: 30 }), status: fc.string({ maxLength: 12 }), actor: fc.anything(), data: fc.anything(), ifVersion: fc.anything() }).map((o) => JSON.stringify(o)),
  fc.string({ maxLength: 200 }),
  fc.constant('{"__proto__":{"polluted":true},"key":"AAAAAAAAAAAAAAAAAAAAAA","status":"scanned"}'),
);
const contentType = fc.option(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/json; charset=bogus', '*/*', ''),
  { nil: undefined },
);
const authorization = fc.option(
  fc.oneof(fc.constant('Bearer '), fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`), fc.string({ maxLength: 60 })),
  { nil: undefined },
);

async function fuzz(node: Qrelay, liveKey: string, runs: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('public', 'private'),
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH'),
      path,
      query,
      fc.boolean(),
      contentType,
      authorization,
      fc.option(jsonish, { nil: undefined }),
      async (listener, method, p, q, useLiveKey, type, auth, body) => {
        const base = listener === 'public' ? node.publicUrl : node.privateUrl;
        const qs = useLiveKey ? `key=${liveKey}&${q}` : q;
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (auth !== undefined) headers['authorization'] = auth.replace(/[^\t\x20-\x7e]/g, '');
        const payload = body === undefined || method === 'GET' || method === 'HEAD' ? undefined : Buffer.from(body);
        const res = await send(base, method, `${p}?${qs}`, headers, payload);
        expect(ALLOWED.has(res.status) || (res.status === 200 && method === 'GET'), `${method} ${p}?${qs} -> ${res.status}`).toBe(true);
        if (res.status === 405) expect(res.allow, `${method} ${p}: 405 without Allow`).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
        if (res.status >= 400 && method !== 'HEAD') {
          expect(res.contentType).toMatch(/^application\/json/);
          const parsed = JSON.parse(res.body) as { error: { code: unknown; message: unknown } };
          expect(typeof parsed.error.code).toBe('string');
          expect(typeof parsed.error.message).toBe('string');
        }
      },
    ),
    { numRuns: runs },
  );
}

describe('fuzzing both listeners', () => {
  it('random requests get well-formed answers, the node survives, and no held poll leaks', async () => {
    const node = await startNode({ HOLD_MS: '30' });
    const s = await mint(node);
    await fuzz(node, s.key, 600);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    await waitFor(() => node.polls.size === 0, 2_000, 'held polls to drain');
    await mint(node);
  }, 60_000);

  it('the same with INTERNAL_TOKEN set: the private listener refuses everything unauthenticated', async () => {
    const node = await startNode({ HOLD_MS: '30', INTERNAL_TOKEN: 'fuzz-internal-token-0123456789' });
    const s = await mint(node);
    await fuzz(node, s.key, 300);
    await waitFor(() => node.polls.size === 0, 2_000, 'held polls to drain');
  }, 60_000);
});
