import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, unsafeSettings } from '../../src/config.js';
import { testPki, type TestPki } from '../support/tls.js';

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
    ['REDIS_MIN_REPLICAS', 'one', /REDIS_MIN_REPLICAS.*whole number from 0 to 16/],
    ['REDIS_REPLICA_WAIT_MS', '0', /REDIS_REPLICA_WAIT_MS.*whole number from 1 to 1500/],
  ])('a bad %s=%s stops start-up with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('waits for one replica by default with Sentinel or Redis Cluster, for none with REDIS_URL', () => {
    const cluster = { INTERNAL_TOKEN: 'internal-token-0123456789', CLUSTER_TOKEN: 'cluster-token-0123456789' };
    expect(loadConfig({ ...cluster, REDIS_URL: 'redis://127.0.0.1:6379' })).toMatchObject({ redisMinReplicas: 0, redisReplicaWaitMs: 250 });
    expect(loadConfig({ ...cluster, REDIS_SENTINELS: '127.0.0.1:26379' }).redisMinReplicas).toBe(1);
    expect(loadConfig({ ...cluster, REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).redisMinReplicas).toBe(1);
    expect(loadConfig({ ...cluster, REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_MIN_REPLICAS: '0' }).redisMinReplicas).toBe(0);
    expect(loadConfig({ ...cluster, REDIS_URL: 'redis://127.0.0.1:6379', REDIS_MIN_REPLICAS: '2' }).redisMinReplicas).toBe(2);
    expect(loadConfig({}).redisMinReplicas).toBe(0);
  });

  it('cluster mode requires INTERNAL_TOKEN', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', CLUSTER_TOKEN: 'cluster-token-0123456789' })).toThrow(
      /INTERNAL_TOKEN: required in cluster mode/,
    );
  });

  describe('CLUSTER_TOKEN', () => {
    const cluster = { REDIS_URL: 'redis://127.0.0.1:6379', INTERNAL_TOKEN: 'internal-token-0123456789' };

    it('is required in cluster mode', () => {
      expect(() => loadConfig(cluster)).toThrow(/CLUSTER_TOKEN: required in cluster mode/);
      expect(loadConfig({ ...cluster, CLUSTER_TOKEN: 'cluster-token-0123456789' }).clusterToken).toBe('cluster-token-0123456789');
    });

    it('is at least 16 printable characters', () => {
      for (const bad of ['short', 'sixteen chars with spaces']) {
        expect(() => loadConfig({ ...cluster, CLUSTER_TOKEN: bad })).toThrow(/CLUSTER_TOKEN.*at least 16 printable/);
      }
    });

    it('is refused when equal to INTERNAL_TOKEN (app backends hold that one)', () => {
      expect(() => loadConfig({ ...cluster, CLUSTER_TOKEN: cluster.INTERNAL_TOKEN })).toThrow(/CLUSTER_TOKEN: must differ from INTERNAL_TOKEN/);
    });
  });

  describe('a private listener off loopback', () => {
    it.each(['0.0.0.0', '10.0.0.5', '::', 'qrelay.internal'])('PRIVATE_HOST=%s without INTERNAL_TOKEN is refused', (host) => {
      expect(() => loadConfig({ PRIVATE_HOST: host })).toThrow(/PRIVATE_HOST: .*INTERNAL_TOKEN.*ALLOW_OPEN_PRIVATE=1/);
    });

    it.each(['127.0.0.1', '127.0.0.2', '::1', 'localhost'])('PRIVATE_HOST=%s (loopback) needs no token', (host) => {
      expect(loadConfig({ PRIVATE_HOST: host }).privateHost).toBe(host);
    });

    it('is allowed with INTERNAL_TOKEN, or with ALLOW_OPEN_PRIVATE=1', () => {
      expect(loadConfig({ PRIVATE_HOST: '0.0.0.0', INTERNAL_TOKEN: 'internal-token-0123456789' }).privateHost).toBe('0.0.0.0');
      expect(loadConfig({ PRIVATE_HOST: '0.0.0.0', ALLOW_OPEN_PRIVATE: '1' }).allowOpenPrivate).toBe(true);
      expect(() => loadConfig({ ALLOW_OPEN_PRIVATE: 'yes' })).toThrow(/ALLOW_OPEN_PRIVATE.*0 or 1/);
    });
  });

  describe('errors never show a secret', () => {
    it.each([
      ['INTERNAL_TOKEN', 'my real secret with spaces', {}],
      ['CLUSTER_TOKEN', 'my cluster secret with spaces', {}],
      ['REDIS_URL', 'http://user:pa55-w0rd-secret@redis.internal:6379', {}],
      ['CLUSTER_TOKEN', 'same-secret-for-both-0123', { REDIS_URL: 'redis://127.0.0.1:6379', INTERNAL_TOKEN: 'same-secret-for-both-0123' }],
      ['INTERNAL_TOKEN', 'short-secret', {}],
    ] as Array<[string, string, Record<string, string>]>)('a refused %s names the variable, not its value', (name, value, rest) => {
      const env = { ...rest, [name]: value };
      let message = '';
      try {
        loadConfig(env);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as ConfigError).message;
      }
      expect(message).not.toBe('');
      for (const secret of [value, 'pa55-w0rd-secret', 'secret with spaces', ...Object.values(rest).filter((v) => v.length >= 16)]) {
        expect(message).not.toContain(secret);
      }
      expect(message).toMatch(/INTERNAL_TOKEN|CLUSTER_TOKEN|REDIS_URL/);
    });

    it('other values are still shown, to help find the mistake', () => {
      expect(() => loadConfig({ PUBLIC_PORT: '70000' })).toThrow(/PUBLIC_PORT="70000"/);
    });
  });

  it('RECEIVE_TIMEOUT_MS bounds the time to receive a request, 5 s by default', () => {
    expect(loadConfig({}).receiveTimeoutMs).toBe(5_000);
    expect(loadConfig({ RECEIVE_TIMEOUT_MS: '300' }).receiveTimeoutMs).toBe(300);
    expect(() => loadConfig({ RECEIVE_TIMEOUT_MS: '5' })).toThrow(/RECEIVE_TIMEOUT_MS.*from 100/);
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

  it('MAX_TOKEN_FAILURES counts per address per minute, 30 by default', () => {
    expect(loadConfig({}).tokenFailuresPerIpPerMinute).toBe(30);
    expect(loadConfig({ MAX_TOKEN_FAILURES: '5000' }).tokenFailuresPerIpPerMinute).toBe(5_000);
    expect(() => loadConfig({ MAX_TOKEN_FAILURES: '0' })).toThrow(/MAX_TOKEN_FAILURES="0"/);
  });
});

describe('unsafe settings', () => {
  const SAFE = { INTERNAL_TOKEN: 'an-internal-token-0123456789', SCAN_URL_BASE: 'https://login.example/scan' };

  it('none for a deployment that sets INTERNAL_TOKEN and SCAN_URL_BASE and trusts listed proxies', () => {
    expect(unsafeSettings(loadConfig(SAFE))).toEqual([]);
    expect(unsafeSettings(loadConfig({ ...SAFE, TRUST_PROXY: 'loopback, 10.0.0.0/8' }))).toEqual([]);
    expect(unsafeSettings(loadConfig({ ...SAFE, TRUST_PROXY: '1' }))).toEqual([]);
  });

  it('a trial start (nothing set) is told of the open private listener and the demo scan page, one message each', () => {
    const unsafe = unsafeSettings(loadConfig({}));
    expect(unsafe.map((u) => u.setting)).toEqual(['INTERNAL_TOKEN', 'SCAN_URL_BASE']);
    const messages = unsafe.map((u) => u.message);
    expect(messages[0]).toMatch(/^INTERNAL_TOKEN is not set: anyone .* can confirm logins and redeem tickets/);
    expect(messages[1]).toMatch(/^SCAN_URL_BASE is left at the demo's phone page: .*http:\/\/localhost:11000\/scan\.html.*DEMO=1/);
  });

  it('TRUST_PROXY=true is named, and the message steers to a list of proxies', () => {
    expect(unsafeSettings(loadConfig({ ...SAFE, TRUST_PROXY: 'true' }))).toEqual([
      { setting: 'TRUST_PROXY', message: expect.stringMatching(/^TRUST_PROXY=true: .*addresses or subnets/) },
    ]);
  });

  it("the demo's scan page is no warning with DEMO=1, and is one when SCAN_URL_BASE names it explicitly without it", () => {
    expect(unsafeSettings(loadConfig({ INTERNAL_TOKEN: SAFE.INTERNAL_TOKEN, DEMO: '1' }))).toEqual([]);
    const named = loadConfig({ INTERNAL_TOKEN: SAFE.INTERNAL_TOKEN, PUBLIC_PORT: '8080', SCAN_URL_BASE: 'http://localhost:8080/scan.html' });
    expect(unsafeSettings(named).map((u) => u.setting)).toEqual(['SCAN_URL_BASE']);
  });
});

describe('node-link settings', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = testPki();
    return () => pki.remove();
  });
  const cluster = { REDIS_URL: 'redis://127.0.0.1:6379', INTERNAL_TOKEN: 'internal-token-0123456789', CLUSTER_TOKEN: 'cluster-token-0123456789' };
  const refusal = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('the configuration was accepted');
  };

  it('CLUSTER_SEAL_WINDOW_MS is 30 s by default, 1 s to 2 min', () => {
    expect(loadConfig({}).clusterSealWindowMs).toBe(30_000);
    expect(loadConfig({ CLUSTER_SEAL_WINDOW_MS: '5000' }).clusterSealWindowMs).toBe(5_000);
    expect(refusal({ CLUSTER_SEAL_WINDOW_MS: '999' })).toMatch(/CLUSTER_SEAL_WINDOW_MS="999": must be a whole number from 1000 to 120000/);
    // The nonces of a longer window would fill the replay cache at a few thousand forwards a second.
    expect(refusal({ CLUSTER_SEAL_WINDOW_MS: '120001' })).toMatch(/CLUSTER_SEAL_WINDOW_MS="120001": must be a whole number from 1000 to 120000/);
  });

  it('reads PEM files once: the private listener\'s certificate and key, CLUSTER_CA, REDIS_TLS_CA', () => {
    const c = loadConfig({ ...cluster, REDIS_URL: 'rediss://127.0.0.1:6379', PRIVATE_TLS_CERT: pki.node.cert, PRIVATE_TLS_KEY: pki.node.key, CLUSTER_CA: pki.ca, REDIS_TLS_CA: pki.ca });
    expect(c.privateTlsCert?.toString()).toBe(readFileSync(pki.node.cert, 'utf8'));
    expect(c.privateTlsKey?.toString()).toBe(readFileSync(pki.node.key, 'utf8'));
    expect(c.clusterCa?.toString()).toBe(readFileSync(pki.ca, 'utf8'));
    expect(c.redisTlsCa?.toString()).toBe(readFileSync(pki.ca, 'utf8'));
  });

  it('a certificate without its key, or a key without its certificate, is refused naming the missing one', () => {
    expect(refusal({ PRIVATE_TLS_CERT: pki.node.cert })).toMatch(/PRIVATE_TLS_KEY: required when PRIVATE_TLS_CERT is set/);
    expect(refusal({ PRIVATE_TLS_KEY: pki.node.key })).toMatch(/PRIVATE_TLS_CERT: required when PRIVATE_TLS_KEY is set/);
    expect(refusal({ PRIVATE_TLS_CERT: pki.node.cert, PRIVATE_TLS_KEY: pki.rogue.key })).toMatch(/PRIVATE_TLS_KEY: is not the key of the certificate/);
  });

  it('an unreadable or non-PEM file is refused naming the variable, and its contents are never shown', () => {
    const missing = join(pki.dir, 'missing.pem');
    expect(refusal({ CLUSTER_CA: missing })).toMatch(/CLUSTER_CA=".*missing\.pem": cannot be read \(ENOENT\)/);
    const junk = join(pki.dir, 'junk.pem');
    writeFileSync(junk, 'SECRET-MATERIAL-must-not-be-printed');
    for (const variable of ['PRIVATE_TLS_CERT', 'PRIVATE_TLS_KEY', 'CLUSTER_CA', 'REDIS_TLS_CA']) {
      const message = refusal({ [variable]: junk });
      expect(message).toMatch(new RegExp(`${variable}=".*junk\\.pem": is not a PEM (certificate|private key)`));
      expect(message).not.toContain('SECRET-MATERIAL');
    }
    // A key where a certificate belongs (and the reverse): its contents stay out of the message too.
    const keyAsCert = refusal({ PRIVATE_TLS_CERT: pki.node.key, PRIVATE_TLS_KEY: pki.node.key });
    expect(keyAsCert).toMatch(/PRIVATE_TLS_CERT=.*is not a PEM certificate/);
    expect(keyAsCert).not.toContain('PRIVATE KEY-----');
  });

  it('NODE_ADDR must be https:// when the private listener serves https; REDIS_TLS_CA needs a rediss:// REDIS_URL', () => {
    const tls = { PRIVATE_TLS_CERT: pki.node.cert, PRIVATE_TLS_KEY: pki.node.key };
    expect(refusal({ ...cluster, ...tls, NODE_ADDR: 'http://10.0.0.5:11001' })).toMatch(/NODE_ADDR: must be an https:\/\/ origin/);
    expect(loadConfig({ ...cluster, ...tls, NODE_ADDR: 'https://10.0.0.5:11001' }).nodeAddr).toBe('https://10.0.0.5:11001');
    expect(refusal({ ...cluster, REDIS_TLS_CA: pki.ca })).toMatch(/REDIS_TLS_CA: set, but REDIS_URL is redis:\/\//);
    expect(loadConfig({ INTERNAL_TOKEN: cluster.INTERNAL_TOKEN, CLUSTER_TOKEN: cluster.CLUSTER_TOKEN, REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_TLS_CA: pki.ca }).redisTlsCa).toBeDefined();
  });
});
