// Real Redis for the tests: a redis-server, a 3-master Redis Cluster, or a master watched by a
// Sentinel, started from the machine's redis-server binary on ports the kernel picks (see
// ports.ts), each in its own temporary directory, stopped by the caller. A server counts as
// started only once the process answering on its port is the one started here (INFO's
// process_id), so a port taken by another copy of the suite is never mistaken for ours.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, onTestFinished } from 'vitest';
import { childEnv } from './env.js';
import { onFreePorts, PortClash, portFree } from './ports.js';

export function redisServerBinary(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8', env: childEnv() }).trim();
  } catch {
    throw new Error(
      'redis-server not found: the Redis tests need it. Install it (apt-get install redis-server) or set REDIS_URL to a Redis to use.',
    );
  }
}

/** Opens a short-lived client on `port` and runs `use` with it. */
async function withClient<T>(port: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

const processIdOf = (info: string): number => Number(/^process_id:(\d+)/m.exec(info)?.[1]);

/**
 * Starts redis-server with `args` (which must make it log to `logFile`) and resolves once it
 * answers on `port`. Rejects with PortClash when it exits because the port (or its cluster bus
 * port) is taken; on any failure the child is gone.
 */
async function spawnRedis(binary: string, args: string[], port: number, logFile: string, timeoutMs = 10_000): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: 'ignore', env: childEnv() });
  let exited = false;
  child.once('exit', () => (exited = true));
  const log = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      const text = log();
      if (/address already in use/i.test(text)) throw new PortClash(`redis-server could not bind port ${port} (or its bus port)`);
      throw new Error(`redis-server on port ${port} exited at start:\n${text}`);
    }
    const pid = await withClient(port, async (c) => processIdOf(await c.info('server'))).catch(() => undefined);
    if (pid === child.pid) return child;
    // Nothing answers yet, or another process holds the port (then ours is about to exit).
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function kill(child: ChildProcess | undefined, hard: boolean): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(hard ? 'SIGKILL' : 'SIGTERM');
  await exited;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGKILL when `hard`), keeping its port for start(). */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

/** A redis-server on `port`, or on a free port the kernel picks when `port` is not given. */
export async function startRedisServer(port?: number, extraArgs: string[] = []): Promise<RedisServer> {
  if (port === undefined) return onFreePorts(1, ([free]) => startRedisServer(free, extraArgs));
  const binary = redisServerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-redis-'));
  const logFile = join(dir, 'redis.log');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', logFile, ...extraArgs];
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = await spawnRedis(binary, args, port, logFile);
  };
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop: async (hard = false) => {
      const running = child;
      child = undefined;
      await kill(running, hard);
    },
  };
}

/** A redis-server of the current test's own, stopped when the test finishes. */
export async function redisServerForTest(extraArgs: string[] = []): Promise<RedisServer> {
  const server = await startRedisServer(undefined, extraArgs);
  onTestFinished(() => server.stop(true));
  return server;
}

export interface RedisWithReplica {
  readonly primary: RedisServer;
  /** The replica (`--replicaof` the primary), for reading what it holds. */
  readonly replica: RedisServer;
  /**
   * Freezes the replica's process (SIGSTOP): it applies and acknowledges nothing, while its
   * connection to the primary stays open, as a replica lagging behind would.
   */
  pauseReplica(): void;
  /** Lets it run again (SIGCONT); it catches up from where it stopped. */
  resumeReplica(): void;
  stop(): Promise<void>;
}

/** The line `field:value` of an INFO section, or '' when absent. */
const infoField = (info: string, field: string): string => new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';

/** A primary and one replica of it, once the replica is in step. */
export async function startRedisWithReplica(): Promise<RedisWithReplica> {
  // Without the delay, a full sync starts at once rather than 5 s later (in case more replicas come).
  const primary = await startRedisServer(undefined, ['--repl-diskless-sync-delay', '0']);
  let replica: RedisServer | undefined;
  try {
    replica = await startRedisServer(undefined, ['--replicaof', '127.0.0.1', String(primary.port)]);
    const replicaPort = replica.port;
    const pid = await withClient(replicaPort, async (c) => processIdOf(await c.info('server')));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [mine, theirs] = await Promise.all([withClient(replicaPort, (c) => c.info('replication')), withClient(primary.port, (c) => c.info('replication'))]);
      if (infoField(mine, 'master_link_status') === 'up' && /^slave0:.*state=online/m.test(theirs)) break;
      if (Date.now() > deadline) throw new Error(`the replica on port ${replicaPort} did not get in step:\n${mine}\n${theirs}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const signal = (name: NodeJS.Signals): void => {
      process.kill(pid, name);
    };
    let paused = false;
    const frozen = replica;
    return {
      primary,
      replica: frozen,
      pauseReplica: () => {
        signal('SIGSTOP');
        paused = true;
      },
      resumeReplica: () => {
        signal('SIGCONT');
        paused = false;
      },
      stop: async () => {
        if (paused) signal('SIGCONT');
        await Promise.all([frozen.stop(true), primary.stop(true)]);
      },
    };
  } catch (err) {
    await Promise.all([replica?.stop(true), primary.stop(true)]);
    throw err;
  }
}

/** A primary and replica of the current test's own, stopped when the test finishes. */
export async function redisWithReplicaForTest(): Promise<RedisWithReplica> {
  const pair = await startRedisWithReplica();
  onTestFinished(() => pair.stop());
  return pair;
}

export interface RedisCluster {
  /** host:port of each master, for REDIS_CLUSTER_NODES. */
  readonly nodes: string[];
  stop(): Promise<void>;
}

/** A Redis Cluster node also listens on its port + 10000 (the cluster bus). */
const BUS_OFFSET = 10_000;
const SLOTS = 16_384;

/** A cluster node on a free port whose bus port is free too. */
function startClusterNode(dir: string): Promise<RedisServer> {
  return onFreePorts(
    1,
    async ([port]) => {
      const bus = port! + BUS_OFFSET;
      // The probe shows the bus port is free now; if it is taken before redis binds it, redis exits
      // and spawnRedis reports the clash.
      if (bus > 65_535 || !(await portFree(bus))) throw new PortClash(`bus port ${bus} is not usable`);
      return startRedisServer(port, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000']);
    },
    50,
  );
}

/**
 * Three masters, no replicas, the slots split in three. Built with cluster commands (what
 * `redis-cli --cluster create` does), so redis-server is the only binary needed.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-cluster-'));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop(true)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) servers.push(await startClusterNode(dir));
    const share = Math.ceil(SLOTS / servers.length);
    for (const [i, s] of servers.entries()) {
      const slots = Array.from({ length: Math.min(share, SLOTS - i * share) }, (_, j) => i * share + j);
      await withClient(s.port, async (c) => {
        await c.call('CLUSTER', 'ADDSLOTS', ...slots.map(String));
        await c.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
      });
    }
    await withClient(servers[0]!.port, async (c) => {
      for (const s of servers.slice(1)) await c.call('CLUSTER', 'MEET', '127.0.0.1', String(s.port));
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(servers.map((s) => withClient(s.port, (c) => c.call('CLUSTER', 'INFO')).catch(() => '')));
      if (infos.every((info) => String(info).includes('cluster_state:ok') && String(info).includes(`cluster_known_nodes:${servers.length}`))) break;
      if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok:\n${infos.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { nodes: servers.map((s) => `127.0.0.1:${s.port}`), stop };
  } catch (err) {
    await stop();
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
  const name = 'qrelay-test';
  try {
    const { port, child } = await onFreePorts(1, async ([port]) => {
      const conf = join(dir, `sentinel-${port}.conf`);
      const logFile = join(dir, `sentinel-${port}.log`);
      writeFileSync(
        conf,
        [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `logfile ${logFile}`, `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`, `sentinel down-after-milliseconds ${name} 2000`, ''].join('\n'),
      );
      return { port: port!, child: await spawnRedis(binary, [conf, '--sentinel'], port!, logFile) };
    });
    return {
      sentinels: [`127.0.0.1:${port}`],
      name,
      stop: async () => {
        await kill(child, true);
        await master.stop(true);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await master.stop(true);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
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
