// The pooled CSPRNG read, against a recorded stream: every byte the CSPRNG produced is issued
// exactly once, in order, as key then token, across refills of the pool.
import { describe, expect, it, vi } from 'vitest';

const produced: number[] = [];
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return {
    ...real,
    randomFillSync: <T extends NodeJS.ArrayBufferView>(buffer: T): T => {
      real.randomFillSync(buffer);
      const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      produced.push(...bytes);
      return buffer;
    },
  };
});

const { newKeyAndToken } = await import('../../src/core/secrets.js');

describe('the pooled CSPRNG read', () => {
  it('issues each byte once, in order, 16 for the key and 32 for the token, across refills', () => {
    const issued: number[] = [];
    for (let i = 0; i < 100; i++) {
      const { key, pollToken } = newKeyAndToken();
      const keyBytes = Buffer.from(key, 'base64url');
      const tokenBytes = Buffer.from(pollToken, 'base64url');
      expect(keyBytes).toHaveLength(16);
      expect(tokenBytes).toHaveLength(32);
      issued.push(...keyBytes, ...tokenBytes);
    }
    expect(produced.length).toBeGreaterThan(48 * 16); // the pool was refilled
    expect(issued).toEqual(produced.slice(0, issued.length));
  });
});
