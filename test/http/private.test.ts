// The private listener: status changes, peek, health, INTERNAL_TOKEN, and the wall between ports.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { holdPoll, mint, poll, setStatus, startNode } from '../support/node.js';

describe('POST /status/set', () => {
  it('walks pending -> scanned -> confirmed, bumping the version and naming the asking client', async () => {
    const node = await startNode();
    const s = await mint(node, { 'User-Agent': 'PC browser' });
    const scanned = await setStatus(node, { key: s.key, status: 'scanned', actor: 'user-1', data: { name: 'Ann' } }).expect(200);
    expect(scanned.body).toMatchObject({ key: s.key, status: 'scanned', version: 1, delivered: false });
    expect(scanned.body.client).toMatchObject({ ip: '127.0.0.1', userAgent: 'PC browser', acceptLanguage: '' });
    const confirmed = await setStatus(node, { key: s.key, status: 'confirmed', actor: 'user-1', ifVersion: 1 }).expect(200);
    expect(confirmed.body).toMatchObject({ status: 'confirmed', version: 2 });
  });

  it.each([
    ['pending', 'confirmed', 'invalid_transition'],
    ['confirmed', 'cancelled', 'invalid_transition'],
    ['cancelled', 'scanned', 'invalid_transition'],
    ['scanned', 'scanned', 'invalid_transition'],
  ] as const)('refuses %s -> %s with 409 %s', async (from, to, code) => {
    const node = await startNode();
    const s = await mint(node);
    const path: Record<string, string[]> = { pending: [], scanned: ['scanned'], confirmed: ['scanned', 'confirmed'], cancelled: ['cancelled'] };
    for (const step of path[from] ?? []) await setStatus(node, { key: s.key, status: step }).expect(200);
    // Other data than the step's: never a repeat of the change in place (answered as applied).
    const res = await setStatus(node, { key: s.key, status: to, data: { other: true } }).expect(409);
    expect(res.body.error.code).toBe(code);
  });

  it('a repeat of the change in place (a retry) answers 200 with the same version; any other change to the same status is refused', async () => {
    const node = await startNode();
    const s = await mint(node);
    const scan = { key: s.key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } };
    await setStatus(node, scan).expect(200);
    for (const again of [scan, { ...scan, ifVersion: 0 }]) {
      expect((await setStatus(node, again).expect(200)).body).toMatchObject({ status: 'scanned', version: 1 });
    }
    for (const other of [{ ...scan, actor: 'bob' }, { ...scan, data: { name: 'Bob' } }, { ...scan, data: undefined }, { ...scan, ifVersion: 1 }]) {
      expect((await setStatus(node, other).expect(409)).body.error.code).toBe('invalid_transition');
    }
    const confirm = { key: s.key, status: 'confirmed', actor: 'ann' };
    await setStatus(node, confirm).expect(200);
    // The final status handed out: the session forgets actor and data, and still knows the repeat.
    expect((await poll(node, s, { since: 1 }).expect(200)).body.ticket).toEqual(expect.any(String));
    expect((await setStatus(node, confirm).expect(200)).body).toMatchObject({ status: 'confirmed', version: 2 });
    expect((await setStatus(node, { ...confirm, status: 'cancelled' }).expect(409)).body.error.code).toBe('invalid_transition');
  });

  it('requires the scanning actor to confirm or cancel', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'alice' }).expect(200);
    for (const body of [{ status: 'confirmed', actor: 'bob' }, { status: 'confirmed' }, { status: 'cancelled', actor: 'bob' }]) {
      const res = await setStatus(node, { key: s.key, ...body }).expect(409);
      expect(res.body.error.code).toBe('actor_mismatch');
    }
    await setStatus(node, { key: s.key, status: 'cancelled', actor: 'alice' }).expect(200);
  });

  it('ifVersion is compare-and-set: a stale version is refused, and the body says which', async () => {
    const node = await startNode();
    const s = await mint(node);
    await setStatus(node, { key: s.key, status: 'scanned', ifVersion: 0 }).expect(200);
    const stale = await setStatus(node, { key: s.key, status: 'confirmed', ifVersion: 0 }).expect(409);
    expect(stale.body.error).toEqual({ code: 'version_mismatch', message: 'ifVersion is 0 but the session is at version 1' });
    await setStatus(node, { key: s.key, status: 'confirmed', ifVersion: 1 }).expect(200);
  });

  it('404 for an unknown key', async () => {
    const node = await startNode();
    const res = await setStatus(node, { key: 'C'.repeat(22), status: 'scanned' }).expect(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('data is a JSON object of at most 4 KiB', async () => {
    const node = await startNode();
    const s = await mint(node);
    const big = await setStatus(node, { key: s.key, status: 'scanned', data: { blob: 'x'.repeat(4_100) } }).expect(413);
    expect(big.body.error.code).toBe('data_too_large');
    await setStatus(node, { key: s.key, status: 'scanned', data: { blob: 'x'.repeat(4_000) } }).expect(200);
    for (const data of [[1, 2], 'text', 5, null]) {
      const res = await setStatus(node, { key: s.key, status: 'confirmed', data }).expect(400);
      expect(res.body.error.code).toBe('invalid_data');
    }
  });
});

describe('GET /status/peek', () => {
  it('shows state and client info without holding, and never the token', async () => {
    const node = await startNode();
    const s = await mint(node, { 'User-Agent': 'UA', 'Accept-Language': 'fr' });
    await setStatus(node, { key: s.key, status: 'scanned', actor: 'bob', data: { name: 'Bob' } }).expect(200);
    const res = await request(node.privateUrl).get('/status/peek').query({ key: s.key }).expect(200);
    expect(res.body).toMatchObject({ key: s.key, status: 'scanned', version: 1, actor: 'bob', data: { name: 'Bob' }, delivered: false });
    expect(res.body.client).toMatchObject({ ip: '127.0.0.1', userAgent: 'UA', acceptLanguage: 'fr' });
    expect(JSON.stringify(res.body)).not.toContain(s.pollToken);
    expect(node.polls.size).toBe(0);
    await request(node.privateUrl).get('/status/peek').query({ key: 'D'.repeat(22) }).expect(404);
  });
});

describe('health', () => {
  it('healthz says alive and readyz says ready', async () => {
    const node = await startNode();
    expect((await request(node.privateUrl).get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
    expect((await request(node.privateUrl).get('/readyz').expect(200)).body).toEqual({ status: 'ready' });
  });
});

describe('INTERNAL_TOKEN', () => {
  it('when set, every private request but the health checks needs it', async () => {
    const token = 'internal-secret-0123456789';
    const node = await startNode({ INTERNAL_TOKEN: token });
    const s = await mint(node);
    for (const auth of [undefined, 'Bearer wrong', `Basic ${token}`, `Bearer ${token}x`]) {
      const req = request(node.privateUrl).get('/metrics');
      const res = await (auth === undefined ? req : req.set('Authorization', auth)).expect(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(401);
    await setStatus(node, { key: s.key, status: 'scanned' }, token).expect(200);
    await request(node.privateUrl).get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);
  });
});

describe('two listeners, two route sets', () => {
  it('nothing private is routable on the public listener', async () => {
    const node = await startNode();
    const s = await mint(node);
    for (const [method, path] of [
      ['post', '/status/set'],
      ['get', `/status/peek?key=${s.key}`],
      ['post', '/channel/set'],
      ['get', '/healthz'],
      ['get', '/readyz'],
    ] as const) {
      const res = await request(node.publicUrl)[method](path).send({ key: s.key, status: 'scanned' });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('no_route');
    }
    expect((await request(node.privateUrl).get(`/status/peek?key=${s.key}`)).body.status).toBe('pending');
  });

  it('nothing public is routable on the private listener', async () => {
    const node = await startNode();
    const s = await mint(node);
    for (const [method, path] of [
      ['post', '/status/new'],
      ['get', `/status/get?key=${s.key}`],
      ['get', `/status/qr.svg?key=${s.key}`],
      ['get', '/'],
    ] as const) {
      const res = await request(node.privateUrl)[method](path).set('Authorization', `Bearer ${s.pollToken}`);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
  });
});

describe('headers', () => {
  it('every response on both listeners carries Cache-Control: no-store; public ones carry helmet headers', async () => {
    const node = await startNode();
    const s = await mint(node);
    const responses = [
      await request(node.publicUrl).post('/status/new'),
      await poll(node, s, { wait: 10 }),
      await request(node.publicUrl).get('/'),
      await request(node.publicUrl).get('/nope'),
      await request(node.privateUrl).get('/healthz'),
      await request(node.privateUrl).get('/nope'),
    ];
    for (const r of responses) expect(r.headers['cache-control']).toBe('no-store');
    expect(responses[2]?.headers['content-security-policy']).toContain("default-src 'self'");
    expect(responses[2]?.headers['x-content-type-options']).toBe('nosniff');
  });

  it('every private answer carries its request id: the caller\'s plain token, else a new UUID, once', async () => {
    const token = 'internal-secret-0123456789';
    const node = await startNode({ INTERNAL_TOKEN: token });
    const s = await mint(node);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const answers = [
      ['a hot route', await setStatus(node, { key: s.key, status: 'scanned' }, token).set('X-Request-Id', 'set-1'), 200, 'set-1'],
      ['a hot route refusing', await setStatus(node, { key: s.key, status: 'bogus' }, token).set('X-Request-Id', 'set-2'), 400, 'set-2'],
      ['an express route', await request(node.privateUrl).get('/healthz').set('X-Request-Id', 'health-1'), 200, 'health-1'],
      ['no route', await request(node.privateUrl).get('/nope').set('Authorization', `Bearer ${token}`), 404, uuid],
      ['no token', await request(node.privateUrl).get('/metrics').set('X-Request-Id', 'not a plain token'), 401, uuid],
    ] as const;
    const ids = new Set<string>();
    for (const [what, res, status, id] of answers) {
      expect(res.status, what).toBe(status);
      expect(res.headers['x-request-id'], what).toMatch(id);
      expect(res.headers['cache-control'], what).toBe('no-store');
      ids.add(String(res.headers['x-request-id']));
    }
    expect(ids.size).toBe(answers.length);
  });

  it("the hot routes' JSON answers carry the data set of helmet's headers; pages and the QR the document set", async () => {
    const node = await startNode();
    const s = await mint(node);
    const bad = await mint(node);
    const answers = {
      minted: await request(node.publicUrl).post('/status/new').expect(201),
      timedOut: await poll(node, s, { wait: 10 }).expect(204),
      refused: await poll(node, { ...bad, pollToken: 'x'.repeat(43) }, { wait: 10 }).expect(404),
    };
    // A woken poll, answered 200.
    const held = await holdPoll(node, s);
    await setStatus(node, { key: s.key, status: 'scanned' }).expect(200);
    const woken = await held.answer;
    expect(woken.status).toBe(200);
    const dataSet = {
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'cross-origin-resource-policy': 'same-origin',
      'referrer-policy': 'no-referrer',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
    };
    const documentOnly = [
      'cross-origin-opener-policy',
      'origin-agent-cluster',
      'x-dns-prefetch-control',
      'x-download-options',
      'x-permitted-cross-domain-policies',
      'x-xss-protection',
    ];
    for (const [what, r] of Object.entries({ ...answers, woken })) {
      expect(r.headers, what).toMatchObject(dataSet);
      for (const name of documentOnly) expect(r.headers[name], `${what}: ${name}`).toBeUndefined();
    }
    const qr = await request(node.publicUrl).get(`/status/qr.svg?key=${bad.key}`).expect(200);
    for (const r of [qr, await request(node.publicUrl).get('/')]) {
      expect(r.headers['content-security-policy']).toContain("default-src 'self'");
      expect(r.headers['x-frame-options']).toBe('SAMEORIGIN');
      for (const name of documentOnly) expect(r.headers[name], name).toBeDefined();
    }
  });

  it('CORS is off by default and allows only listed origins', async () => {
    const closed = await startNode();
    const open = await startNode({ CORS_ORIGINS: 'https://app.example' });
    const none = await request(closed.publicUrl).post('/status/new').set('Origin', 'https://app.example');
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
    const allowed = await request(open.publicUrl)
      .options('/status/get')
      .set('Origin', 'https://app.example')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(allowed.headers['access-control-allow-headers']).toMatch(/Authorization/i);
    expect(allowed.headers['cache-control']).toBe('no-store');
    // A preflight of a hot route carries the same data set as its answers (here, CORP cross-origin:
    // with CORS origins, integrators load from their own origin).
    expect(allowed.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
    expect(allowed.headers['x-frame-options']).toBe('DENY');
    expect(allowed.headers['cross-origin-resource-policy']).toBe('cross-origin');
    const other = await request(open.publicUrl).post('/status/new').set('Origin', 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});
