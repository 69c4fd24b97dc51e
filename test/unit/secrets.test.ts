import { describe, expect, it } from 'vitest';
import { hashToken, KEY_PATTERN, newKeyAndToken, secretEquals, TOKEN_PATTERN, hashesMatch } from '../../src/core/secrets.js';

describe('session secrets', () => {
  it('are well-formed and never repeat, across many refills of the random pool', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const { key, pollToken } = newKeyAndToken();
      expect(key).toMatch(KEY_PATTERN);
      expect(pollToken).toMatch(TOKEN_PATTERN);
      seen.add(key);
      seen.add(pollToken);
    }
    expect(seen.size).toBe(10_000);
  });

  it('a token matches its own hash only', () => {
    const { pollToken } = newKeyAndToken();
    const other = newKeyAndToken().pollToken;
    expect(hashesMatch(hashToken(pollToken), hashToken(pollToken))).toBe(true);
    expect(hashesMatch(hashToken(other), hashToken(pollToken))).toBe(false);
    expect(hashesMatch('', hashToken(pollToken))).toBe(false);
    expect(hashesMatch('', '')).toBe(false);
    expect(hashesMatch(hashToken(pollToken).slice(0, 20), hashToken(pollToken))).toBe(false);
  });

  it('secretEquals compares secrets of any length', () => {
    expect(secretEquals('Bearer abc', 'Bearer abc')).toBe(true);
    expect(secretEquals('Bearer abc', 'Bearer abcd')).toBe(false);
  });
});
