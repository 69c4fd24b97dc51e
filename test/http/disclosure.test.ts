// What a session key tells whoever holds it: the QR image of a session still pending, under its
// per-address limit, and nothing from the time a poll takes with a wrong token.
import request from 'supertest';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MemoryStore } from '../../src/core/memory-store.js';
import { mint, poll, setStatus, startNode, waitFor } from '../support/node.js';

describe('what a key reveals', () => {
  it('the QR image answers only for a session still pending', async () => {
    let now = Date.now();
    const node = await startNode({ SESSION_TTL_MS: '60000' }, { clock: () => now });
    const qr = (key: string) => request(node.publicUrl).get('/status/qr.svg').query({ key });
    const [pending, scanned, expiring] = [await mint(node), await mint(node), await mint(node)];
    await setStatus(node, { key: scanned.key, status: 'scanned' }).expect(200);
    await qr(pending.key).expect(200);
    expect((await qr(scanned.key).expect(404)).body.error.code).toBe('not_found');
    now += 60_001;
    await qr(expiring.key).expect(404);
    await qr('B'.repeat(22)).expect(404);
  });

  it('the QR limit counts unknown keys too: it applies before the lookup', async () => {
    const node = await startNode({ RATE_QR_PER_IP: '2' });
    const s = await mint(node);
    for (let i = 0; i < 2; i++) await request(node.publicUrl).get('/status/qr.svg').query({ key: 'B'.repeat(22) }).expect(404);
    expect((await request(node.publicUrl).get('/status/qr.svg').query({ key: s.key }).expect(429)).body.error.code).toBe('rate_limited');
  });

  it('a wrong token is answered without waiting for it to be counted, as an unknown key is', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    class SlowDestroy extends MemoryStore {
      override async destroy(key: string): Promise<void> {
        await released;
        await super.destroy(key);
      }
    }
    onTestFinished(() => release());
    const node = await startNode({ MAX_TOKEN_FAILURES: '1' }, { store: new SlowDestroy({ graceMs: 60_000 }) });
    const s = await mint(node);
    const wrong = { key: s.key, pollToken: 'W'.repeat(43) };
    await poll(node, wrong, { wait: 0 }).expect(404);
    // The second wrong token destroys the session; its 404 must not wait for the store to do it.
    await poll(node, wrong, { wait: 0 }).timeout(2_000).expect(404);
    release();
    await waitFor(async () => (await poll(node, s, { wait: 0 })).status === 404, 3_000, 'the session to be destroyed');
  });
});
