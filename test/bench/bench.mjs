#!/usr/bin/env node
// qrelay load benchmark: held polls, a set stream at a fixed rate (set-to-wake latency), a closed
// loop (maximum wake throughput), the server's RSS per held poll and CPU time (in cluster mode the
// Redis process's too), and in cluster mode the Redis work per completed login (commands Redis ran,
// requests the nodes sent). It starts the servers itself (qrelay in memory or cluster mode, or the
// yardstick: by default baseline.mjs, a minimal node:http server speaking the same contract) so it
// can read /proc/<pid>, or targets running servers by URL.
//
//   node test/bench/bench.mjs --quick                        # smoke: 500 polls, 200 sets/s, 5 s
//   node test/bench/bench.mjs                                # 10,000 polls, 1,000 sets/s, 60 s
//   node test/bench/bench.mjs --target ceiling               # the yardstick
//   node test/bench/bench.mjs --mode cluster                 # 3 nodes + Redis at 127.0.0.1:6379
//   node test/bench/bench.mjs --closed-loop                  # maximum wake throughput
//   node test/bench/bench.mjs --compare --duration 20        # qrelay vs yardstick, 3 runs each
//   node test/bench/bench.mjs --compare cluster,memory       # 3 nodes + Redis vs one node
//   node test/bench/bench.mjs --compare memory:info,memory:warn   # what info logging costs
//   node test/bench/bench.mjs --help
import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { targetOf } from './mini-http.mjs';
import { NO_REDIS, RedisWatch, redisWork } from './redis-work.mjs';
import { startDeployment, stopDeployment, sumStats } from './servers.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

/** Which qrelay was measured: the commit, whether the tree had changes, when dist/ was built. */
const QRELAY_BUILD = (() => {
  const git = (/** @type {string[]} */ args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    } catch {
      return undefined;
    }
  };
  let distBuiltAt;
  try {
    distBuiltAt = fs.statSync(path.join(ROOT, 'dist/main.js')).mtime.toISOString();
  } catch {
    distBuiltAt = undefined;
  }
  return { commit: git(['rev-parse', '--short', 'HEAD']), dirty: (git(['status', '--porcelain', 'src']) ?? '') !== '', distBuiltAt };
})();

const HELP = `usage: node test/bench/bench.mjs [options]

  --target qrelay|ceiling   server to measure (default qrelay)
  --mode memory|cluster     qrelay: one node in memory, or 3 nodes on Redis (default memory)
  --polls N                 held polls (default 10000)
  --rate R                  sets per second in the open loop (default 1000)
  --duration T              open-loop seconds (default 60)
  --closed-loop             run only the closed loop (maximum wake throughput)
  --closed-duration T       closed-loop seconds (default 15)
  --inflight N              sets waiting for their wake in the closed loop (default 500)
  --phases open,closed      which phases each run does (default open; --compare: open,closed)
  --runs K                  runs (default 1; with --compare, runs of each variant, default 3)
  --log-level L             the qrelay nodes' LOG_LEVEL (default info, the server's own default)
  --compare [A,B]           runs A and B alternately and prints the ratios A/B of their medians.
                            A variant: qrelay (qrelay in --mode), memory, cluster, or ceiling (the
                            yardstick); qrelay variants may name a log level: memory:warn.
                            --compare alone is qrelay,ceiling
  --quick                   smoke preset: 500 polls, 200 sets/s, 5 s, closed loop 3 s, 100 in flight
  --workers W               client processes (default: 1 per 15,000 polls, at most one per core)
  --oversubscribe           allow more client processes than cores (each holds at most 18,000
                            sockets under the 20,000 open-files limit): for held-poll capacity
                            runs only, since the extra clients compete with the servers for CPU
  --source-addrs K          spread client sockets over 127.0.0.1..127.0.0.K (default 8)
  --hold-ms MS              server HOLD_MS (default 25000)
  --lost-ms MS              a set whose poll has not woken after MS is lost (default 5000)
  --redis-url URL           cluster mode Redis (default redis://127.0.0.1:6379)
  --nodes N                 cluster mode: how many qrelay nodes (default 3)
  --redis-by-route          cluster mode: also count the nodes' Redis round trips per HTTP route
                            (per poll, per set, per mint); costs CPU on every promise, so the
                            run's CPU and latency figures are not comparable
  --qrelay-cmd CMD          how to start a qrelay node (default "node dist/main.js", run in the repo)
  --ceiling-cmd CMD         how to start the yardstick (default "node test/bench/baseline.mjs", a
                            minimal node:http server speaking the same contract)
  --public-url U[,U..]      measure running servers instead (with --private-url; no RSS/CPU
  --private-url U[,U..]       unless --pids); --internal-token for qrelay cluster mode
  --internal-token T
  --pids P[,P..]            server pids to read /proc from when targeting by URL
  --server-env K=V[,K=V..]  extra environment for the qrelay nodes, over the bench's own
                            (RATE_SESSIONS_PER_IP and MAX_POLLS_PER_IP 1000000, LOG_LEVEL)
  --keep-logs               keep the nodes' log files (in the temp folder; deleted after a run
                            that ends without error unless this is given)
  --out FILE                also append each run's JSON line to FILE
  --table FILE              print the table (and ratios, if two variants are in it) of the JSON
                            lines saved in FILE with --out, and exit
  --help
`;

/**
 * @typedef {{ label: string, target: 'qrelay' | 'ceiling', mode: 'memory' | 'cluster', logLevel: string | undefined }} Variant
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads a variant of --compare: qrelay | memory | cluster | ceiling (or yardstick), with :LEVEL.
 * @param {string} spec
 * @param {{ mode: 'memory' | 'cluster', logLevel: string }} o
 * @returns {Variant}
 */
function variantOf(spec, o) {
  const [name, level] = spec.split(':');
  if (name === 'ceiling' || name === 'yardstick') {
    if (level !== undefined) throw new Error(`--compare: the yardstick has no log level (${spec})`);
    return { label: 'ceiling', target: 'ceiling', mode: 'memory', logLevel: undefined };
  }
  const mode = name === 'qrelay' ? o.mode : name;
  if (mode !== 'memory' && mode !== 'cluster') throw new Error(`--compare: unknown variant ${spec} (qrelay, memory, cluster, ceiling)`);
  if (level !== undefined && !LOG_LEVELS.includes(level)) throw new Error(`--compare: unknown log level in ${spec} (${LOG_LEVELS.join(', ')})`);
  return { label: level === undefined ? mode : `${mode}:${level}`, target: 'qrelay', mode, logLevel: level ?? o.logLevel };
}

/** @returns {any} */
function options() {
  // `--compare` may stand alone (qrelay against the yardstick) or name its two variants.
  const args = process.argv.slice(2);
  const at = args.indexOf('--compare');
  if (at >= 0 && (args[at + 1] === undefined || args[at + 1]?.startsWith('--'))) args.splice(at + 1, 0, 'qrelay,ceiling');
  const { values } = parseArgs({
    args,
    options: {
      target: { type: 'string', default: 'qrelay' },
      mode: { type: 'string', default: 'memory' },
      polls: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      'closed-loop': { type: 'boolean', default: false },
      'closed-duration': { type: 'string' },
      inflight: { type: 'string' },
      phases: { type: 'string' },
      runs: { type: 'string' },
      compare: { type: 'string' },
      'log-level': { type: 'string', default: 'info' },
      'keep-logs': { type: 'boolean', default: false },
      'redis-by-route': { type: 'boolean', default: false },
      nodes: { type: 'string', default: '3' },
      quick: { type: 'boolean', default: false },
      workers: { type: 'string' },
      oversubscribe: { type: 'boolean', default: false },
      'source-addrs': { type: 'string', default: '8' },
      'hold-ms': { type: 'string', default: '25000' },
      'lost-ms': { type: 'string', default: '5000' },
      'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
      'qrelay-cmd': { type: 'string', default: 'node dist/main.js' },
      'ceiling-cmd': { type: 'string', default: `node ${path.join(HERE, 'baseline.mjs')}` },
      'public-url': { type: 'string' },
      'private-url': { type: 'string' },
      'internal-token': { type: 'string' },
      pids: { type: 'string' },
      'server-env': { type: 'string' },
      out: { type: 'string' },
      table: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const q = values.quick;
  const compare = values.compare !== undefined;
  const num = (/** @type {string | undefined} */ v, /** @type {number} */ d, /** @type {string} */ name) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number >= 0`);
    return n;
  };
  const o = {
    target: values.target,
    mode: /** @type {'memory' | 'cluster'} */ (values.mode), // checked below
    polls: num(values.polls, q ? 500 : 10_000, 'polls'),
    rate: num(values.rate, q ? 200 : 1000, 'rate'),
    durationS: num(values.duration, q ? 5 : 60, 'duration'),
    closedS: num(values['closed-duration'], q ? 3 : 15, 'closed-duration'),
    inflight: num(values.inflight, q ? 100 : 500, 'inflight'),
    runs: num(values.runs, compare ? 3 : 1, 'runs'),
    compare,
    logLevel: values['log-level'],
    keepLogs: values['keep-logs'],
    redisByRoute: values['redis-by-route'],
    nodes: num(values.nodes, 1, 'nodes'),
    workers: values.workers === undefined ? undefined : num(values.workers, 1, 'workers'),
    oversubscribe: values.oversubscribe,
    sourceAddrs: num(values['source-addrs'], 8, 'source-addrs'),
    holdMs: num(values['hold-ms'], 25_000, 'hold-ms'),
    lostMs: num(values['lost-ms'], 5000, 'lost-ms'),
    redisUrl: values['redis-url'],
    qrelayCmd: values['qrelay-cmd'],
    ceilingCmd: values['ceiling-cmd'],
    publicUrls: values['public-url']?.split(',').filter(Boolean),
    privateUrls: values['private-url']?.split(',').filter(Boolean),
    internalToken: values['internal-token'],
    pids: values.pids?.split(',').filter(Boolean).map(Number) ?? [],
    out: values.out,
    table: values.table,
    /** @type {Record<string, string>} */
    serverEnv: Object.fromEntries(
      (values['server-env'] ?? '').split(',').filter(Boolean).map((kv) => {
        const i = kv.indexOf('=');
        if (i < 1) throw new Error('--server-env takes NAME=value[,NAME=value..]');
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    ),
    /** @type {string[]} */
    phases: values.phases?.split(',').filter(Boolean) ?? (values['closed-loop'] ? ['closed'] : compare ? ['open', 'closed'] : ['open']),
    /** @type {Variant[]} */
    variants: [],
  };
  if (!['qrelay', 'ceiling'].includes(o.target)) throw new Error('--target must be qrelay or ceiling');
  if (!['memory', 'cluster'].includes(o.mode)) throw new Error('--mode must be memory or cluster');
  if (!LOG_LEVELS.includes(o.logLevel)) throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  if (compare) {
    o.variants = (values.compare ?? '').split(',').filter(Boolean).map((v) => variantOf(v, o));
    if (o.variants.length !== 2 || o.variants[0]?.label === o.variants[1]?.label) throw new Error('--compare takes two different variants: A,B');
  } else {
    o.variants = [variantOf(o.target === 'ceiling' ? 'ceiling' : o.mode, o)];
  }
  if (o.phases.some((p) => p !== 'open' && p !== 'closed')) throw new Error('--phases takes open and/or closed');
  if (o.polls < 1 || o.polls > 60_000) throw new Error('--polls must be 1..60000');
  if (o.sourceAddrs < 1 || o.sourceAddrs > 250) throw new Error('--source-addrs must be 1..250');
  if (o.durationS > 3600 || o.closedS > 3600) throw new Error('durations are capped at 3600 s');
  if ((o.publicUrls === undefined) !== (o.privateUrls === undefined)) throw new Error('--public-url and --private-url go together');
  if (o.publicUrls && o.compare) throw new Error('--compare starts its own servers; drop --public-url');
  for (const u of [...(o.publicUrls ?? []), ...(o.privateUrls ?? [])]) {
    if (!/^127\./.test(targetOf(u).host) && targetOf(u).host !== 'localhost') throw new Error(`loopback targets only: ${u}`);
  }
  return o;
}

// ---------------------------------------------------------------- statistics

/**
 * Nearest-rank percentile of a sorted array.
 * @param {Float64Array} sorted
 * @param {number} p 0..100
 */
function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return /** @type {number} */ (sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]);
}

/** @param {number[][]} lists */
function latencySummary(lists) {
  const all = Float64Array.from(lists.flat());
  all.sort();
  const r3 = (/** @type {number} */ x) => Math.round(x * 1000) / 1000;
  return {
    count: all.length,
    p50: r3(pct(all, 50)),
    p90: r3(pct(all, 90)),
    p99: r3(pct(all, 99)),
    p999: r3(pct(all, 99.9)),
    max: r3(all.length ? /** @type {number} */ (all[all.length - 1]) : NaN),
  };
}

/** @param {number[]} xs */
function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? /** @type {number} */ (s[mid]) : (/** @type {number} */ (s[mid - 1]) + /** @type {number} */ (s[mid])) / 2;
}

/** @param {Record<string, number>[]} maps */
function addCounts(maps) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const mp of maps) for (const [k, v] of Object.entries(mp)) out[k] = (out[k] ?? 0) + v;
  return out;
}

// ---------------------------------------------------------------- workers

/** @type {Set<import('node:child_process').ChildProcess>} */
const liveWorkers = new Set();
/** @type {Set<import('./servers.mjs').Deployment>} */
const liveDeployments = new Set();

/**
 * @param {import('node:child_process').ChildProcess} w
 * @param {string} type
 * @param {number} timeoutMs
 * @returns {Promise<any>}
 */
function nextMessage(w, type, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`worker did not answer ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMsg = (/** @type {any} */ msg) => {
      if (msg.type === 'error') {
        cleanup();
        reject(new Error(`worker failed: ${msg.message}`));
      } else if (msg.type === type) {
        cleanup();
        resolve(msg);
      }
    };
    const onExit = (/** @type {number} */ code) => {
      cleanup();
      reject(new Error(`worker exited (${code}) while waiting for ${type}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      w.off('message', onMsg);
      w.off('exit', onExit);
    };
    w.on('message', onMsg);
    w.once('exit', onExit);
  });
}

/** Whole-machine CPU counters (/proc/stat) and load, to show how noisy the machine was. */
function machineSample() {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { total, idle: (v[3] ?? 0) + (v[4] ?? 0), steal: v[7] ?? 0, load1: os.loadavg()[0] ?? 0 };
}

/**
 * @param {ReturnType<typeof machineSample>} a
 * @param {ReturnType<typeof machineSample>} b
 */
function machineDelta(a, b) {
  const total = Math.max(1, b.total - a.total);
  return {
    cores: os.availableParallelism?.() ?? os.cpus().length,
    busyPct: Math.round((1 - (b.idle - a.idle) / total) * 1000) / 10,
    stealPct: Math.round(((b.steal - a.steal) / total) * 1000) / 10,
    load1: Math.round(b.load1 * 100) / 100,
  };
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

const r3 = (/** @type {number} */ x) => Math.round(x * 1000) / 1000;

/**
 * One run: start the deployment, hold the polls, run the phases, stop everything.
 * @param {any} o options
 * @param {Variant} v
 */
async function runOnce(o, v) {
  const { target, mode } = v;
  /** @type {import('./servers.mjs').Deployment | undefined} */
  let dep;
  let publicUrls = o.publicUrls;
  let privateUrls = o.privateUrls;
  let internalToken = o.internalToken;
  let pids = o.pids;
  if (!publicUrls) {
    dep = await startDeployment({
      target, mode, qrelayCmd: o.qrelayCmd, ceilingCmd: o.ceilingCmd,
      cwd: ROOT, holdMs: o.holdMs, redisUrl: o.redisUrl, logLevel: v.logLevel ?? o.logLevel, redisByRoute: o.redisByRoute, nodes: o.nodes, serverEnv: o.serverEnv,
    });
    liveDeployments.add(dep);
    publicUrls = dep.publicUrls;
    privateUrls = dep.privateUrls;
    internalToken = dep.internalToken;
    pids = dep.nodes.map((n) => n.pid);
  }
  const stats = () => (pids.length > 0 ? sumStats(pids) : { rss: NaN, cpuS: NaN });
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const wanted = Math.max(o.workers ?? 1, Math.ceil(o.polls / 15_000));
  // One client process per core at most, so the client does not steal the servers' CPU; beyond
  // about 2 x 18,000 sockets only --oversubscribe (and the run's JSON says so) goes further.
  const workersN = o.oversubscribe ? wanted : Math.min(wanted, cores);
  if (Math.ceil(o.polls / workersN) > 18_000) throw new Error('too many polls per client process for the 20,000 open-files limit');
  const localAddresses = Array.from({ length: o.sourceAddrs }, (_, i) => `127.0.0.${i + 1}`);
  const procs = dep ? dep.nodes.map((n) => n.proc) : [];
  /** @type {import('node:child_process').ChildProcess[]} */
  const workers = [];
  /** @type {RedisWatch | undefined} */
  let watch;
  let failed = true;
  try {
    if (target === 'qrelay' && mode === 'cluster') watch = await RedisWatch.open(o.redisUrl);
    await sleep(500);
    const before = stats();
    for (let i = 0; i < workersN; i++) {
      const w = fork(path.join(HERE, 'load-worker.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      liveWorkers.add(w);
      w.once('exit', () => liveWorkers.delete(w));
      workers.push(w);
    }
    const share = (/** @type {number} */ total, /** @type {number} */ i) => Math.floor(total / workersN) + (i < total % workersN ? 1 : 0);
    const heldMsgs = await Promise.all(
      workers.map((w, i) => {
        const p = nextMessage(w, 'held', 180_000);
        w.send({
          type: 'init',
          cfg: {
            id: i,
            publicTargets: publicUrls.map(targetOf),
            privateTargets: privateUrls.map(targetOf),
            internalToken,
            slots: share(o.polls, i),
            localAddresses,
            rampConcurrency: 200,
            maxSetConns: 256,
            lostMs: o.lostMs,
            minHeldMs: 20,
            holdMs: o.holdMs,
          },
        });
        return p;
      }),
    );
    const held = heldMsgs.reduce((a, m) => a + m.held, 0);
    const rampMs = Math.max(...heldMsgs.map((m) => m.rampMs));
    await sleep(1000);
    const heldStats = stats();
    // Fresh and scanned keys alternate from here on (see prime() in load-worker.mjs).
    const primed = await Promise.all(
      workers.map((w) => {
        const p = nextMessage(w, 'primed', 180_000);
        w.send({ type: 'prime' });
        return p;
      }),
    );
    const prime = {
      ms: Math.round(Math.max(...primed.map((m) => m.primeMs))),
      sets: primed.reduce((a, m) => a + m.sets, 0),
      lost: primed.reduce((a, m) => a + m.lost, 0),
    };

    /** @type {Record<string, any>} */
    const phases = {};
    for (const name of o.phases) {
      const s0 = stats();
      const r0 = await watch?.sample(procs);
      const m0 = machineSample();
      const t0 = performance.now();
      const results = await Promise.all(
        workers.map((w, i) => {
          const p = nextMessage(w, 'phase-result', (Math.max(o.durationS, o.closedS) + 60) * 1000);
          w.send(
            name === 'open'
              ? { type: 'phase', name, rate: o.rate / workersN, durationMs: o.durationS * 1000 }
              : { type: 'phase', name, inflight: Math.max(1, share(o.inflight, i)), durationMs: o.closedS * 1000 },
          );
          return p;
        }),
      );
      const wallS = (performance.now() - t0) / 1000;
      const s1 = stats();
      const r1 = await watch?.sample(procs);
      const sum = (/** @type {string} */ k) => results.reduce((a, r) => a + (r[k] ?? 0), 0);
      const lat = latencySummary(results.map((r) => r.latencies));
      const lag = latencySummary(results.map((r) => r.schedLag));
      const fromSchedule = latencySummary(results.map((r) => r.fromSchedule));
      const m1 = machineSample();
      const nodesCpuS = s1.cpuS - s0.cpuS;
      const wakes = sum('wakes');
      const logins = sum('logins');
      /** @type {Record<string, any>} */
      let redis = NO_REDIS;
      if (watch && r0 && r1) {
        const othersActive = await watch.othersActive(r1.nodes.flatMap((n) => n?.localPorts ?? []), wallS);
        redis = redisWork(r0, r1, { logins, wakes, othersActive });
        if (redis.cpuSource === 'missing') process.stderr.write('bench: the Redis process\'s CPU time is missing (neither /proc nor INFO cpu had it); server CPU is reported as missing\n');
        if (redis.roundTrips === null && procs.length > 0) process.stderr.write('bench: the nodes did not report their Redis requests (redis-count-hook.mjs not loaded?); round trips are missing\n');
      }
      // Server CPU: the nodes' and, in cluster mode, the Redis process's (NaN if it is missing).
      const serverCpuS = nodesCpuS + Number(redis.cpuS);
      /** @type {Record<string, any>} */
      const ph = {
        setsSent: sum('setsSent'),
        setsOk: sum('setsOk'),
        wakes,
        logins,
        lost: sum('lost'),
        notWokenAtEnd: sum('stillPending'),
        undelivered: sum('undelivered'),
        starved: sum('starved'),
        notIssued: sum('notIssued'),
        sessionsCreated: sum('sessionsCreated'),
        polls: sum('polls'),
        timeouts204: sum('timeouts204'),
        errors: addCounts(results.map((r) => r.errors)),
        latencyMs: lat,
        sendLagMs: { p99: lag.p99, max: lag.max },
        latencyFromScheduleMs: fromSchedule,
        machine: machineDelta(m0, m1),
        heldAtEnd: sum('heldAtEnd'),
        serverCpuS: Math.round(serverCpuS * 100) / 100,
        nodesCpuS: Math.round(nodesCpuS * 100) / 100,
        redisCpuS: redis.cpuS,
        serverCpuPct: Math.round((serverCpuS / wallS) * 1000) / 10,
        serverCpuMsPerWake: r3((serverCpuS * 1000) / Math.max(1, wakes)),
        nodesCpuMsPerWake: r3((nodesCpuS * 1000) / Math.max(1, wakes)),
        redis,
        clientCpuS: Math.round(sum('clientCpuS') * 100) / 100,
        wallS: Math.round(wallS * 10) / 10,
      };
      ph.errorCount = Object.values(ph.errors).reduce((a, b) => a + b, 0);
      if (name === 'open') {
        const activeS = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
        ph.achievedSetRate = Math.round(ph.setsSent / activeS);
        ph.serverCpuMsPerSet = r3((serverCpuS * 1000) / Math.max(1, ph.setsOk));
      } else {
        const windowS = Math.max(...results.map((r) => r.windowMs)) / 1000;
        ph.inflight = o.inflight;
        ph.wakesPerSec = Math.round(sum('wakesInWindow') / windowS);
      }
      phases[name] = ph;
    }
    await Promise.all(
      workers.map((w) => {
        const p = nextMessage(w, 'stopped', 10_000).catch(() => undefined);
        w.send({ type: 'stop' });
        return p;
      }),
    );
    failed = false;
    return {
      variant: v.label,
      redisByRoute: o.redisByRoute && mode === 'cluster' ? true : undefined,
      target,
      mode,
      logLevel: target === 'qrelay' ? (dep?.logLevel ?? o.serverEnv.LOG_LEVEL ?? v.logLevel) : undefined,
      nodes: pids.length || publicUrls.length,
      polls: o.polls,
      held,
      rampMs: Math.round(rampMs),
      prime,
      rate: o.rate,
      durationS: o.durationS,
      closedS: o.closedS,
      workers: workersN,
      cores,
      build: target === 'qrelay' ? QRELAY_BUILD : undefined,
      server: {
        rssBeforeBytes: before.rss,
        rssHeldBytes: heldStats.rss,
        rssPerHeldPollBytes: Math.round((heldStats.rss - before.rss) / Math.max(1, held)),
        cpuRampS: Math.round((heldStats.cpuS - before.cpuS) * 100) / 100,
      },
      ...phases,
      at: new Date().toISOString(),
    };
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    watch?.close();
    if (dep) {
      await stopDeployment(dep, { keepLogs: o.keepLogs || failed });
      liveDeployments.delete(dep);
      if (failed) process.stderr.write(`bench: the servers' logs: ${dep.nodes.map((n) => n.logFile).join(' ')}\n`);
    }
  }
}

// ---------------------------------------------------------------- output

/** @param {number} x */
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** The variant a saved run belongs to (lines saved before variants existed have none). */
const labelOf = (/** @type {any} */ r) => r.variant ?? (r.target === 'ceiling' ? 'ceiling' : r.mode);

/** @param {any[]} runs */
function table(runs) {
  const head = ['variant', 'log', 'polls', 'phase', 'p50 ms', 'p90', 'p99', 'p99.9', 'max', 'lost', 'err', 'sets/s', 'wakes/s', 'cpu%', 'ms/wake', 'redis ms', 'cmd/login', 'rt/login', 'RSS/poll B'];
  /** @type {string[][]} */
  const rows = [];
  const notes = new Set();
  for (const r of runs) {
    for (const name of ['open', 'closed']) {
      const ph = r[name];
      if (!ph) continue;
      const rd = ph.redis;
      let redisCells = ['-', '-', '-'];
      if (rd?.present === false) {
        redisCells = ['0', '0', '0'];
        notes.add('0 in the Redis columns: no Redis (memory mode, the yardstick).');
      } else if (rd) {
        const shared = rd.otherClientsActive > 0 || rd.connectionsReceived > 0;
        if (shared) notes.add('* other clients used Redis during the phase: their commands and CPU are in these figures.');
        const mark = shared ? '*' : '';
        redisCells = [f(rd.cpuMsPerWake, 3) + mark, f(rd.commandsPerLogin) + mark, f(rd.roundTripsPerLogin ?? NaN)];
      }
      rows.push([
        labelOf(r), r.logLevel ?? '-', String(r.held), name,
        f(ph.latencyMs.p50), f(ph.latencyMs.p90), f(ph.latencyMs.p99), f(ph.latencyMs.p999), f(ph.latencyMs.max),
        String(ph.lost), String(ph.errorCount + ph.notWokenAtEnd),
        String(ph.achievedSetRate ?? '-'), String(ph.wakesPerSec ?? Math.round(ph.wakes / Math.max(0.001, r.durationS))),
        f(ph.serverCpuPct, 1), f(ph.serverCpuMsPerWake ?? ph.serverCpuMsPerSet, 3), ...redisCells, String(r.server.rssPerHeldPollBytes),
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => /** @type {string} */ (row[i]).length)));
  const line = (/** @type {string[]} */ cells) => cells.map((c, i) => c.padStart(/** @type {number} */ (widths[i]))).join('  ');
  return [line(head), ...rows.map(line), ...notes].join('\n');
}

/**
 * The nodes' Redis round trips per HTTP request of each route (--redis-by-route), per run and phase.
 * @param {any[]} runs
 */
function routeTable(runs) {
  const out = [];
  for (const [i, r] of runs.entries()) {
    for (const name of ['open', 'closed']) {
      const routes = r[name]?.redis?.byRoute;
      if (!routes) continue;
      out.push(`Redis round trips per HTTP request, run ${i + 1} (${labelOf(r)}), ${name}:`);
      for (const [route, x] of Object.entries(routes)) {
        const parts = Object.entries(x.perRequest).map(([k, v]) => `${k} ${f(Number(v))}`).join(', ');
        out.push(`  ${route.padEnd(28)} ${String(x.httpRequests).padStart(8)} requests  ${f(x.roundTripsPerRequest ?? NaN).padStart(6)} /request  ${parts}`);
      }
    }
  }
  return out.length > 0 ? `\n${out.join('\n')}\n` : '';
}

/** What --compare sets side by side, each from the runs' JSON. */
const COMPARED = {
  p50LatencyMs: (/** @type {any} */ r) => r.open?.latencyMs.p50,
  p99LatencyMs: (/** @type {any} */ r) => r.open?.latencyMs.p99,
  p999LatencyMs: (/** @type {any} */ r) => r.open?.latencyMs.p999,
  lostOpen: (/** @type {any} */ r) => r.open?.lost,
  achievedSetRate: (/** @type {any} */ r) => r.open?.achievedSetRate,
  serverCpuMsPerWakeOpen: (/** @type {any} */ r) => r.open?.serverCpuMsPerWake,
  nodesCpuMsPerWakeOpen: (/** @type {any} */ r) => r.open?.nodesCpuMsPerWake,
  serverCpuMsPerSet: (/** @type {any} */ r) => r.open?.serverCpuMsPerSet,
  redisCommandsPerLogin: (/** @type {any} */ r) => (r.open ?? r.closed)?.redis?.commandsPerLogin,
  redisRoundTripsPerLogin: (/** @type {any} */ r) => (r.open ?? r.closed)?.redis?.roundTripsPerLogin,
  maxWakesPerSec: (/** @type {any} */ r) => r.closed?.wakesPerSec,
  closedP99LatencyMs: (/** @type {any} */ r) => r.closed?.latencyMs.p99,
  lostClosed: (/** @type {any} */ r) => r.closed?.lost,
  serverCpuMsPerWakeClosed: (/** @type {any} */ r) => r.closed?.serverCpuMsPerWake,
  nodesCpuMsPerWakeClosed: (/** @type {any} */ r) => r.closed?.nodesCpuMsPerWake,
  rssPerHeldPollBytes: (/** @type {any} */ r) => r.server.rssPerHeldPollBytes,
};

/**
 * Medians of each variant and their ratio a/b.
 * @param {any[]} runs
 * @param {[string, string]} variants
 */
function ratios(runs, [a, b]) {
  const med = (/** @type {string} */ label, /** @type {(r: any) => number} */ get) => median(runs.filter((r) => labelOf(r) === label).map(get));
  /** @type {Record<string, any>} */
  const out = { type: 'compare', variants: [a, b], runs: runs.filter((r) => labelOf(r) === a).length };
  for (const [name, get] of Object.entries(COMPARED)) {
    const x = med(a, get);
    const y = med(b, get);
    if (!Number.isFinite(x) && !Number.isFinite(y)) continue;
    out[name] = { [a]: x, [b]: y, ratio: Math.round((x / y) * 100) / 100 };
  }
  return out;
}

// ---------------------------------------------------------------- main

async function cleanupAll() {
  for (const w of liveWorkers) w.kill('SIGKILL');
  await Promise.all([...liveDeployments].map((d) => stopDeployment(d).catch(() => undefined)));
}

/**
 * Prints the table and, when the runs hold two variants, their ratios.
 * @param {any[]} runs
 * @param {string[]} [variants] which two to compare, in order (default: the two in the runs, the
 *   yardstick second)
 */
function printSummary(runs, variants) {
  process.stdout.write(`\n${table(runs)}\n${routeTable(runs)}`);
  let pair = variants;
  if (pair === undefined) {
    const labels = [...new Set(runs.map(labelOf))];
    pair = labels.includes('ceiling') ? [...labels.filter((l) => l !== 'ceiling'), 'ceiling'] : labels;
  }
  const [a, b] = pair;
  if (pair.length !== 2 || a === undefined || b === undefined) return undefined;
  const c = ratios(runs, [a, b]);
  process.stdout.write(`${JSON.stringify(c)}\n`);
  process.stdout.write(`\n${a} / ${b} (ratio of medians)\n`);
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'object' && v !== null && 'ratio' in v) process.stdout.write(`  ${k.padEnd(26)} ${f(v[a], 3).padStart(10)} ${f(v[b], 3).padStart(10)}  x${f(v.ratio)}\n`);
  }
  return c;
}

async function main() {
  const o = options();
  if (o.table) {
    const lines = fs.readFileSync(o.table, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const compared = lines.filter((l) => l.type === 'compare' && Array.isArray(l.variants)).at(-1)?.variants;
    printSummary(lines.filter((r) => r.type === undefined), compared);
    return;
  }
  // Hard bound on the whole bench: every run's phases plus generous set-up and drain time.
  const boundMs = o.runs * o.variants.length * ((o.durationS + o.closedS) * 1000 + 240_000);
  const hard = setTimeout(async () => {
    process.stderr.write(`bench: still running after ${boundMs} ms; stopping\n`);
    await cleanupAll();
    process.exit(4);
  }, boundMs);
  hard.unref();
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.once(sig, async () => {
      await cleanupAll();
      process.exit(130);
    });
  }

  /** @type {Variant[]} */
  const order = [];
  for (let i = 0; i < o.runs; i++) order.push(...(i % 2 === 0 ? o.variants : [...o.variants].reverse()));
  const runs = [];
  for (const [i, v] of order.entries()) {
    process.stderr.write(`bench: run ${i + 1}/${order.length}: ${v.label}${v.logLevel ? ` (LOG_LEVEL ${o.serverEnv.LOG_LEVEL ?? v.logLevel})` : ''} polls=${o.polls} phases=${o.phases.join(',')}\n`);
    const r = await runOnce(o, v);
    runs.push(r);
    const json = JSON.stringify(r);
    process.stdout.write(`${json}\n`);
    if (o.out) fs.appendFileSync(o.out, `${json}\n`);
  }
  const c = printSummary(runs, o.compare ? o.variants.map((/** @type {Variant} */ v) => v.label) : undefined);
  if (c && o.out) fs.appendFileSync(o.out, `${JSON.stringify(c)}\n`);
  clearTimeout(hard);
}

main().catch(async (e) => {
  process.stderr.write(`bench: ${e?.stack ?? e}\n`);
  await cleanupAll();
  process.exit(1);
});
