// TLS where nodes talk over a network: the private listener over https (PRIVATE_TLS_CERT and
// PRIVATE_TLS_KEY), forwards that verify the holder's certificate against CLUSTER_CA, and Redis
// over TLS (rediss://, REDIS_TLS_CA). Certificates are made by the test (support/tls.ts).
import request from 'supertest';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { holdPoll, mint, poll, setStatus } from '../support/node.js';
import { redisHasTls, startTlsRedis, testPki, type TestPki } from '../support/tls.js';

let pki: TestPki;
beforeAll(() => {
  pki = testPki();
  return () => pki.remove();
});

const redisEnv = () => ({ REDIS_URL: inject('redisUrl') });

/** The value of one series of a node's metrics, 0 when it has none yet. */
async function metric(node: { metrics: { registry: { metrics(): Promise<string> } } }, series: string): Promise<number> {
  const line = (await node.metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('private TLS', () => {
  it('a set on node B wakes a poll held on node A over https, the holder\'s certificate verified against CLUSTER_CA', async () => {
    const tls = { PRIVATE_TLS_CERT: pki.node.cert, PRIVATE_TLS_KEY: pki.node.key, CLUSTER_CA: pki.ca, HOLD_MS: '10000' };
    const { nodes: [a, b] } = await startNodes(2, redisEnv(), tls);
    expect(a!.privateUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(a!.nodeAddr).toBe(a!.privateUrl); // what B forwards to
    await request(a!.privateUrl).get('/healthz').ca(readFileSync(pki.ca)).expect(200);
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    const set = await setStatus(b!, { key: s.key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).ca(readFileSync(pki.ca)).expect(200);
    expect(set.body.delivered).toBe(true);
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1, data: { name: 'Ann' } });
    expect(await metric(b!, 'qrelay_forwards_total')).toBe(1);
  });

  it('a forward to a holder whose certificate CLUSTER_CA did not sign fails: the set answers 200, delivered false, and the failure is counted as tls', async () => {
    const { nodes: [a], prefix } = await startNodes(1, redisEnv(), { PRIVATE_TLS_CERT: pki.rogue.cert, PRIVATE_TLS_KEY: pki.rogue.key, HOLD_MS: '10000' });
    const { nodes: [b] } = await startNodes(1, redisEnv(), { REDIS_PREFIX: prefix, PRIVATE_TLS_CERT: pki.node.cert, PRIVATE_TLS_KEY: pki.node.key, CLUSTER_CA: pki.ca });
    const s = await mint(a!);
    await holdPoll(a!, s);
    const set = await setStatus(b!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).ca(readFileSync(pki.ca)).expect(200);
    expect(set.body).toMatchObject({ status: 'scanned', version: 1, delivered: false });
    expect(await metric(b!, 'qrelay_forward_failures_total{cause="tls"}')).toBe(1);
    expect(a!.polls.size).toBe(1); // nothing reached A: its poll learns on its next request
    expect((await poll(a!, s, { wait: 0 }).expect(200)).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('plain http to a private listener serving https gets no answer from it', async () => {
    const { nodes: [a] } = await startNodes(1, redisEnv(), { PRIVATE_TLS_CERT: pki.node.cert, PRIVATE_TLS_KEY: pki.node.key });
    const plain = a!.privateUrl.replace('https:', 'http:');
    await expect(fetch(`${plain}/healthz`)).rejects.toThrow();
  });
});

// Run only where redis-server was built with TLS; elsewhere the skip says why, in the test's name.
const tlsRedis = redisHasTls();
describe.skipIf(!tlsRedis)(`Redis over TLS${tlsRedis ? '' : ' (skipped: this redis-server is built without TLS)'}`, () => {
  it('a node reaches a TLS-only Redis at a rediss:// URL with REDIS_TLS_CA: sessions, sets and polls work', async () => {
    const redis = await startTlsRedis(pki);
    try {
      const { nodes: [a, b] } = await startNodes(2, { REDIS_URL: redis.url }, { REDIS_TLS_CA: pki.ca, HOLD_MS: '10000' });
      await request(a!.privateUrl).get('/readyz').expect(200);
      const s = await mint(a!);
      const held = (await holdPoll(a!, s)).answer;
      expect((await setStatus(b!, { key: s.key, status: 'scanned', actor: 'ann' }, INTERNAL_TOKEN).expect(200)).body.delivered).toBe(true);
      expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
    } finally {
      redis.stop();
    }
  });

  it('a Redis whose certificate REDIS_TLS_CA did not sign is not reached: the node is not ready', async () => {
    const redis = await startTlsRedis(pki);
    try {
      const { nodes: [a] } = await startNodes(1, { REDIS_URL: redis.url }, { REDIS_TLS_CA: pki.rogueCa });
      const res = await request(a!.privateUrl).get('/readyz').expect(503);
      expect(res.body.error.code).toBe('not_ready');
    } finally {
      redis.stop();
    }
  });
});
