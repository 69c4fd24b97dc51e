import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      publicPort: 11000,
      publicHost: '0.0.0.0',
      privatePort: 11001,
      privateHost: '127.0.0.1',
      sessionTtlMs: 120_000,
      holdMs: 25_000,
      corsOrigins: [],
      internalToken: undefined,
      trustProxy: false,
      redisUrl: undefined,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it.each([
    ['PUBLIC_PORT', '70000', /PUBLIC_PORT.*whole number from 0 to 65535/],
    ['HOLD_MS', 'soon', /HOLD_MS.*whole number/],
    ['SESSION_TTL_MS', '5', /SESSION_TTL_MS.*from 1000/],
    ['CORS_ORIGINS', 'https://a.example/path', /CORS_ORIGINS.*origins/],
    ['INTERNAL_TOKEN', 'short', /INTERNAL_TOKEN.*at least 16/],
    ['SCAN_URL_BASE', 'ftp://x', /SCAN_URL_BASE.*http\(s\) URL/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL.*one of/],
    ['REDIS_URL', 'http://x', /REDIS_URL.*redis:\/\//],
    ['TRUST_PROXY', 'lopback', /TRUST_PROXY.*addresses, subnets/],
    ['INTERNAL_TOKEN', 'sixteen chars with spaces', /INTERNAL_TOKEN.*printable/],
    ['NODE_ADDR', 'http://10.0.0.5:11001/qrelay', /NODE_ADDR.*origin/],
    ['SESSION_GRACE_MS', '0', /SESSION_GRACE_MS.*from 1000/],
  ])('a bad %s=%s stops start-up with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('cluster mode requires INTERNAL_TOKEN', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' })).toThrow(/INTERNAL_TOKEN: required in cluster mode/);
  });

  it('parses lists and TRUST_PROXY forms', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://b.example:8080' }).corsOrigins).toEqual([
      'https://a.example',
      'http://b.example:8080',
    ]);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).toEqual(['loopback', '10.0.0.0/8']);
  });
});
