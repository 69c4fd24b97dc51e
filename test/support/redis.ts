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

// ---- Failover topologies -------------------------------------------------------------------
// A primary with replicas watched by three Sentinels, and a Redis Cluster of three primaries with
// a replica each, for tests that pause, kill and restart single redis-server processes. Every
// wait here is for a condition the servers report (role, link, offsets, the Sentinels' answer,
// cluster_state), bounded by a generous deadline, since a busy machine only makes them slower.

/** Polls `cond` every 50 ms until it holds; throws after `timeoutMs` naming `what`. */
async function until(cond: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The lines `name:value` of an INFO section, as a map. */
function infoFields(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  return fields;
}

/**
 * One redis-server (or Sentinel) process that a test may pause (SIGSTOP), resume, kill and start
 * again on the same port, with other arguments if it must come back as someone's replica.
 */
export interface RedisProcess {
  readonly port: number;
  /** host:port */
  readonly addr: string;
  /** Whether it is started and not paused: whether asking it something gets an answer. */
  readonly answering: boolean;
  /** SIGSTOP: the process keeps its sockets and answers nothing until resume(). */
  pause(): void;
  resume(): void;
  /** Stops it (SIGKILL when `hard`); a paused process is resumed first so SIGTERM is heard. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on its port with its first arguments plus `extraArgs`. */
  start(extraArgs?: string[]): Promise<void>;
  /** INFO `section` as name -> value (a short-lived connection; rejects when it does not answer). */
  info(section: string): Promise<Map<string, string>>;
  /** Runs one command on a short-lived connection. */
  command(...args: string[]): Promise<unknown>;
}

async function startRedisProcess(port: number, args: string[], logFile: string): Promise<RedisProcess> {
  const binary = redisServerBinary();
  let child: ChildProcess | undefined;
  let paused = false;
  const start = async (extraArgs: string[] = []): Promise<void> => {
    if (child !== undefined) throw new Error(`redis-server on port ${port} is already started`);
    child = await spawnRedis(binary, [...args, ...extraArgs], port, logFile);
    paused = false;
  };
  await start();
  const signal = (sig: NodeJS.Signals): void => {
    if (child === undefined) throw new Error(`redis-server on port ${port} is not started`);
    child.kill(sig);
  };
  const ask = <T>(use: (c: Redis) => Promise<T>): Promise<T> => {
    if (child === undefined || paused) return Promise.reject(new Error(`redis-server on port ${port} is ${child === undefined ? 'stopped' : 'paused'}`));
    return withClient(port, use);
  };
  return {
    port,
    addr: `127.0.0.1:${port}`,
    get answering() {
      return child !== undefined && !paused;
    },
    pause: () => {
      signal('SIGSTOP');
      paused = true;
    },
    resume: () => {
      signal('SIGCONT');
      paused = false;
    },
    stop: async (hard = false) => {
      const running = child;
      child = undefined;
      if (running !== undefined && paused) running.kill('SIGCONT');
      paused = false;
      await kill(running, hard);
    },
    start,
    info: (section) => ask(async (c) => infoFields(await c.info(section))),
    command: (...command) => ask((c) => c.call(command[0]!, ...command.slice(1))),
  };
}

/** Whether `replica` replicates `primary` over a live link and has everything the primary sent. */
export async function inStep(replica: RedisProcess, primary: RedisProcess): Promise<boolean> {
  // The primary first, then the replica: a replica that has reached the primary's offset as it was
  // a moment before holds everything sent until then, even while writes go on (logins retrying, the
  // sentinels' hellos), where the two offsets read at once would seldom be equal.
  const p = await primary.info('replication');
  const r = await replica.info('replication');
  return (
    r.get('role') === 'slave' &&
    r.get('master_port') === String(primary.port) &&
    r.get('master_link_status') === 'up' &&
    p.get('role') === 'master' &&
    Number(r.get('slave_repl_offset')) >= Number(p.get('master_repl_offset'))
  );
}

/** Waits until `replica` is in step with `primary` (see inStep). */
export function untilInStep(replica: RedisProcess, primary: RedisProcess, timeoutMs = 30_000): Promise<void> {
  return until(() => inStep(replica, primary), timeoutMs, () => `${replica.addr} to replicate ${primary.addr} in step`);
}

/**
 * Holds a replica back: pauses it, then has its primary drop the link, so nothing more the primary
 * writes is on its way to the replica (not even in the kernel's socket buffers) until the replica
 * is resumed and reconnects.
 */
export async function holdBack(replica: RedisProcess, primary: RedisProcess): Promise<void> {
  replica.pause();
  await primary.command('CLIENT', 'KILL', 'TYPE', 'replica');
  await until(async () => (await primary.info('replication')).get('connected_slaves') === '0', 10_000, () => `${primary.addr} to drop its replica`);
}

export interface SentinelTopology {
  /** host:port of each Sentinel, for REDIS_SENTINELS. */
  readonly sentinels: string[];
  /** The monitored master's name, for REDIS_SENTINEL_NAME. */
  readonly name: string;
  /** The two data servers: the first started as the primary, the second as its replica. */
  readonly servers: readonly [RedisProcess, RedisProcess];
  readonly sentinelProcesses: readonly RedisProcess[];
  /** The data server that a majority of the answering Sentinels name as the primary, if any. */
  primary(): Promise<RedisProcess | undefined>;
  /** Waits until a majority of Sentinels name `server` as the primary and it says it is one. */
  untilPrimary(server: RedisProcess, timeoutMs?: number): Promise<void>;
  /** The data server that is not `server`. */
  other(server: RedisProcess): RedisProcess;
  stop(): Promise<void>;
}

/** Quorum of the Sentinel topology: two of its three Sentinels must agree the primary is down. */
const SENTINEL_QUORUM = 2;

/**
 * A primary, its replica and three Sentinels (quorum 2) that fail over within a few seconds of
 * the primary going quiet: down after 1 s without an answer, a failover given 4 s before it is
 * abandoned (and another tried 8 s later). Resolves once every Sentinel knows the replica and the
 * other two Sentinels, so a failover can be voted.
 */
export async function startSentinelTopology(): Promise<SentinelTopology> {
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-sentinels-'));
  const name = 'qrelay-failover';
  const started: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((p) => p.stop(true)));
    rmSync(dir, { recursive: true, force: true });
  };
  const dataServer = async (): Promise<RedisProcess> => {
    const server = await onFreePorts(1, ([port]) => {
      const logFile = join(dir, `redis-${port}.log`);
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`, '--logfile', logFile];
      return startRedisProcess(port!, args, logFile);
    });
    started.push(server);
    return server;
  };
  try {
    const primary = await dataServer();
    const replica = await dataServer();
    await replica.command('REPLICAOF', '127.0.0.1', String(primary.port));
    await untilInStep(replica, primary);
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await onFreePorts(1, ([port]) => {
        const conf = join(dir, `sentinel-${port}.conf`);
        const logFile = join(dir, `sentinel-${port}.log`);
        writeFileSync(
          conf,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `logfile ${logFile}`,
            `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${SENTINEL_QUORUM}`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 4000`,
            '',
          ].join('\n'),
        );
        return startRedisProcess(port!, [conf, '--sentinel'], logFile);
      });
      started.push(sentinel);
      sentinels.push(sentinel);
    }
    const servers = [primary, replica] as const;
    const masterLine = async (s: RedisProcess): Promise<string> => (await s.info('sentinel')).get('master0') ?? '';
    await until(
      async () => (await Promise.all(sentinels.map(masterLine))).every((l) => l.includes('status=ok') && l.includes('slaves=1') && l.includes('sentinels=3')),
      30_000,
      () => 'every Sentinel to know the replica and the other Sentinels',
    );
    const named = async (): Promise<Array<number | undefined>> =>
      Promise.all(
        sentinels
          .filter((s) => s.answering)
          .map((s) =>
            s
              .command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)
              .then((a) => (Array.isArray(a) ? Number(a[1]) : undefined))
              .catch(() => undefined),
          ),
      );
    const primaryNow = async (): Promise<RedisProcess | undefined> => {
      const ports = await named();
      return servers.find((s) => ports.filter((p) => p === s.port).length >= SENTINEL_QUORUM);
    };
    return {
      sentinels: sentinels.map((s) => s.addr),
      name,
      servers,
      sentinelProcesses: sentinels,
      primary: primaryNow,
      untilPrimary: (server, timeoutMs = 30_000) =>
        until(
          async () => (await primaryNow()) === server && (await server.info('replication')).get('role') === 'master',
          timeoutMs,
          () => `the Sentinels to name ${server.addr} as the primary`,
        ),
      other: (server) => (server === primary ? replica : primary),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A Sentinel topology of the current test's own, stopped when the test finishes. */
export async function sentinelTopologyForTest(): Promise<SentinelTopology> {
  const topology = await startSentinelTopology();
  onTestFinished(() => topology.stop());
  return topology;
}

/** One shard of a Redis Cluster: its slots and the two servers that take turns as its primary. */
export interface ClusterShard {
  /** The first and last slot it serves. */
  readonly slots: readonly [number, number];
  readonly servers: readonly [RedisProcess, RedisProcess];
  /** The server that says it is the shard's primary (asked of the answering ones). */
  primary(): Promise<RedisProcess | undefined>;
  other(server: RedisProcess): RedisProcess;
}

export interface ClusterTopology {
  /** host:port of every server, for REDIS_CLUSTER_NODES. */
  readonly nodes: string[];
  readonly shards: readonly ClusterShard[];
  /** The shard serving `slot`. */
  shardOf(slot: number): ClusterShard;
  /**
   * Waits until `server` says it is its shard's primary (it has won the election; the other
   * servers may not all have heard yet: see untilOk).
   */
  untilPrimary(server: RedisProcess, timeoutMs?: number): Promise<void>;
  /** Waits until every answering server says cluster_state:ok and knows all six. */
  untilOk(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** A cluster node on a free port whose bus port is free too, able to pause and restart. */
function clusterProcess(dir: string): Promise<RedisProcess> {
  return onFreePorts(
    1,
    async ([port]) => {
      const bus = port! + BUS_OFFSET;
      if (bus > 65_535 || !(await portFree(bus))) throw new PortClash(`bus port ${bus} is not usable`);
      const logFile = join(dir, `redis-${port}.log`);
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
        '--dbfilename', `dump-${port}.rdb`, '--logfile', logFile,
        '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        // A primary silent for 1 s is failed over; a replica may take over however long its link
        // was down (the test holds replicas back on purpose).
        '--cluster-node-timeout', '1000', '--cluster-replica-validity-factor', '0',
      ];
      return startRedisProcess(port!, args, logFile);
    },
    50,
  );
}

/**
 * Three primaries with one replica each, the slots split in three, built with cluster commands
 * (ADDSLOTS, MEET, REPLICATE). A primary silent for a second is replaced by its replica; a
 * restarted server keeps its node id (its nodes.conf) and rejoins, as a replica if its shard has
 * a newer primary by then.
 */
export async function startClusterTopology(): Promise<ClusterTopology> {
  const dir = mkdtempSync(join(tmpdir(), 'qrelay-cluster-failover-'));
  const all: RedisProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(all.map((p) => p.stop(true)));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) all.push(await clusterProcess(dir));
    const primaries = all.slice(0, 3);
    const replicas = all.slice(3);
    const share = Math.ceil(SLOTS / primaries.length);
    const ranges = primaries.map((_, i) => [i * share, Math.min(SLOTS, (i + 1) * share) - 1] as const);
    for (const [i, p] of primaries.entries()) {
      const [from, to] = ranges[i]!;
      await p.command('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
      await p.command('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
    }
    for (const p of all.slice(1)) await all[0]!.command('CLUSTER', 'MEET', '127.0.0.1', String(p.port));
    const clusterInfo = async (p: RedisProcess): Promise<string> => String(await p.command('CLUSTER', 'INFO'));
    await until(async () => (await Promise.all(all.map(clusterInfo))).every((i) => i.includes(`cluster_known_nodes:${all.length}`)), 30_000, () => 'every node to know all six');
    for (const [i, r] of replicas.entries()) {
      const id = String(await primaries[i]!.command('CLUSTER', 'MYID'));
      await r.command('CLUSTER', 'REPLICATE', id);
    }
    const untilOk = (timeoutMs = 30_000): Promise<void> =>
      until(
        async () => (await Promise.all(all.filter((p) => p.answering).map(clusterInfo))).every((i) => i.includes('cluster_state:ok') && i.includes(`cluster_known_nodes:${all.length}`)),
        timeoutMs,
        () => 'cluster_state:ok on every answering node',
      );
    const shards: ClusterShard[] = primaries.map((p, i) => {
      const servers = [p, replicas[i]!] as const;
      return {
        slots: ranges[i]!,
        servers,
        primary: async () => {
          for (const s of servers.filter((s) => s.answering)) {
            if ((await s.info('replication').catch(() => undefined))?.get('role') === 'master') return s;
          }
          return undefined;
        },
        other: (s) => (s === servers[0] ? servers[1] : servers[0]),
      };
    });
    for (const shard of shards) await untilInStep(shard.servers[1], shard.servers[0]);
    await untilOk();
    const shardOf = (slot: number): ClusterShard => {
      const shard = shards.find((s) => slot >= s.slots[0] && slot <= s.slots[1]);
      if (shard === undefined) throw new Error(`no shard serves slot ${slot}`);
      return shard;
    };
    return {
      nodes: all.map((p) => p.addr),
      shards,
      shardOf,
      untilPrimary: (server, timeoutMs = 30_000) =>
        until(async () => (await server.info('replication')).get('role') === 'master', timeoutMs, () => `${server.addr} to be promoted`),
      untilOk,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A cluster topology of the current test's own, stopped when the test finishes. */
export async function clusterTopologyForTest(): Promise<ClusterTopology> {
  const topology = await startClusterTopology();
  onTestFinished(() => topology.stop());
  return topology;
}
