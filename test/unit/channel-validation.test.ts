import { describe, expect, it } from 'vitest';
import { channelBatch, channelBody, parseChannel } from '../../src/cluster/channel-protocol.js';
import { parseOr400 } from '../../src/http/validation.js';

const KEY = 'AAAAAAAAAAAAAAAAAAAAAA';
const change = { key: KEY, status: 'scanned', version: 1, expiresAt: 1_800_000_000_000 };

/** What zod alone answers: the parsed body, or the error's code and message. */
function byZod(body: unknown): unknown {
  try {
    return parseOr400(Array.isArray(body) ? channelBatch : channelBody, body);
  } catch (err) {
    const e = err as { code: string; message: string };
    return { code: e.code, message: e.message };
  }
}

function byParseChannel(body: unknown): unknown {
  try {
    return parseChannel(body);
  } catch (err) {
    const e = err as { code: string; message: string };
    return { code: e.code, message: e.message };
  }
}

let deep: Record<string, unknown> = {};
for (let i = 0; i < 40; i++) deep = { d: deep };

const bodies: Array<[string, unknown]> = [
  ['a change', change],
  ['a change with data', { ...change, data: { a: 1, b: [1, { c: 'x' }] } }],
  ['a final change', { ...change, status: 'confirmed', version: 2 }],
  ['a batch', [change, { ...change, status: 'confirmed', version: 2, data: {} }]],
  ['a batch of one', [change]],
  ['an unknown field', { ...change, delivered: true }],
  ['a short key', { ...change, key: 'abc' }],
  ['a key of the wrong type', { ...change, key: 42 }],
  ['an unknown status', { ...change, status: 'lost' }],
  ['a fractional version', { ...change, version: 1.5 }],
  ['a negative version', { ...change, version: -1 }],
  ['a version as a string', { ...change, version: '1' }],
  ['a version too large', { ...change, version: Number.MAX_SAFE_INTEGER + 2 }],
  ['no expiresAt', { key: KEY, status: 'scanned', version: 1 }],
  ['data as an array', { ...change, data: [1] }],
  ['data as a string', { ...change, data: 'x' }],
  ['data as null', { ...change, data: null }],
  ['data nested too deep', { ...change, data: deep }],
  ['null', null],
  ['a number', 7],
  ['an empty batch', []],
  ['a batch with one bad change', [change, { ...change, status: 'lost' }]],
  ['a batch too long', Array.from({ length: 101 }, () => change)],
  ['a batch of non-objects', ['x']],
];

describe('a forwarded change is read the same with or without zod', () => {
  for (const [name, body] of bodies) {
    it(name, () => {
      expect(byParseChannel(body)).toEqual(byZod(body));
    });
  }

  it('a well-formed change and batch are accepted, a malformed one refused with its field named', () => {
    expect(parseChannel(change)).toEqual(change);
    expect(parseChannel([change, change])).toEqual([change, change]);
    expect(byParseChannel({ ...change, status: 'lost' })).toMatchObject({ code: 'invalid_status' });
    expect(byParseChannel([change, { ...change, delivered: 1 }])).toMatchObject({ code: 'unknown_field' });
  });
});
