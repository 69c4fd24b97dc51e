// Preloaded into each qrelay node of a cluster run (NODE_OPTIONS=--import=<this file>): counts the
// requests the node sends Redis, so the bench can report round trips per login. Redis's own
// counters cannot tell them: INFO commandstats and total_commands_processed also count each command
// a Lua script calls and each command of a MULTI, under the same names as top-level ones.
//
// A request is one write of ioredis to its socket: a command (an EVALSHA, and the EVAL that follows
// a NOSCRIPT, each count), or a whole pipeline or MULTI...EXEC batch, which ioredis writes at once
// and whose replies arrive together. An auto-pipelined batch would count as one request too.
// Counting wraps Redis.prototype.sendCommand of the ioredis the node itself loads (resolved from
// its main script), so it adds a counter increment per command and changes nothing else.
//
// With QRELAY_BENCH_REDIS_BY_ROUTE=1 it also tells which HTTP route each request served: every
// incoming HTTP request runs in an AsyncLocalStorage context named for its method and path, which
// the work it starts (awaits, timers, the give-back when a poll ends) inherits. That costs CPU on
// every promise, so it is for attribution runs, not for CPU figures.
//
// The parent asks over the IPC channel ({type:'redis-requests?'}) and gets {type:'redis-requests',
// available, requests, commands, byRequest, byRoute, localPorts}; byRequest names a script by the
// name it was defined under (qrelayClaim, rlflxIncr) and a batch by its first commands (multi:hset).
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

/** @typedef {{ http: number, requests: number, byRequest: Record<string, number> }} RouteCounts */

const counts = {
  available: false,
  /** Requests written (round trips). */
  requests: 0,
  /** Commands written, a batch's MULTI, EXEC and queued commands each counted. */
  commands: 0,
  /** @type {Record<string, number>} */
  byRequest: {},
  /** @type {Record<string, RouteCounts> | null} HTTP requests and Redis requests per route, when asked for */
  byRoute: null,
  /** @type {number[]} the local ports of the node's Redis connections, to tell them apart in CLIENT LIST */
  localPorts: [],
};

/** @type {AsyncLocalStorage<RouteCounts> | undefined} */
let route;
if (process.env.QRELAY_BENCH_REDIS_BY_ROUTE === '1') {
  /** @type {Record<string, RouteCounts>} */
  const byRoute = {};
  counts.byRoute = byRoute;
  const als = new AsyncLocalStorage();
  route = als;
  const emit = /** @type {(this: http.Server, event: string | symbol, ...args: any[]) => boolean} */ (http.Server.prototype.emit);
  http.Server.prototype.emit = function (/** @type {string | symbol} */ event, /** @type {any[]} */ ...args) {
    if (event !== 'request') return emit.call(this, event, ...args);
    const req = /** @type {http.IncomingMessage} */ (args[0]);
    // Method and path without the query; past 50 distinct routes the rest share one name.
    let name = `${req.method} ${(req.url ?? '').split('?')[0]}`;
    if (!(name in byRoute) && Object.keys(byRoute).length >= 50) name = 'other';
    const r = (byRoute[name] ??= { http: 0, requests: 0, byRequest: {} });
    r.http++;
    return als.run(r, () => emit.call(this, event, ...args));
  };
}

/** @param {string} label */
const countRequest = (label) => {
  counts.requests++;
  counts.byRequest[label] = (counts.byRequest[label] ?? 0) + 1;
  const r = route === undefined || counts.byRoute === null ? undefined : (route.getStore() ?? (counts.byRoute.none ??= { http: 0, requests: 0, byRequest: {} }));
  if (r !== undefined) {
    r.requests++;
    r.byRequest[label] = (r.byRequest[label] ?? 0) + 1;
  }
};

try {
  const require = createRequire(path.resolve(process.argv[1] ?? 'main.js'));
  const { Redis } = require('ioredis');
  /** @type {Map<string, string>} script SHA1 -> the name defineCommand gave it */
  const scripts = new Map();
  const defineCommand = Redis.prototype.defineCommand;
  Redis.prototype.defineCommand = function (/** @type {string} */ name, /** @type {{ lua: string }} */ definition) {
    scripts.set(createHash('sha1').update(definition.lua).digest('hex'), name);
    return defineCommand.call(this, name, definition);
  };
  /** @type {WeakMap<object, { first: string, seen: number }>} the batches (pipeline streams) seen so far */
  const batches = new WeakMap();
  const sendCommand = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (/** @type {any} */ command, /** @type {any} */ stream) {
    counts.commands++;
    const port = this.stream?.localPort;
    if (port !== undefined && !counts.localPorts.includes(port)) counts.localPorts.push(port);
    const name = command.name === 'evalsha' || command.name === 'eval'
      ? (scripts.get(command.name === 'evalsha' ? String(command.args[0]) : createHash('sha1').update(String(command.args[0])).digest('hex')) ?? command.name)
      : command.name;
    if (stream?.isPipeline) {
      const batch = batches.get(stream);
      // A batch is labelled by its first command, a transaction by the one after MULTI.
      if (batch === undefined) {
        batches.set(stream, { first: name, seen: 1 });
        if (name !== 'multi') countRequest(`pipeline:${name}`);
      } else if (++batch.seen === 2 && batch.first === 'multi') {
        countRequest(`multi:${name}`);
      }
    } else {
      countRequest(name);
    }
    return sendCommand.call(this, command, stream);
  };
  counts.available = true;
} catch {
  // No ioredis beside the main script: the bench reports round trips as missing.
}

if (typeof process.send === 'function') {
  process.on('message', (/** @type {any} */ msg) => {
    if (msg?.type === 'redis-requests?') process.send?.({ type: 'redis-requests', ...counts });
  });
  // The channel must not keep the node alive, nor change how it stops.
  process.channel?.unref();
}
