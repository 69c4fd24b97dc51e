// Who may call what on the private listener: INTERNAL_TOKEN (app backends) opens everything but
// the health checks, which a balancer makes without one; POST /channel/set (nodes, cluster mode
// only) takes no token, only a seal keyed from CLUSTER_TOKEN, which opens nothing else.
import request from 'supertest';
import { describe, expect, inject, it } from 'vitest';
import { CLUSTER_TOKEN, forwardChange, INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { holdPoll, mint, poll, setStatus, startNode, waitFor } from '../support/node.js';

const TOKEN = 'edges-internal-token-0123456789';

describe('the private listener', () => {
  it('/healthz and /readyz answer without a token, so balancers can check; everything else still needs it', async () => {
    const node = await startNode({ INTERNAL_TOKEN: TOKEN });
    const s = await mint(node);
    expect((await request(node.privateUrl).get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
    expect((await request(node.privateUrl).get('/readyz').expect(200)).body).toEqual({ status: 'ready' });
    for (const res of [
      await request(node.privateUrl).get('/metrics'),
      await request(node.privateUrl).get('/status/peek').query({ key: s.key }),
      await request(node.privateUrl).post('/healthz'),
      await setStatus(node, { key: s.key, status: 'scanned' }),
    ]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
    await request(node.privateUrl).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);
  });

  it('in memory mode there are no peers: POST /channel/set does not exist', async () => {
    for (const node of [await startNode(), await startNode({ INTERNAL_TOKEN: TOKEN })]) {
      const s = await mint(node);
      const res = await request(node.privateUrl)
        .post('/channel/set')
        .set('Authorization', `Bearer ${TOKEN}`)
        .send({ key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { name: 'Your Bank Security Team' } })
        .expect(404);
      expect(res.body.error.code).toBe('no_route');
    }
  });
});

describe('CLUSTER_TOKEN (cluster mode)', () => {
  const redis = () => ({ REDIS_URL: inject('redisUrl') });

  it('POST /channel/set takes a seal and nothing else: no bearer token opens it, INTERNAL_TOKEN and CLUSTER_TOKEN included', async () => {
    const { nodes: [a] } = await startNodes(1, redis(), { HOLD_MS: '5000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    const forged = { key: s.key, status: 'scanned', version: 1, expiresAt: s.expiresAt, data: { name: 'Your Bank Security Team' } };
    for (const auth of [undefined, `Bearer ${INTERNAL_TOKEN}`, `Bearer ${CLUSTER_TOKEN}`, CLUSTER_TOKEN]) {
      const req = request(a!.privateUrl).post('/channel/set');
      const res = await (auth === undefined ? req : req.set('Authorization', auth)).send(forged).expect(401);
      expect(res.body.error.code).toBe('invalid_seal');
    }
    expect(a!.polls.size).toBe(1);
    const stale = { key: s.key, status: 'pending', version: 0, expiresAt: s.expiresAt };
    expect((await forwardChange(a!, stale)).status).toBe(200); // its seal
    await setStatus(a!, { key: s.key, status: 'scanned', actor: 'u' }, INTERNAL_TOKEN).expect(200);
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
  });

  it('CLUSTER_TOKEN opens nothing else on the private listener', async () => {
    const { nodes: [a] } = await startNodes(1, redis());
    const s = await mint(a!);
    const peer = `Bearer ${CLUSTER_TOKEN}`;
    for (const res of [
      await setStatus(a!, { key: s.key, status: 'scanned', actor: 'u' }, CLUSTER_TOKEN),
      await request(a!.privateUrl).get('/status/peek').query({ key: s.key }).set('Authorization', peer),
      await request(a!.privateUrl).get('/metrics').set('Authorization', peer),
    ]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthorized');
    }
  });

  it('nodes seal with CLUSTER_TOKEN: a set on B still wakes a poll held on A', async () => {
    const { nodes: [a, b] } = await startNodes(2, redis(), { HOLD_MS: '5000' });
    const s = await mint(a!);
    const held = (await holdPoll(a!, s)).answer;
    const set = await setStatus(b!, { key: s.key, status: 'scanned', actor: 'u' }, INTERNAL_TOKEN).expect(200);
    expect(set.body.delivered).toBe(true);
    expect((await held).body).toMatchObject({ status: 'scanned', version: 1 });
  });
});
