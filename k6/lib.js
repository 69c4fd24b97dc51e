// Shared helpers for the qrelay k6 scripts. Configuration comes from environment variables:
//   PUBLIC_URLS     comma-separated public base URLs (browser side), e.g. http://node1:11000,http://node2:11000
//   PRIVATE_URLS    comma-separated private base URLs (backend side), e.g. http://node1:11001,http://node2:11001
//   INTERNAL_TOKEN  bearer token of the private listener (cluster mode; empty when not set)
//   VUS             virtual users (each holds at most one poll at a time)
//   DURATION        how long the main scenario runs, a k6 duration such as 60s or 5m
//   HOLD_MS         the server's HOLD_MS (default 25000), to size request timeouts
// Requires k6 v0.52 or newer (async/await in VU code, http.asyncRequest, timers).
import http from 'k6/http';
import { Counter, Rate, Trend } from 'k6/metrics';
import { setTimeout } from 'k6/timers';

const list = (v, fallback) => (v || fallback).split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => s.replace(/\/+$/, ''));

export const PUBLIC_URLS = list(__ENV.PUBLIC_URLS, 'http://127.0.0.1:11000');
export const PRIVATE_URLS = list(__ENV.PRIVATE_URLS, 'http://127.0.0.1:11001');
export const INTERNAL_TOKEN = __ENV.INTERNAL_TOKEN || '';
export const VUS = Number(__ENV.VUS || 100);
export const DURATION = __ENV.DURATION || '60s';
export const HOLD_MS = Number(__ENV.HOLD_MS || 25000);

/** Set-to-wake latency: the woken poll's arrival minus the set's send time, one VU's clock (ms). */
export const wakeLatency = new Trend('wake_latency', true);
/** Failed requests and broken expectations (wrong status, wrong version, bad body). */
export const errors = new Rate('errors');
/** Sets whose poll did not wake within LOST_MS. */
export const lostWakes = new Counter('lost_wakes');
/** Sets answered delivered:false (no poll was held for the key anywhere). */
export const undelivered = new Counter('undelivered_sets');

export const LOST_MS = Number(__ENV.LOST_MS || 5000);

export const pickOne = (arr) => arr[Math.floor(Math.random() * arr.length)];

const jsonHeaders = { 'Content-Type': 'application/json' };
const privateHeaders = INTERNAL_TOKEN ? { ...jsonHeaders, Authorization: `Bearer ${INTERNAL_TOKEN}` } : jsonHeaders;

/** POST /status/new on `base`; returns { key, pollToken, version } or null. */
export function createSession(base) {
  const res = http.post(`${base}/status/new`, '{}', { headers: jsonHeaders, tags: { name: 'status_new' } });
  const ok = res.status === 201;
  errors.add(!ok, { op: 'create' });
  if (!ok) return null;
  const body = /** @type {{ key: string, pollToken: string, version: number }} */ (res.json());
  return { key: body.key, pollToken: body.pollToken, version: body.version, base };
}

/** Starts GET /status/get (held); resolves with the Response. */
export function startPoll(session, since) {
  return http.asyncRequest('GET', `${session.base}/status/get?key=${session.key}&since=${since}`, null, {
    headers: { Authorization: `Bearer ${session.pollToken}` },
    timeout: `${HOLD_MS + 10000}ms`,
    tags: { name: 'status_get' },
  });
}

/** Starts POST /status/set on `base`; resolves with the Response. */
export function startSet(base, key, status, extraParams = {}) {
  // The phone's backend names who scanned; the same actor confirms (qrelay binds it at the scan).
  return http.asyncRequest('POST', `${base}/status/set`, JSON.stringify({ key, status, actor: 'k6-user' }), {
    headers: privateHeaders,
    timeout: '10s',
    tags: { name: 'status_set' },
    ...extraParams,
  });
}

/** Resolves after `ms`, or rejects never: a timer on the VU's event loop. */
export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Sends `status` for a session whose poll `pollPromise` is held, and waits for the wake.
 * Records wake_latency, lost_wakes, undelivered_sets and errors. Returns the poll's view or null.
 */
export async function setAndAwaitWake(session, pollPromise, privateBase, status, wantVersion, tags) {
  const t0 = Date.now();
  /** @type {{ res: import('k6/http').RefinedResponse<any>, at: number } | null} */
  let woke = null;
  const wake = pollPromise.then((/** @type {import('k6/http').RefinedResponse<any>} */ res) => {
    woke = { res, at: Date.now() };
  });
  const setRes = await startSet(privateBase, session.key, status);
  const setOk = setRes.status === 200;
  errors.add(!setOk, { op: 'set', ...tags });
  if (setOk && setRes.json('delivered') === false) undelivered.add(1, tags);
  // Wait for the poll, at most LOST_MS after the set was sent.
  await Promise.race([wake, delay(Math.max(0, LOST_MS - (Date.now() - t0)))]);
  // Set inside the .then above, which TypeScript's flow analysis does not follow.
  const woken = /** @type {{ res: import('k6/http').RefinedResponse<any>, at: number } | null} */ (woke);
  if (woken === null) {
    lostWakes.add(1, tags);
    errors.add(true, { op: 'wake', ...tags });
    await wake; // the poll still ends (at the hold); do not leave it behind
    return null;
  }
  const pollOk = woken.res.status === 200 && Number(woken.res.json('version')) >= wantVersion;
  errors.add(!pollOk, { op: 'poll', ...tags });
  if (!pollOk) return null;
  wakeLatency.add(woken.at - t0, tags);
  return /** @type {{ key: string, status: string, version: number }} */ (woken.res.json());
}

/**
 * One login as the PC and the phone would do it: mint a session and hold its poll, wait, scan on a
 * random node, re-poll, wait, confirm. `wait()` decides the pacing (think time, bursts).
 */
export async function scanThenConfirm(wait) {
  const session = createSession(pickOne(PUBLIC_URLS));
  if (session === null) {
    await delay(1000);
    return;
  }
  let poll = startPoll(session, 0);
  await wait();
  const scanned = await setAndAwaitWake(session, poll, pickOne(PRIVATE_URLS), 'scanned', 1, { step: 'scanned' });
  if (scanned === null) return;
  poll = startPoll(session, scanned.version);
  await wait();
  await setAndAwaitWake(session, poll, pickOne(PRIVATE_URLS), 'confirmed', 2, { step: 'confirmed' });
}
