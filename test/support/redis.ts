// Real Redis for the tests: a redis-server (or a 3-master Redis Cluster) started from the
// machine's binary on free ports, each in its own temporary directory, stopped by the caller.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

export function redisServerBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'redis-server not found: the Redis tests need it. Install it (apt-get install redis-server) or set REDIS_URL to a Redis to use.',
    );
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A free port in the ephemeral range (for a plain server, no bus port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function waitForPing(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      client.disconnect();
    }
  }
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL when `hard`), keeping its port for start(). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

export async function startRedisServer(port?: number, extraArgs: string[] = []): Promise<RedisServer> {
  const binary = redisServerBinary();
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-redis-'));
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    child = spawn(binary, ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], {
      stdio: 'ignore',
    });
    await waitForPing(chosen);
  };
  const stop = async (hard = false): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    start,
    stop: async (hard) => {
      await stop(hard);
    },
  };
}

export interface RedisCluster {
  /** host:port of each master, for REDIS_CLUSTER_NODES. */
  readonly nodes: string[];
  stop(): Promise<void>;
}

/**
 * Three masters, no replicas. Each node also listens on port + 10000 (the cluster bus), so ports
 * are picked below the ephemeral range with both ports free.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  redisServerBinary();
  const servers: RedisServer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-cluster-'));
  let base = 0;
  for (let attempt = 0; attempt < 50 && base === 0; attempt++) {
    const candidate = 7_000 + Math.floor(Math.random() * 15_000);
    const ports = [0, 1, 2].flatMap((i) => [candidate + i, candidate + i + 10_000]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) base = candidate;
  }
  if (base === 0) throw new Error('no free ports for a Redis Cluster');
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedisServer(base + i, [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${base + i}.conf`),
          '--cluster-node-timeout', '2000',
        ]),
      );
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = servers.map((s) => execFileSync('redis-cli', ['-p', String(s.port), 'cluster', 'info'], { encoding: 'utf8' }));
      if (infos.every((i) => i.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('Redis Cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      nodes,
      stop: async () => {
        await Promise.all(servers.map((s) => s.stop(true)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop(true)));
    throw err;
  }
}

export interface RedisSentinel {
  /** host:port of the sentinel, for REDIS_SENTINELS. */
  readonly sentinels: string[];
  readonly name: string;
  stop(): Promise<void>;
}

/** A master plus one Sentinel watching it (the same redis-server binary in sentinel mode). */
export async function startRedisSentinel(): Promise<RedisSentinel> {
  const binary = redisServerBinary();
  const master = await startRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor qrelay-test 127.0.0.1 ${master.port} 1`, 'sentinel down-after-milliseconds qrelay-test 2000', ''].join('\n'),
  );
  const child = spawn(binary, [conf, '--sentinel'], { stdio: 'ignore' });
  try {
    await waitForPing(port);
  } catch (err) {
    child.kill('SIGKILL');
    await master.stop(true);
    throw err;
  }
  return {
    sentinels: [`127.0.0.1:${port}`],
    name: 'qrelay-test',
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      await master.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a Redis Cluster before the file's tests and stops it after; call at file top level. */
export function useRedisCluster(): () => RedisCluster {
  let cluster: RedisCluster | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (cluster === undefined) throw new Error('the Redis Cluster is not started yet');
    return cluster;
  };
}
