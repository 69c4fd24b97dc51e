// `data` nested too deep is a 400 naming the field, never a 500: recursive walks of it (measuring,
// storing, forwarding) would overflow the stack.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { mint, startNode } from '../support/node.js';

describe('deep JSON', () => {
  const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
  const setRaw = (url: string, key: string, dataJson: string) =>
    request(url).post('/status/set').set('Content-Type', 'application/json').send(`{"key":"${key}","status":"scanned","actor":"ann","data":${dataJson}}`);

  it('data nested thousands of levels deep is 400 invalid_data, not a 500', async () => {
    const node = await startNode();
    const s = await mint(node);
    const res = await setRaw(node.privateUrl, s.key, `{"a":${nested(5_000)}}`).expect(400);
    expect(res.body.error.code).toBe('invalid_data');
    expect(res.body.error.message).toMatch(/^data: .*32 levels/);
  });

  it('data may be nested 32 levels deep, counting the object itself, and no deeper', async () => {
    const node = await startNode();
    const s = await mint(node);
    expect((await setRaw(node.privateUrl, s.key, `{"a":${nested(32)}}`).expect(400)).body.error.code).toBe('invalid_data');
    await setRaw(node.privateUrl, s.key, `{"a":${nested(31)}}`).expect(200);
  });
});
