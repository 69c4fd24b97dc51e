// Certificates for the TLS tests, made with the machine's openssl in a temporary directory: a CA
// and a node certificate it signed (SAN 127.0.0.1 and localhost), and a second, rogue CA with a
// node certificate of its own (same names, so only the signature tells them apart). P-256 keys:
// quick to make. Made once per test file (in beforeAll, which returns the teardown).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { childEnv } from './env.js';
import { onFreePorts, PortClash } from './ports.js';
import { redisServerBinary } from './redis.js';

export interface NodeCert {
  /** PEM file paths. */
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  /** The cluster's CA (PEM file path) and a node certificate it signed. */
  readonly ca: string;
  readonly node: NodeCert;
  /** Another CA, and a node certificate it signed: what CLUSTER_CA must refuse. */
  readonly rogueCa: string;
  readonly rogue: NodeCert;
  /** Removes the directory. */
  remove(): void;
}

const openssl = (dir: string, args: string[]): void => {
  execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: 'pipe', env: childEnv() });
};

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-subj', `/CN=qrelay test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function makeNodeCert(dir: string, name: string, ca: string): NodeCert {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=127.0.0.1']);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2',
    '-out', `${name}.pem`, '-extfile', 'node.ext',
  ]);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

/** Makes the certificates in a new temporary directory. */
export function testPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-pki-'));
  writeFileSync(join(dir, 'node.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n');
  makeCa(dir, 'ca');
  makeCa(dir, 'rogue-ca');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    node: makeNodeCert(dir, 'node', 'ca'),
    rogueCa: join(dir, 'rogue-ca.pem'),
    rogue: makeNodeCert(dir, 'rogue', 'rogue-ca'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Whether this machine's redis-server was built with TLS: one without it refuses `tls-port` as
 * an unknown directive; one with it gets as far as loading the (missing) certificate.
 */
export function redisHasTls(): boolean {
  const run = spawnSync(redisServerBinary(), ['--port', '0', '--tls-port', '1', '--tls-cert-file', '/nonexistent', '--tls-key-file', '/nonexistent', '--tls-auth-clients', 'no'], {
    encoding: 'utf8',
    timeout: 5_000,
    env: childEnv(),
  });
  return !/Bad directive|wrong number of arguments/i.test(`${run.stdout}${run.stderr}`);
}

/**
 * A redis-server that speaks only TLS, with the node certificate of `pki`, on a free port. Its
 * URL is rediss://; the caller stops it.
 */
export async function startTlsRedis(pki: TestPki): Promise<{ url: string; stop(): void }> {
  return onFreePorts(1, async ([port]) => {
    const logFile = join(pki.dir, `redis-${port}.log`);
    const child = spawn(
      redisServerBinary(),
      [
        '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', pki.dir, '--logfile', logFile,
        '--tls-cert-file', pki.node.cert, '--tls-key-file', pki.node.key, '--tls-ca-cert-file', pki.ca, '--tls-auth-clients', 'no',
      ],
      { stdio: 'ignore', env: childEnv() },
    );
    let exited = false;
    child.once('exit', () => (exited = true));
    const ca = readFileSync(pki.ca);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (exited) {
        const log = readFileSync(logFile, 'utf8');
        if (/address already in use/i.test(log)) throw new PortClash(`redis-server could not bind ${port}`);
        throw new Error(`redis-server with TLS on ${port} exited at start:\n${log}`);
      }
      const client = new Redis({ port, host: '127.0.0.1', tls: { ca }, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      const pid = await client
        .connect()
        .then(() => client.info('server'))
        .then((info) => Number(/^process_id:(\d+)/m.exec(info)?.[1]))
        .catch(() => undefined)
        .finally(() => client.disconnect());
      if (pid === child.pid) return { url: `rediss://127.0.0.1:${port}`, stop: () => void child.kill('SIGKILL') };
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server with TLS on ${port} did not answer within 10 s`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  });
}
