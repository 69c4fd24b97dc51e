// The Redis work of a cluster run, sampled before and after each phase: what Redis executed (INFO
// commandstats: every command, including those a Lua script or a MULTI runs), what the nodes sent
// (requests, i.e. round trips, counted inside each node by redis-count-hook.mjs), and the Redis
// process's CPU time. The Redis at 127.0.0.1:6379 may be shared, so a sample also notes other
// clients that were active; their commands and CPU cannot be told apart from ours.
import fs from 'node:fs';
import { procStats } from './servers.mjs';

/**
 * @typedef {import('./redis-count-hook.mjs').RouteCounts} RouteCounts
 * @typedef {{ available: boolean, requests: number, commands: number, byRequest: Record<string, number>, byRoute: Record<string, RouteCounts> | null, localPorts: number[] }} NodeCounts
 * @typedef {{
 *   calls: Record<string, number>, totalCommands: number, connectionsReceived: number,
 *   cpuS: number, cpuSource: 'proc' | 'info' | 'missing', own: Record<string, number>,
 *   nodes: Array<NodeCounts | undefined>
 * }} RedisSample
 */

/** @param {string} text INFO output @param {string} field */
const infoField = (text, field) => new RegExp(`^${field}:(.*)$`, 'm').exec(text)?.[1]?.trim();

/**
 * The Redis process's CPU time (user + system, s): from /proc/<process_id>/stat when that pid is a
 * redis-server on this machine, else from INFO cpu (the same figure, as Redis reports it).
 * @param {string} info INFO all
 * @returns {{ cpuS: number, cpuSource: 'proc' | 'info' | 'missing' }}
 */
function redisCpu(info) {
  const pid = Number(infoField(info, 'process_id'));
  try {
    if (!/redis/.test(fs.readFileSync(`/proc/${pid}/comm`, 'utf8'))) throw new Error('not redis here');
    return { cpuS: procStats(pid).cpuS, cpuSource: 'proc' };
  } catch {
    const cpuS = Number(infoField(info, 'used_cpu_user')) + Number(infoField(info, 'used_cpu_sys'));
    return Number.isFinite(cpuS) ? { cpuS, cpuSource: 'info' } : { cpuS: NaN, cpuSource: 'missing' };
  }
}

/**
 * Asks a node (started with an IPC channel and the count hook) for its request counts.
 * @param {import('node:child_process').ChildProcess} proc
 * @returns {Promise<NodeCounts | undefined>} undefined when it does not answer within 2 s
 */
function nodeCounts(proc) {
  if (!proc.connected) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = (/** @type {NodeCounts | undefined} */ v) => {
      clearTimeout(timer);
      proc.off('message', onMsg);
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), 2000);
    const onMsg = (/** @type {any} */ msg) => {
      if (msg?.type === 'redis-requests') done(msg);
    };
    proc.on('message', onMsg);
    proc.send({ type: 'redis-requests?' }, (e) => {
      if (e) done(undefined);
    });
  });
}

export class RedisWatch {
  /** @type {import('ioredis').Redis} */ #client;
  /** Commands this watch has sent, by commandstats name, so they can be taken out of a delta. */
  /** @type {Record<string, number>} */ #own = {};
  /** @type {number | undefined} */ #id;

  /** @param {import('ioredis').Redis} client */
  constructor(client) {
    this.#client = client;
  }

  /** @param {string} url */
  static async open(url) {
    const { Redis } = await import('ioredis');
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 });
    client.on('error', () => {});
    await client.connect();
    const watch = new RedisWatch(client);
    watch.#id = Number(await watch.#call('client|id', () => client.client('ID')));
    return watch;
  }

  /**
   * @template T
   * @param {string} name commandstats name of the command
   * @param {() => Promise<T>} send
   */
  #call(name, send) {
    this.#own[name] = (this.#own[name] ?? 0) + 1;
    return send();
  }

  /**
   * @param {import('node:child_process').ChildProcess[]} procs the nodes
   * @returns {Promise<RedisSample>}
   */
  async sample(procs) {
    const own = { ...this.#own };
    const [info, nodes] = await Promise.all([this.#call('info', () => this.#client.info('all')), Promise.all(procs.map(nodeCounts))]);
    /** @type {Record<string, number>} */
    const calls = {};
    for (const m of info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)) calls[/** @type {string} */ (m[1])] = Number(m[2]);
    return {
      calls,
      totalCommands: Number(infoField(info, 'total_commands_processed')),
      connectionsReceived: Number(infoField(info, 'total_connections_received')),
      ...redisCpu(info),
      own,
      nodes,
    };
  }

  /**
   * Clients other than the nodes and this watch that sent a command in the last `windowS` seconds.
   * @param {number[]} nodePorts
   * @param {number} windowS
   */
  async othersActive(nodePorts, windowS) {
    const list = String(await this.#call('client|list', () => this.#client.client('LIST')));
    let n = 0;
    for (const line of list.split('\n')) {
      const id = Number(/(?:^| )id=(\d+)/.exec(line)?.[1]);
      const port = Number(/ addr=[^ ]*:(\d+) /.exec(line)?.[1]);
      const idle = Number(/ idle=(\d+)/.exec(line)?.[1]);
      if (!Number.isFinite(id) || id === this.#id || nodePorts.includes(port)) continue;
      if (idle < windowS) n++;
    }
    return n;
  }

  close() {
    this.#client.disconnect();
  }
}

/**
 * Redis work between two samples, per completed login.
 * @param {RedisSample} a
 * @param {RedisSample} b
 * @param {{ logins: number, wakes: number, othersActive: number }} run
 */
export function redisWork(a, b, run) {
  /** @type {Record<string, number>} */
  const byCommand = {};
  let commands = 0;
  /** @type {Record<string, number>} */
  const own = {};
  for (const [name, n] of Object.entries(b.own)) {
    // Redis before 7 counts CLIENT LIST under `client`.
    const key = name in b.calls ? name : (name.split('|')[0] ?? name);
    own[key] = (own[key] ?? 0) + n - (a.own[name] ?? 0);
  }
  for (const [name, calls] of Object.entries(b.calls)) {
    const d = calls - (a.calls[name] ?? 0) - (own[name] ?? 0);
    if (d > 0) {
      byCommand[name] = d;
      commands += d;
    }
  }
  const nodesOk = b.nodes.length > 0 && b.nodes.every((n, i) => n?.available && a.nodes[i]?.available);
  let requests = 0;
  /** @type {Record<string, number>} */
  const byRequest = {};
  /** @type {Record<string, RouteCounts> | null} HTTP and Redis requests per route, summed over the nodes */
  let byRoute = null;
  /** @param {Record<string, number>} into @param {Record<string, number>} now @param {Record<string, number>} then */
  const addDelta = (into, now, then) => {
    for (const [k, v] of Object.entries(now)) {
      const d = v - (then[k] ?? 0);
      if (d > 0) into[k] = (into[k] ?? 0) + d;
    }
  };
  if (nodesOk) {
    b.nodes.forEach((n, i) => {
      const now = /** @type {NodeCounts} */ (n);
      const then = /** @type {NodeCounts} */ (a.nodes[i]);
      requests += now.requests - then.requests;
      addDelta(byRequest, now.byRequest, then.byRequest);
      if (now.byRoute === null) return;
      byRoute ??= {};
      for (const [name, r] of Object.entries(now.byRoute)) {
        const before = then.byRoute?.[name] ?? { http: 0, requests: 0, byRequest: {} };
        const into = (byRoute[name] ??= { http: 0, requests: 0, byRequest: {} });
        into.http += r.http - before.http;
        into.requests += r.requests - before.requests;
        addDelta(into.byRequest, r.byRequest, before.byRequest);
      }
    });
  }
  const cpuS = b.cpuS - a.cpuS;
  const logins = Math.max(1, run.logins);
  const per = (/** @type {number} */ x, /** @type {number} */ d = 2) => Math.round((x / logins) * 10 ** d) / 10 ** d;
  return {
    present: true,
    logins: run.logins,
    commands,
    commandsPerLogin: per(commands),
    // Each script run and each transaction, as Redis counted them: a check on `requests`.
    scriptRuns: (byCommand.evalsha ?? 0) + (byCommand.eval ?? 0) + (byCommand.fcall ?? 0),
    transactions: byCommand.exec ?? 0,
    roundTrips: nodesOk ? requests : null,
    roundTripsPerLogin: nodesOk ? per(requests) : null,
    /** @type {Record<string, number>} */
    commandsPerLoginByName: Object.fromEntries(Object.entries(byCommand).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, per(v, 3)])),
    /** @type {Record<string, number> | null} */
    roundTripsPerLoginByRequest: nodesOk ? Object.fromEntries(Object.entries(byRequest).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, per(v, 3)])) : null,
    // With --redis-by-route: round trips per HTTP request of each route (a poll, a set, a mint...).
    byRoute: byRoute === null ? null : routeFigures(byRoute),
    cpuS: Math.round(cpuS * 1000) / 1000,
    cpuSource: b.cpuSource === 'missing' || a.cpuSource === 'missing' ? 'missing' : b.cpuSource,
    cpuMsPerWake: Math.round(((cpuS * 1000) / Math.max(1, run.wakes)) * 1000) / 1000,
    // Other clients of a shared Redis during the phase: their commands and CPU are in the figures.
    otherClientsActive: run.othersActive,
    connectionsReceived: b.connectionsReceived - a.connectionsReceived,
  };
}

/**
 * Round trips per HTTP request of each route with any, busiest first; `none` is work no request
 * started (timers set up at start-up, the client's own checks).
 * @param {Record<string, RouteCounts>} byRoute
 */
function routeFigures(byRoute) {
  const r3 = (/** @type {number} */ x) => Math.round(x * 1000) / 1000;
  return Object.fromEntries(
    Object.entries(byRoute)
      .filter(([, r]) => r.http > 0 || r.requests > 0)
      .sort((x, y) => y[1].http - x[1].http)
      .map(([name, r]) => [
        name,
        {
          httpRequests: r.http,
          roundTrips: r.requests,
          roundTripsPerRequest: r.http > 0 ? r3(r.requests / r.http) : null,
          perRequest: Object.fromEntries(Object.entries(r.byRequest).sort((x, y) => y[1] - x[1]).map(([k, v]) => [k, r3(v / Math.max(1, r.http))])),
        },
      ]),
  );
}

/** What a run without Redis reports, so memory and cluster rows line up. */
export const NO_REDIS = Object.freeze({ present: false, note: 'no Redis', commands: 0, commandsPerLogin: 0, roundTrips: 0, roundTripsPerLogin: 0, cpuS: 0, cpuMsPerWake: 0 });
