// Starting and stopping the servers under test, and reading their RSS and CPU time from /proc.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CLK_TCK = 100; // Linux USER_HZ; `getconf CLK_TCK` is 100 on every mainstream kernel build

/** What each qrelay node of a cluster run preloads (NODE_OPTIONS=--import) to count its Redis requests. */
const COUNT_HOOK = path.join(path.dirname(fileURLToPath(import.meta.url)), 'redis-count-hook.mjs');

/**
 * @typedef {{ name: string, pid: number, publicUrl: string, privateUrl: string, logFile: string, proc: import('node:child_process').ChildProcess }} ServerProc
 * @typedef {{ target: 'qrelay' | 'ceiling', mode: 'memory' | 'cluster', nodes: ServerProc[], publicUrls: string[], privateUrls: string[], internalToken?: string, redisPrefix?: string, redisUrl?: string, logLevel?: string }} Deployment
 */

/** @returns {Promise<number>} a port free on 127.0.0.1 right now */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

/**
 * Waits until a TCP connect to host:port succeeds (bounded by timeoutMs).
 * @param {string} host
 * @param {number} port
 * @param {number} timeoutMs
 */
export async function waitForPort(host, port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect({ host, port });
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

/**
 * Splits a command line on whitespace (no shell, no quoting).
 * @param {string} cmd
 */
function argv(cmd) {
  const parts = cmd.trim().split(/\s+/);
  return { file: /** @type {string} */ (parts[0]), args: parts.slice(1) };
}

/**
 * @param {string} name
 * @param {string} cmd
 * @param {Record<string, string>} env
 * @param {string} cwd
 * @param {boolean} ipc give the process an IPC channel (the Redis count hook answers on it)
 * @returns {ServerProc & { ports: { pub: number, priv: number } }}
 */
function launch(name, cmd, env, cwd, ipc = false) {
  const logFile = path.join(os.tmpdir(), `qrelay-bench-${name}-${process.pid}-${Date.now()}.log`);
  const out = fs.openSync(logFile, 'w');
  const { file, args } = argv(cmd);
  // Only PATH and HOME come from this shell: a REDIS_URL or LOG_LEVEL set there must not change
  // what is measured (--server-env is the way to give the servers more).
  const inherited = Object.fromEntries(['PATH', 'HOME'].flatMap((k) => (process.env[k] === undefined ? [] : [[k, process.env[k]]])));
  const proc = spawn(file, args, { cwd, env: { ...inherited, ...env }, stdio: ipc ? ['ignore', out, out, 'ipc'] : ['ignore', out, out] });
  fs.closeSync(out);
  if (proc.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pub = Number(env.PUBLIC_PORT);
  const priv = Number(env.PRIVATE_PORT);
  return {
    name, pid: proc.pid, proc, logFile,
    publicUrl: `http://127.0.0.1:${pub}`, privateUrl: `http://127.0.0.1:${priv}`, ports: { pub, priv },
  };
}

/**
 * Starts the deployment to measure: one qrelay node (memory), three qrelay nodes on one Redis
 * (cluster), or the yardstick. The qrelay nodes log at `logLevel` unless serverEnv sets LOG_LEVEL;
 * in cluster mode each preloads redis-count-hook.mjs, which counts its requests to Redis (and, with
 * redisByRoute, which HTTP route each served).
 * @param {{ target: 'qrelay' | 'ceiling', mode: 'memory' | 'cluster', qrelayCmd: string, ceilingCmd: string, cwd: string, holdMs: number, redisUrl: string, logLevel: string, redisByRoute?: boolean, nodes?: number, serverEnv: Record<string, string> }} o
 * @returns {Promise<Deployment>}
 */
export async function startDeployment(o) {
  /** @type {ServerProc[]} */
  const nodes = [];
  /** @type {Deployment} */
  const dep = { target: o.target, mode: o.mode, nodes, publicUrls: [], privateUrls: [] };
  try {
    if (o.target === 'ceiling') {
      const [pub, priv] = [await freePort(), await freePort()];
      nodes.push(launch('ceiling', o.ceilingCmd, { PUBLIC_PORT: String(pub), PRIVATE_PORT: String(priv), HOLD_MS: String(o.holdMs) }, o.cwd));
    } else {
      const count = o.mode === 'cluster' ? (o.nodes ?? 3) : 1;
      /** @type {Record<string, string>} */
      const shared = {
        PUBLIC_HOST: '127.0.0.1',
        PRIVATE_HOST: '127.0.0.1',
        HOLD_MS: String(o.holdMs),
        LOG_LEVEL: o.logLevel,
        // The load comes from a few loopback addresses: lift the per-IP abuse limits (they still
        // run, so their cost is measured) so they do not answer the bench 429.
        RATE_SESSIONS_PER_IP: '1000000',
        MAX_POLLS_PER_IP: '1000000',
        ...o.serverEnv,
      };
      dep.logLevel = shared.LOG_LEVEL;
      if (o.mode === 'cluster') {
        dep.internalToken = randomBytes(18).toString('base64url');
        dep.redisPrefix = `bench-${randomBytes(6).toString('hex')}`;
        dep.redisUrl = o.redisUrl;
        Object.assign(shared, { REDIS_URL: o.redisUrl, INTERNAL_TOKEN: dep.internalToken, CLUSTER_TOKEN: randomBytes(18).toString('base64url'), REDIS_PREFIX: dep.redisPrefix });
        shared.NODE_OPTIONS = [o.serverEnv.NODE_OPTIONS, `--import=${pathToFileURL(COUNT_HOOK).href}`].filter(Boolean).join(' ');
        if (o.redisByRoute) shared.QRELAY_BENCH_REDIS_BY_ROUTE = '1';
      }
      for (let i = 0; i < count; i++) {
        const [pub, priv] = [await freePort(), await freePort()];
        nodes.push(launch(`qrelay${count > 1 ? i + 1 : ''}`, o.qrelayCmd, { ...shared, PUBLIC_PORT: String(pub), PRIVATE_PORT: String(priv) }, o.cwd, o.mode === 'cluster'));
      }
    }
    for (const n of nodes) {
      const u = new URL(n.publicUrl);
      const p = new URL(n.privateUrl);
      await waitForPort(u.hostname, Number(u.port), 15_000);
      await waitForPort(p.hostname, Number(p.port), 15_000);
      if (n.proc.exitCode !== null) throw new Error(`${n.name} exited (${n.proc.exitCode}); see ${n.logFile}`);
    }
    if (o.target === 'qrelay') {
      for (const n of nodes) {
        const res = await fetch(`${n.privateUrl}/readyz`, {
          headers: dep.internalToken ? { authorization: `Bearer ${dep.internalToken}` } : {},
          signal: AbortSignal.timeout(5000),
        });
        if (res.status !== 200) throw new Error(`${n.name} not ready: HTTP ${res.status}; see ${n.logFile}`);
      }
    }
  } catch (e) {
    await stopDeployment(dep);
    throw e;
  }
  dep.publicUrls = nodes.map((n) => n.publicUrl);
  dep.privateUrls = nodes.map((n) => n.privateUrl);
  return dep;
}

/**
 * SIGTERM every node, SIGKILL what is still alive after 8 s; then delete this run's Redis keys and,
 * unless keepLogs, the nodes' log files (at LOG_LEVEL=info a run writes tens of MB).
 * @param {Deployment} dep
 * @param {{ keepLogs: boolean }} [opts]
 */
export async function stopDeployment(dep, opts = { keepLogs: true }) {
  await Promise.all(
    dep.nodes.map(
      (n) =>
        new Promise((resolve) => {
          if (n.proc.exitCode !== null || n.proc.signalCode !== null) return resolve(undefined);
          const kill = setTimeout(() => n.proc.kill('SIGKILL'), 8000);
          n.proc.once('exit', () => {
            clearTimeout(kill);
            resolve(undefined);
          });
          n.proc.kill('SIGTERM');
        }),
    ),
  );
  if (dep.redisPrefix && dep.redisUrl) await deleteRedisKeys(dep.redisUrl, dep.redisPrefix);
  if (!opts.keepLogs) for (const n of dep.nodes) fs.rmSync(n.logFile, { force: true });
}

/**
 * Removes the keys a cluster run left in Redis (bounded SCAN).
 * @param {string} url
 * @param {string} prefix
 */
async function deleteRedisKeys(url, prefix) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    for (let i = 0; i < 100_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } catch (e) {
    process.stderr.write(`bench: could not clean Redis keys ${prefix}*: ${String(e)}\n`);
  } finally {
    redis.disconnect();
  }
}

/**
 * RSS (bytes) and CPU time (user+system, seconds) of a process, from /proc.
 * @param {number} pid
 */
export function procStats(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1] ?? NaN);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the ")": field 3 (state) is index 0, so utime (14) is index 11 and stime (15) index 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { rss: rssKb * 1024, cpuS: (utime + stime) / CLK_TCK };
}

/**
 * Sums procStats over the nodes of a deployment.
 * @param {number[]} pids
 */
export function sumStats(pids) {
  let rss = 0;
  let cpuS = 0;
  for (const pid of pids) {
    const s = procStats(pid);
    rss += s.rss;
    cpuS += s.cpuS;
  }
  return { rss, cpuS };
}
