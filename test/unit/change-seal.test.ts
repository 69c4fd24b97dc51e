// The seal on node-to-node requests, with an injected clock: what it covers, how long it is good
// for, and the replay cache that remembers each nonce exactly as long as its seal could pass.
import { describe, expect, it } from 'vitest';
import { ChangeSeal, type SealedRequest } from '../../src/cluster/change-seal.js';

const TOKEN = 'unit-cluster-token-0123456789';
const NODE = 'https://10.0.0.5:11001';

function setUp(windowMs = 1_000) {
  const clock = { now: 1_700_000_000_000 };
  const seal = new ChangeSeal(TOKEN, { self: NODE, windowMs, clock: () => clock.now });
  const request = (body = '{"key":"k"}', target = '/channel/set'): SealedRequest => ({ method: 'POST', target, body, seal: seal.seal('POST', target, NODE, body) });
  return { clock, seal, request };
}

describe('a node seal', () => {
  it('has one documented shape, and carries nothing of CLUSTER_TOKEN', () => {
    const { request } = setUp();
    const { seal } = request();
    expect(seal).toMatch(/^v1 t=\d+,n=[A-Za-z0-9_-]{16,64},node=https:\/\/10\.0\.0\.5:11001,sig=[A-Za-z0-9_-]{43}$/);
    expect(seal).not.toContain(TOKEN);
  });

  it('passes once: the same request again is a replay', () => {
    const { seal, request } = setUp();
    const r = request();
    expect(seal.verify(r)).toBe(true);
    expect(seal.verify(r)).toBe(false);
    expect(seal.verify(request())).toBe(true); // a new nonce
  });

  it('covers the method, the target and the body', () => {
    const { seal, request } = setUp();
    const r = request();
    expect(seal.verify({ ...r, method: 'PUT' })).toBe(false);
    expect(seal.verify({ ...r, target: '/channel/set?x' })).toBe(false);
    expect(seal.verify({ ...r, body: '{"key":"K"}' })).toBe(false);
    expect(seal.verify(r)).toBe(true); // refusals remember no nonce
  });

  it('is taken only by the node it was sealed for: a copy sent to another node is refused there', () => {
    const { clock, request } = setUp();
    const r = request(); // sealed for NODE
    const elsewhere = new ChangeSeal(TOKEN, { self: 'https://10.0.0.6:11001', windowMs: 1_000, clock: () => clock.now });
    expect(elsewhere.verify(r)).toBe(false);
    const sender = new ChangeSeal(TOKEN, { self: 'https://10.0.0.7:11001', windowMs: 1_000, clock: () => clock.now });
    const body = '{"key":"k"}';
    expect(elsewhere.verify({ method: 'POST', target: '/channel/set', body, seal: sender.seal('POST', '/channel/set', 'https://10.0.0.6:11001', body) })).toBe(true);
  });

  it('is refused from a node of another cluster, and malformed without throwing', () => {
    const { seal, request } = setUp();
    const other = new ChangeSeal('another-cluster-token-0000', { self: NODE, windowMs: 1_000, clock: () => 1_700_000_000_000 });
    expect(seal.verify({ ...request(), seal: other.seal('POST', '/channel/set', NODE, '{"key":"k"}') })).toBe(false);
    for (const junk of [undefined, '', 'v1', 'v1 t=,n=,node=,sig=', `v1 t=1,n=${'a'.repeat(16)},node=x,sig=${'%'.repeat(43)}`, 'v1 t=99999999999999999999,n=aaaaaaaaaaaaaaaa,node=x,sig=' + 'A'.repeat(43)]) {
      expect(seal.verify({ ...request(), seal: junk })).toBe(false);
    }
  });

  it('is good within the window of the receiver\'s clock, either way, and not a millisecond past it', () => {
    const { clock, seal, request } = setUp(1_000);
    const early = request();
    const late = request();
    clock.now += 1_000;
    expect(seal.verify(early)).toBe(true); // exactly the window behind
    clock.now -= 2_000;
    expect(seal.verify(late)).toBe(true); // exactly the window ahead
    const r = request();
    clock.now += 1_001;
    expect(seal.verify(r)).toBe(false);
    clock.now -= 2_002;
    expect(seal.verify(r)).toBe(false);
  });

  it('forgets nonces once their seals could no longer pass: memory is bounded by the window, with no timer', () => {
    const { clock, seal, request } = setUp(1_000);
    for (let i = 0; i < 500; i++) expect(seal.verify(request())).toBe(true);
    expect(seal.remembered).toBe(500);
    clock.now += 3_000; // two windows and more later, the first request's buckets are dropped
    expect(seal.verify(request())).toBe(true);
    expect(seal.remembered).toBe(1);
  });

  it('a clock set back does not bring a forgotten nonce back into play', () => {
    const { clock, seal, request } = setUp(1_000);
    const r = request();
    expect(seal.verify(r)).toBe(true);
    clock.now += 3_000;
    expect(seal.verify(request())).toBe(true); // forgets r's bucket
    clock.now -= 2_900; // back to within r's window
    expect(seal.verify(r)).toBe(false);
  });
});
