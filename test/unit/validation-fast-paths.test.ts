// The hot routes' hand-checked fast paths (plainPollQuery, plainSetBody) against zod's schemas:
// whatever a fast path answers, zod answers the same; whatever it declines, zod still parses (or
// refuses) as before.
import querystring from 'node:querystring';
import { describe, expect, it } from 'vitest';
import { QrelayError } from '../../src/errors.js';
import { parseOr400, plainPollQuery, plainSetBody, pollQuery, setBody } from '../../src/http/validation.js';

const KEY = 'AbCdEfGhIjKlMnOpQrSt_-';

/** zod's answer: the parsed value, or the error's code and message. */
function viaZod(schema: typeof pollQuery | typeof setBody, input: unknown): unknown {
  try {
    return { ok: parseOr400(schema, input) };
  } catch (err) {
    if (!(err instanceof QrelayError)) throw err;
    return { code: err.code, message: err.message };
  }
}

/** The route's answer: the fast path's, or zod's when it declines. */
function viaRoute<T>(fast: T | undefined, schema: typeof pollQuery | typeof setBody, input: unknown): unknown {
  return fast === undefined ? viaZod(schema, input) : { ok: fast };
}

const numbers = ['0', '7', '42', '000', '123456789012345', '1234567890123456', '-1', '1.5', '1e3', '', ' 1', '0x10', '%31'];
const keys = [KEY, KEY.slice(1), `${KEY}A`, `${KEY.slice(0, 21)}=`, `${KEY.slice(0, 21)}%41`, '', KEY.toLowerCase()];

const queries = [
  ...keys.flatMap((key) => [`key=${key}`, `key=${key}&since=3`, `key=${key}&since=3&wait=0`]),
  ...numbers.flatMap((n) => [`key=${KEY}&since=${n}`, `key=${KEY}&wait=${n}`, `key=${KEY}&since=1&wait=${n}`]),
  `since=1&key=${KEY}`,
  `key=${KEY}&key=${KEY}`,
  `key=${KEY}&since=1&since=2`,
  `key=${KEY}&wait=1&since=2`,
  `key=${KEY}&other=1`,
  `key=${KEY}&since=1&`,
  `key=${KEY}&since`,
  `key=${KEY}&since=`,
  `&key=${KEY}`,
  '',
  'key',
  `KEY=${KEY}`,
];

const actors = [undefined, 'ann', '', 'x'.repeat(256), 'x'.repeat(257), 'é'.repeat(256), 7, null, ['ann'], { a: 1 }];
const bodies: unknown[] = [
  ...['scanned', 'confirmed', 'cancelled', 'pending', 'expired', 'SCANNED', '', 3, null].flatMap((status) =>
    actors.map((actor) => (actor === undefined ? { key: KEY, status } : { key: KEY, status, actor })),
  ),
  ...keys.map((key) => ({ key, status: 'scanned', actor: 'ann' })),
  { status: 'scanned', actor: 'ann' },
  { status: 'cancelled' },
  { key: undefined, status: 'cancelled' },
  { key: null, status: 'cancelled' },
  { key: KEY, actor: 'ann' },
  { key: KEY, status: 'scanned', actor: 'ann', data: { a: 1 } },
  { key: KEY, status: 'confirmed', actor: 'ann', ifVersion: 1 },
  { key: KEY, status: 'confirmed', actor: 'ann', ifVersion: -1 },
  { key: KEY, status: 'cancelled', actor: undefined },
  { key: KEY, status: 'scanned', actor: 'ann', extra: 1 },
  JSON.parse(`{"key":"${KEY}","status":"scanned","actor":"ann","__proto__":{"x":1}}`),
  { key: 7, status: 'scanned', actor: 'ann' },
  [KEY, 'scanned'],
  [],
  'scanned',
  7,
  null,
  undefined,
];

describe('the hot routes\' fast paths agree with zod', () => {
  it.each(queries)('poll query %j', (search) => {
    const parsed = querystring.parse(search);
    const fast = plainPollQuery(search);
    if (fast !== undefined) expect(fast).toStrictEqual(pollQuery.parse(parsed));
    expect(viaRoute(fast, pollQuery, parsed)).toStrictEqual(viaZod(pollQuery, parsed));
  });

  it.each(bodies.map((body) => [JSON.stringify(body) ?? String(body), body]))('set body %s', (_name, body) => {
    const fast = plainSetBody(body);
    if (fast !== undefined) expect(fast).toStrictEqual(setBody.parse(body));
    expect(viaRoute(fast, setBody, body)).toStrictEqual(viaZod(setBody, body));
  });

  it('the common inputs take the fast paths', () => {
    expect(plainPollQuery(`key=${KEY}&since=0`)).toStrictEqual({ key: KEY, since: 0 });
    expect(plainPollQuery(`key=${KEY}&since=2&wait=0`)).toStrictEqual({ key: KEY, since: 2, wait: 0 });
    expect(plainSetBody({ key: KEY, status: 'scanned', actor: 'ann' })).toStrictEqual({ key: KEY, status: 'scanned', actor: 'ann' });
    expect(plainSetBody({ key: KEY, status: 'cancelled' })).toStrictEqual({ key: KEY, status: 'cancelled' });
    expect(plainSetBody({ status: 'scanned', actor: 'ann' })).toStrictEqual({ status: 'scanned', actor: 'ann' });
    expect(queries.filter((q) => plainPollQuery(q) !== undefined).length).toBeGreaterThan(10);
    expect(bodies.filter((b) => plainSetBody(b) !== undefined).length).toBeGreaterThan(5);
  });
});
