// One load-generator process (forked by bench.mjs). It owns a slice of the held polls, and it is
// the only process that sends sets to its keys, so set-to-wake latency is measured on one clock:
// the poll's response arrival minus the set's send time, both performance.now() here.
//
// Design: a pool of `slots`. A slot is one keep-alive connection to a public listener that mints
// a session (POST /status/new), then holds its poll (GET /status/get). Held keys wait in a FIFO;
// the set stream takes the oldest held key and sends `scanned` (version 0 -> 1). The woken poll
// re-polls with since=1 and goes back to the end of the FIFO; its next set is `confirmed`
// (1 -> 2), a final status that is handed out once, so the slot then mints a fresh session on the
// same connection and holds its poll. Each key gets at most 2 sets; 60,000 sets use ~30,000
// sessions, spread over a constant number of held polls.
//
// Protocol with the parent (IPC): {type:'init', cfg} -> ramp up, reply {type:'held', ...};
// {type:'prime'} -> scan every other held key (see prime()), reply {type:'primed', ...};
// {type:'phase', name:'open'|'closed', ...} -> run, reply {type:'phase-result', ...};
// {type:'stop'} -> close every socket, reply {type:'stopped'}, exit.
import { performance } from 'node:perf_hooks';
import { MiniConn } from './mini-http.mjs';

/**
 * @typedef {import('./mini-http.mjs').Target} Target
 * @typedef {{
 *   id: number,
 *   publicTargets: Target[],
 *   privateTargets: Target[],
 *   internalToken?: string,
 *   slots: number,
 *   localAddresses: string[],
 *   rampConcurrency: number,
 *   maxSetConns: number,
 *   lostMs: number,
 *   minHeldMs: number,
 *   holdMs: number,
 * }} WorkerConfig
 * @typedef {{ t0: number, want: number, intended: number }} PendingSet
 * @typedef {{
 *   id: number, node: number, conn: MiniConn | null, key: string, token: string, version: number,
 *   state: 'idle' | 'creating' | 'held' | 'dead', pending: PendingSet | null, inQueue: boolean,
 *   queuedAt: number, restarts: number, gen: number
 * }} Slot
 */

/** @type {WorkerConfig} */
let cfg;
/** @type {Slot[]} */
const slots = [];
/** FIFO of slots whose poll is held and that have no set in flight (ring over an array). */
/** @type {Slot[]} */
let fifo = [];
let fifoHead = 0;
/** Slots with a set in flight, waiting for their poll to wake. */
/** @type {Set<Slot>} */
const pendingSlots = new Set();
let running = true;

/** Counters of the current phase. */
let m = freshMetrics();

function freshMetrics() {
  return {
    /** @type {number[]} */ latencies: [],
    /** @type {number[]} */ schedLag: [],
    /** @type {number[]} */ fromSchedule: [],
    setsSent: 0,
    setsOk: 0,
    undelivered: 0,
    wakes: 0,
    /** Sessions whose poll received their final status (confirmed): completed logins. */
    logins: 0,
    lost: 0,
    starved: 0,
    notIssued: 0,
    sessionsCreated: 0,
    polls: 0,
    timeouts204: 0,
    /** @type {Record<string, number>} */ errors: {},
  };
}

/** @param {string} what */
function err(what) {
  m.errors[what] = (m.errors[what] ?? 0) + 1;
}

const pick = (/** @type {number} */ n) => Math.floor(Math.random() * n);

function authHeader(/** @type {string} */ token) {
  return `Authorization: Bearer ${token}\r\n`;
}

// ---------------------------------------------------------------- slots: create, hold, re-poll

/** @param {Slot} slot */
function connFor(slot) {
  if (slot.conn === null || slot.conn.dead) {
    const target = /** @type {Target} */ (cfg.publicTargets[slot.node]);
    const local = cfg.localAddresses.length > 0 ? cfg.localAddresses[slot.id % cfg.localAddresses.length] : undefined;
    slot.conn = new MiniConn(target, local);
  }
  return slot.conn;
}

/**
 * Mints a session on the slot's connection, then holds its poll. Resolves once the poll is sent.
 * @param {Slot} slot
 * @returns {Promise<boolean>}
 */
async function startSlot(slot) {
  const gen = ++slot.gen;
  slot.state = 'creating';
  slot.inQueue = false;
  slot.pending = null;
  pendingSlots.delete(slot);
  let res;
  try {
    res = await connFor(slot).request('POST', '/status/new', 'Content-Type: application/json\r\n', '{}', 15_000);
  } catch {
    if (!running || gen !== slot.gen) return false;
    err('create_conn');
    return restartLater(slot, gen);
  }
  if (!running || gen !== slot.gen) return false;
  if (res.status !== 201) {
    err(`create_${res.status}`);
    return restartLater(slot, gen);
  }
  const body = JSON.parse(res.body);
  slot.key = body.key;
  slot.token = body.pollToken;
  slot.version = body.version ?? 0;
  m.sessionsCreated++;
  slot.restarts = 0;
  poll(slot, gen);
  return true;
}

/**
 * A failed slot starts over on a new connection after a short, growing pause (bounded tries).
 * @param {Slot} slot
 * @param {number} gen
 * @returns {Promise<boolean>}
 */
function restartLater(slot, gen) {
  slot.conn?.destroy();
  slot.conn = null;
  slot.state = 'dead';
  if (++slot.restarts > 8) return Promise.resolve(false);
  const delay = Math.min(2000, 50 * 2 ** Math.min(slot.restarts, 6));
  return new Promise((resolve) => {
    setTimeout(() => {
      if (!running || gen !== slot.gen) return resolve(false);
      resolve(startSlot(slot));
    }, delay);
  });
}

/**
 * Sends the slot's poll (since = its version) and handles the answer.
 * @param {Slot} slot
 * @param {number} gen
 */
function poll(slot, gen) {
  slot.state = 'held';
  if (slot.pending === null && !slot.inQueue) {
    slot.inQueue = true;
    slot.queuedAt = performance.now();
    fifo.push(slot);
  }
  m.polls++;
  const conn = connFor(slot);
  conn.request('GET', `/status/get?key=${slot.key}&since=${slot.version}`, authHeader(slot.token), undefined, cfg.holdMs + 15_000).then(
    (res) => onPollAnswer(slot, gen, res),
    (/** @type {Error & { code?: string }} */ e) => {
      if (!running || gen !== slot.gen) return;
      err(`poll_conn: ${e.code ?? e.message}`);
      if (slot.pending) err('pending_set_dropped');
      void restartLater(slot, gen);
    },
  );
}

/**
 * @param {Slot} slot
 * @param {number} gen
 * @param {import('./mini-http.mjs').MiniResponse} res
 */
function onPollAnswer(slot, gen, res) {
  if (!running || gen !== slot.gen) return;
  if (res.status === 204) {
    m.timeouts204++;
    poll(slot, gen);
    return;
  }
  if (res.status !== 200) {
    err(`poll_${res.status}`);
    void startSlot(slot);
    return;
  }
  const view = JSON.parse(res.body);
  const version = Number(view.version);
  const p = slot.pending;
  if (p !== null && version >= p.want) {
    m.latencies.push(res.at - p.t0);
    m.fromSchedule.push(res.at - p.intended);
    m.wakes++;
    slot.pending = null;
    pendingSlots.delete(slot);
    onWake();
  } else if (p === null) {
    err('unexpected_wake');
  }
  slot.version = version;
  if (view.status === 'confirmed' || view.status === 'cancelled' || view.status === 'expired') {
    if (view.status === 'expired') err('expired');
    else m.logins++;
    void startSlot(slot); // final status handed out: mint a fresh session on this connection
    return;
  }
  poll(slot, gen);
}

// ---------------------------------------------------------------- sets

/** Idle set connections per private target, and requests waiting for one. */
/** @type {MiniConn[][]} */
let idleSetConns = [];
/** @type {number[]} */
let openSetConns = [];
/** @type {Array<() => void>[]} */
let waitingForConn = [];

/**
 * @param {number} node
 * @returns {Promise<MiniConn>}
 */
function acquireSetConn(node) {
  const idle = /** @type {MiniConn[]} */ (idleSetConns[node]);
  for (let guard = 0; guard < 1000 && idle.length > 0; guard++) {
    const c = /** @type {MiniConn} */ (idle.pop());
    if (!c.dead) return Promise.resolve(c);
    openSetConns[node] = (openSetConns[node] ?? 1) - 1;
  }
  if ((openSetConns[node] ?? 0) < cfg.maxSetConns) {
    openSetConns[node] = (openSetConns[node] ?? 0) + 1;
    // A set is sent on a connected socket only, so a slow TCP connect is not counted as latency.
    const conn = newSetConn(node);
    return conn.connected.then(() => conn);
  }
  return new Promise((resolve) => {
    /** @type {Array<() => void>} */ (waitingForConn[node]).push(() => resolve(acquireSetConn(node)));
  });
}

/**
 * @param {number} node
 * @param {MiniConn} conn
 */
function releaseSetConn(node, conn) {
  if (conn.dead) openSetConns[node] = (openSetConns[node] ?? 1) - 1;
  else /** @type {MiniConn[]} */ (idleSetConns[node]).push(conn);
  const next = /** @type {Array<() => void>} */ (waitingForConn[node]).shift();
  if (next) next();
}

/** @param {number} node */
function newSetConn(node) {
  const local = cfg.localAddresses.length > 0 ? cfg.localAddresses[pick(cfg.localAddresses.length)] : undefined;
  return new MiniConn(/** @type {Target} */ (cfg.privateTargets[node]), local);
}

/** Opens the set connections before any phase, so no phase pays for TCP connects. */
async function warmSetConns() {
  const per = Math.min(cfg.maxSetConns, 64);
  await Promise.all(
    cfg.privateTargets.map(async (_, node) => {
      const conns = Array.from({ length: per }, () => newSetConn(node));
      const ok = await Promise.all(conns.map((c) => c.connected));
      conns.forEach((c, i) => {
        if (ok[i]) {
          /** @type {MiniConn[]} */ (idleSetConns[node]).push(c);
          openSetConns[node] = (openSetConns[node] ?? 0) + 1;
        } else c.destroy();
      });
    }),
  );
}

/** @returns {Slot | null} the oldest held key with no set in flight, held at least minHeldMs */
function takeHeldKey() {
  const now = performance.now();
  for (let guard = 0; guard < 100_000 && fifoHead < fifo.length; guard++) {
    const slot = /** @type {Slot} */ (fifo[fifoHead]);
    if (!slot.inQueue || slot.state !== 'held' || slot.pending !== null) {
      fifoHead++;
      continue;
    }
    if (now - slot.queuedAt < cfg.minHeldMs) return null;
    fifoHead++;
    slot.inQueue = false;
    if (fifoHead > 65536) {
      fifo = fifo.slice(fifoHead);
      fifoHead = 0;
    }
    return slot;
  }
  return null;
}

const setHeaders = () => `Content-Type: application/json\r\n${cfg.internalToken ? authHeader(cfg.internalToken) : ''}`;
let setHeaderCache = '';

/**
 * Sends the next status change for `slot`'s key: scanned at version 0, confirmed at version 1.
 * @param {Slot} slot
 * @param {number} intended performance.now() at which the schedule wanted this set sent
 */
async function sendSet(slot, intended) {
  const status = slot.version === 0 ? 'scanned' : 'confirmed';
  const want = slot.version + 1;
  const gen = slot.gen;
  const node = pick(cfg.privateTargets.length);
  /** @type {PendingSet} */
  const p = { t0: 0, want, intended };
  slot.pending = p;
  pendingSlots.add(slot);
  m.setsSent++;
  const conn = await acquireSetConn(node);
  if (!running) return;
  p.t0 = performance.now();
  m.schedLag.push(p.t0 - intended);
  let res;
  try {
    res = await conn.request('POST', '/status/set', setHeaderCache, `{"key":"${slot.key}","status":"${status}","actor":"bench"}`, 15_000);
  } catch {
    releaseSetConn(node, conn);
    if (!running) return;
    err('set_conn');
    failSet(slot, gen, p);
    return;
  }
  releaseSetConn(node, conn);
  if (res.status !== 200) {
    err(`set_${res.status}`);
    failSet(slot, gen, p);
    return;
  }
  m.setsOk++;
  if (res.body.includes('"delivered":false')) m.undelivered++;
}

/**
 * A set that failed: forget its wake and give the slot a fresh session.
 * @param {Slot} slot
 * @param {number} gen
 * @param {PendingSet} p
 */
function failSet(slot, gen, p) {
  if (gen !== slot.gen || slot.pending !== p) return;
  restartSlot(slot);
}

/**
 * Forgets the slot's pending set and starts it over with a fresh session on a fresh connection.
 * @param {Slot} slot
 */
function restartSlot(slot) {
  slot.pending = null;
  pendingSlots.delete(slot);
  onWake();
  slot.conn?.destroy();
  slot.conn = null;
  void startSlot(slot);
}

/** Sets still waiting past lostMs are lost: count them and give the slot a fresh session. */
function sweepLost() {
  const now = performance.now();
  for (const slot of pendingSlots) {
    const p = /** @type {PendingSet} */ (slot.pending);
    if (p.t0 > 0 && now - p.t0 > cfg.lostMs) {
      m.lost++;
      restartSlot(slot);
    }
  }
}

// ---------------------------------------------------------------- phases

/** Called when a set stops being in flight (woken, lost or failed); the closed loop refills. */
let onWake = () => {};

/**
 * @param {{ rate: number, durationMs: number }} opts
 */
async function openLoop({ rate, durationMs }) {
  const start = performance.now();
  const end = start + durationMs;
  const total = Math.round((rate * durationMs) / 1000);
  let issued = 0;
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000));
      for (let guard = 0; guard < 10_000 && issued < due; guard++) {
        const slot = takeHeldKey();
        if (slot === null) {
          m.starved++;
          break; // try again next tick; the schedule catches up
        }
        const intended = start + (issued * 1000) / rate;
        issued++;
        void sendSet(slot, intended);
      }
      if (issued >= total || now >= end + 2000) {
        clearInterval(tick);
        resolve(undefined);
      }
    }, 1);
  });
  m.notIssued = total - issued;
  return performance.now() - start;
}

/**
 * Keeps `inflight` sets waiting for their wake at all times, for `durationMs`.
 * @param {{ inflight: number, durationMs: number }} opts
 */
async function closedLoop({ inflight, durationMs }) {
  const start = performance.now();
  let open = true;
  /** @type {NodeJS.Timeout | null} */
  let retry = null;
  const fill = () => {
    if (!open) return;
    for (let guard = 0; guard < 100_000 && pendingSlots.size < inflight; guard++) {
      const slot = takeHeldKey();
      if (slot === null) {
        m.starved++;
        retry ??= setTimeout(() => {
          retry = null;
          fill();
        }, Math.max(1, cfg.minHeldMs / 2));
        return;
      }
      void sendSet(slot, performance.now());
    }
  };
  onWake = fill;
  fill();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  open = false;
  onWake = () => {};
  if (retry) clearTimeout(retry);
  const wakesAtEnd = m.wakes;
  return { elapsed: performance.now() - start, wakesInWindow: wakesAtEnd };
}

/**
 * Waits for the sets still in flight to wake or be declared lost: lostMs + 1 s after the last one
 * was sent. Sets still queued for a connection (an overloaded server holds every set connection)
 * extend the wait, up to 60 s in all, so the next phase does not start on this one's backlog.
 */
async function drain() {
  const start = performance.now();
  let deadline = start + cfg.lostMs + 1000;
  for (let guard = 0; guard < 10_000 && pendingSlots.size > 0; guard++) {
    const now = performance.now();
    let queued = false;
    for (const slot of pendingSlots) if (slot.pending !== null && slot.pending.t0 === 0) queued = true;
    if (queued) deadline = Math.min(start + 60_000, Math.max(deadline, now + cfg.lostMs + 1000));
    if (now >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return pendingSlots.size;
}

// ---------------------------------------------------------------- IPC

/** @param {object} msg */
function send(msg) {
  process.send?.(msg);
}

async function init() {
  idleSetConns = cfg.privateTargets.map(() => []);
  openSetConns = cfg.privateTargets.map(() => 0);
  waitingForConn = cfg.privateTargets.map(() => []);
  setHeaderCache = setHeaders();
  for (let i = 0; i < cfg.slots; i++) {
    slots.push({
      id: i, node: pick(cfg.publicTargets.length), conn: null, key: '', token: '', version: 0,
      state: 'idle', pending: null, inQueue: false, queuedAt: 0, restarts: 0, gen: 0,
    });
  }
  // Ramp: at most rampConcurrency slots connecting and minting at once.
  const t0 = performance.now();
  let next = 0;
  let ok = 0;
  const runner = async () => {
    for (let guard = 0; guard < cfg.slots && next < slots.length; guard++) {
      const slot = /** @type {Slot} */ (slots[next++]);
      if (await startSlot(slot)) ok++;
    }
  };
  const progress = setInterval(() => {
    const states = { idle: 0, creating: 0, held: 0, dead: 0 };
    for (const s of slots) states[s.state]++;
    process.stderr.write(`bench worker ${cfg.id}: ramp ${Math.round(performance.now() - t0)} ms ${JSON.stringify(states)} errors=${JSON.stringify(m.errors)}\n`);
  }, 5000);
  await Promise.all(Array.from({ length: Math.min(cfg.rampConcurrency, cfg.slots) }, runner));
  clearInterval(progress);
  await warmSetConns();
  const held = slots.filter((s) => s.state === 'held').length;
  const result = { type: 'held', id: cfg.id, held, ok, rampMs: performance.now() - t0, errors: m.errors };
  m = freshMetrics();
  return result;
}

/**
 * Scans every other held key, then puts the FIFO back in its order, so that fresh and scanned keys
 * alternate. Every set turns a key over (fresh -> scanned, scanned -> a new fresh session) and
 * sends it to the back, so the FIFO keeps this pattern: sets alternate scanned and confirmed from
 * the first phase on, and any window of a phase holds as many of each as completed logins (the
 * Redis work per login is then that of whole logins). Without it the first `held` sets of a run
 * would all be scans, and then all confirms.
 */
async function prime() {
  const order = fifo.slice(fifoHead).filter((s) => s.inQueue && s.state === 'held' && s.pending === null);
  const start = performance.now();
  m = freshMetrics();
  for (let i = 1; i < order.length && running; i += 2) {
    for (let guard = 0; guard < 10_000 && pendingSlots.size >= cfg.rampConcurrency; guard++) await new Promise((r) => setTimeout(r, 2));
    const slot = /** @type {Slot} */ (order[i]);
    if (slot.state !== 'held' || !slot.inQueue) continue;
    slot.inQueue = false;
    void sendSet(slot, performance.now());
  }
  await drain();
  // The FIFO in its old order, then any key that joined it meanwhile (a slot that started over).
  const kept = order.filter((s) => s.state === 'held' && s.pending === null);
  const inOrder = new Set(kept);
  const joined = fifo.slice(fifoHead).filter((s) => s.inQueue && s.state === 'held' && s.pending === null && !inOrder.has(s));
  fifo = [...kept, ...new Set(joined)];
  fifoHead = 0;
  for (const s of fifo) {
    s.inQueue = true;
    s.queuedAt = start;
  }
  const result = { type: 'primed', id: cfg.id, primeMs: performance.now() - start, sets: m.setsOk, lost: m.lost, errors: m.errors };
  m = freshMetrics();
  return result;
}

const lostTimer = setInterval(() => sweepLost(), 100);
lostTimer.unref();

process.on('message', async (/** @type {any} */ msg) => {
  try {
    if (msg.type === 'init') {
      cfg = msg.cfg;
      send(await init());
    } else if (msg.type === 'prime') {
      send(await prime());
    } else if (msg.type === 'phase') {
      m = freshMetrics();
      const cpu0 = process.cpuUsage();
      let elapsed;
      let extra = {};
      if (msg.name === 'open') {
        elapsed = await openLoop({ rate: msg.rate, durationMs: msg.durationMs });
      } else {
        const r = await closedLoop({ inflight: msg.inflight, durationMs: msg.durationMs });
        elapsed = r.elapsed;
        extra = { wakesInWindow: r.wakesInWindow, windowMs: r.elapsed };
      }
      const cpu1 = process.cpuUsage(cpu0);
      const stillPending = await drain();
      const held = slots.filter((s) => s.state === 'held').length;
      send({
        type: 'phase-result', id: cfg.id, name: msg.name, elapsedMs: elapsed, stillPending, heldAtEnd: held,
        clientCpuS: (cpu1.user + cpu1.system) / 1e6, ...extra, ...m,
      });
    } else if (msg.type === 'stop') {
      running = false;
      for (const s of slots) s.conn?.destroy();
      for (const list of idleSetConns) for (const c of list) c.destroy();
      send({ type: 'stopped', id: cfg?.id });
      setTimeout(() => process.exit(0), 50);
    }
  } catch (e) {
    send({ type: 'error', id: cfg?.id, message: String(/** @type {Error} */ (e)?.stack ?? e) });
  }
});

// Never outlive the parent, and never run unbounded: hard stop after 30 minutes.
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(3), 30 * 60_000).unref();
