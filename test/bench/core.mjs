#!/usr/bin/env node
// The core alone, without sockets: SessionService + MemoryStore + PendingPolls from a build, driven
// through the same login cycle the HTTP bench drives (mint, hold a poll, scan wakes it, re-poll,
// confirm wakes it, hand out the final status once), with POLLS polls held throughout. It reports
// the main thread's CPU time per wake. With no network and no second process in the way, this is
// the figure to compare builds by when a change touches src/core: run it alternately against two
// builds (--dist) and compare medians.
//
//   node test/bench/core.mjs                          # dist/ of this checkout
//   node test/bench/core.mjs --dist /tmp/old/dist     # another build
//   node test/bench/core.mjs --polls 10000 --cycles 100000 --runs 5
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    dist: { type: 'string', default: path.resolve(HERE, '../../dist') },
    polls: { type: 'string', default: '10000' },
    cycles: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
  },
});
const dist = path.resolve(values.dist);
const load = (/** @type {string} */ m) => import(pathToFileURL(path.join(dist, m)).href);
const { MemoryStore } = await load('core/memory-store.js');
const { PendingPolls } = await load('core/pending-polls.js');
const { SessionService } = await load('core/session-service.js');
// Builds since the hand-out module: a poll takes the request's AbortSignal, and a final status
// comes with a receipt (`handOut`) settled once its response has left.
const RECEIPTS = fs.existsSync(path.join(dist, 'core/hand-out.js'));
// Builds since http/response-client.js (http/poll-response.js since it keeps the poll's slot too):
// a poll takes a PollClient (a flag and one listener) rather than an AbortSignal; this stands in
// for the HTTP layer's, without the response.
const POLL_CLIENT = ['http/response-client.js', 'http/poll-response.js'].some((m) => fs.existsSync(path.join(dist, m)));
/** What a poll is given to hear its client hang up (which never happens here). */
function pollClient() {
  if (POLL_CLIENT) {
    return {
      gone: false,
      listener: /** @type {unknown} */ (undefined),
      listen(/** @type {unknown} */ l) { this.listener = l; },
      keep(/** @type {() => void} */ release) { release(); },
    };
  }
  const controller = new AbortController();
  return RECEIPTS ? controller.signal : controller;
}

const HOLD_MS = 600_000;
const store = new MemoryStore({ graceMs: 60_000 });
const service = new SessionService({ store, polls: new PendingPolls(), sessionTtlMs: 3_600_000, holdMs: HOLD_MS, ticketTtlMs: 60_000, scanUrlBase: 'https://example.test/scan' });
const client = { ip: '192.0.2.1', userAgent: 'Mozilla/5.0 (bench)', acceptLanguage: 'en' };

/** Mints a session and holds its poll; returns what the next steps need. */
async function mintAndHold() {
  const s = await service.create(client);
  return { s, poll: service.poll(s.key, s.pollToken, 0, undefined, pollClient()) };
}

/** One login: scan wakes the held poll, re-poll, confirm wakes it, the final status is handed out. */
async function cycle(/** @type {{ s: { key: string, pollToken: string }, poll: Promise<{ view?: { version: number }, handOut?: any, lease?: string, handedOut?: true }> }} */ held) {
  const { s } = held;
  await service.set(s.key, { status: 'scanned', actor: 'u' });
  const first = await held.poll;
  if (first.view?.version !== 1) throw new Error(`expected version 1, got ${JSON.stringify(first)}`);
  const second = service.poll(s.key, s.pollToken, 1, undefined, pollClient());
  await service.set(s.key, { status: 'confirmed', actor: 'u', data: { ticket: 't' } });
  const final = await second;
  // (builds before 804f3a5 marked a hand-out with `handedOut: true` instead of a lease id)
  if (final.view?.version !== 2 || (final.handOut ?? final.lease ?? final.handedOut) === undefined) throw new Error(`expected a hand-out of version 2, got ${JSON.stringify(final)}`);
  if (RECEIPTS) await final.handOut.owner.record(final.handOut);
  else await service.completeHandOut(s.key, 'confirmed');
}

const polls = Number(values.polls);
const cycles = Number(values.cycles);
const held = [];
for (let i = 0; i < polls; i++) held.push(await mintAndHold());

const results = [];
for (let run = 0; run < Number(values.runs); run++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < cycles; i++) {
    const slot = i % polls;
    const h = held[slot];
    if (h === undefined) throw new Error(`no held poll in slot ${slot}`);
    await cycle(h);
    held[slot] = await mintAndHold(); // the PC shows a new QR: its session's poll is held again
  }
  const cpu = process.cpuUsage(cpu0);
  const wakes = 2 * cycles;
  results.push({ run: run + 1, usPerWake: Math.round(((cpu.user + cpu.system) / wakes) * 100) / 100, wallUsPerWake: Math.round(((performance.now() - t0) * 1000 / wakes) * 100) / 100 });
}
const sorted = results.map((r) => r.usPerWake).sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
console.log(JSON.stringify({ bench: 'core', dist, polls, cycles, runs: results, medianCpuUsPerWake: median, rssBytes: process.memoryUsage().rss }));
await service.shutdown();
await store.close();
