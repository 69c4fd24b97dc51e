#!/usr/bin/env node
// The bench's baseline (`--target ceiling`, the default of `--compare`): the least a node:http
// server must do to speak qrelay's wire contract, so the bench can say what qrelay's own work
// costs on top. No validation beyond what the contract needs, no limits, no logs, no metrics, no
// hashing of tokens, no Redis; one Map of sessions, one timer per held poll.
//
//   public  (PUBLIC_PORT):  POST /status/new -> 201 {key, pollToken, status, version, expiresAt, holdMs}
//                           GET  /status/get?key&since (Authorization: Bearer <pollToken>)
//                                -> 200 view once version > since, else 204 after HOLD_MS;
//                                   a final status is handed out once, then the session is gone
//   private (PRIVATE_PORT): POST /status/set {key, status} -> 200 {key, status, version, delivered}
//
// Environment: PUBLIC_PORT, PRIVATE_PORT (required), HOLD_MS (default 25000), SESSION_TTL_MS
// (default 120000); both listeners on 127.0.0.1.
import { randomBytes } from 'node:crypto';
import http from 'node:http';

const env = (/** @type {string} */ name, /** @type {number | undefined} */ fallback) => {
  const value = process.env[name];
  const n = value === undefined || value === '' ? fallback : Number(value);
  if (n === undefined || !Number.isInteger(n) || n < 0) throw new Error(`baseline: ${name} must be a whole number`);
  return n;
};
const PUBLIC_PORT = env('PUBLIC_PORT', undefined);
const PRIVATE_PORT = env('PRIVATE_PORT', undefined);
const HOLD_MS = env('HOLD_MS', 25_000);
const SESSION_TTL_MS = env('SESSION_TTL_MS', 120_000);

/** The statuses a status may move to; the last two are final. */
const NEXT = /** @type {Record<string, string[]>} */ ({ pending: ['scanned', 'cancelled'], scanned: ['confirmed', 'cancelled'] });
const FINAL = new Set(['confirmed', 'cancelled', 'expired']);

/**
 * @typedef {{ res: http.ServerResponse, since: number, timer: NodeJS.Timeout }} Waiter
 * @typedef {{ key: string, token: string, status: string, version: number, expiresAt: number, waiter: Waiter | undefined }} Session
 */
/** @type {Map<string, Session>} */
const sessions = new Map();

const JSON_HEADERS = { 'content-type': 'application/json' };

/** @param {http.ServerResponse} res @param {number} status @param {unknown} [body] */
function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status).end();
  } else {
    res.writeHead(status, JSON_HEADERS).end(JSON.stringify(body));
  }
}

/** @param {Session} s */
const viewOf = (s) => ({ key: s.key, status: s.status, version: s.version, expiresAt: s.expiresAt });

/** Answers the session's held poll, if any, with its current state; a final one ends the session. */
function wake(/** @type {Session} */ s) {
  const w = s.waiter;
  if (w === undefined || s.version <= w.since) return false;
  endHold(s, w);
  send(w.res, 200, viewOf(s));
  if (FINAL.has(s.status)) sessions.delete(s.key);
  return true;
}

/** Forgets `w` as the session's held poll. */
function endHold(/** @type {Session} */ s, /** @type {Waiter} */ w) {
  clearTimeout(w.timer);
  if (s.waiter === w) s.waiter = undefined;
}

const publicServer = http.createServer((req, res) => {
  const url = req.url ?? '';
  if (req.method === 'POST' && url === '/status/new') {
    req.resume();
    const s = {
      key: randomBytes(16).toString('base64url'),
      token: randomBytes(32).toString('base64url'),
      status: 'pending',
      version: 0,
      expiresAt: Date.now() + SESSION_TTL_MS,
      waiter: undefined,
    };
    sessions.set(s.key, s);
    send(res, 201, { key: s.key, pollToken: s.token, status: s.status, version: s.version, expiresAt: s.expiresAt, holdMs: HOLD_MS });
    return;
  }
  if (req.method === 'GET' && url.startsWith('/status/get?')) {
    const query = new URLSearchParams(url.slice(url.indexOf('?') + 1));
    const s = sessions.get(query.get('key') ?? '');
    if (s === undefined || req.headers.authorization !== `Bearer ${s.token}`) {
      send(res, 404, { error: { code: 'not_found', message: 'no such session' } });
      return;
    }
    const since = Number(query.get('since') ?? 0);
    if (s.version > since) {
      send(res, 200, viewOf(s));
      if (FINAL.has(s.status)) sessions.delete(s.key);
      return;
    }
    if (s.waiter !== undefined) {
      const older = s.waiter;
      endHold(s, older);
      send(older.res, 204);
    }
    /** @type {Waiter} */
    const w = {
      res,
      since,
      timer: setTimeout(() => {
        endHold(s, w);
        send(res, 204);
      }, HOLD_MS),
    };
    s.waiter = w;
    res.on('close', () => endHold(s, w));
    return;
  }
  send(res, 404, { error: { code: 'not_found', message: 'no such route' } });
});

const privateServer = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/status/set') {
    req.resume();
    send(res, 404, { error: { code: 'not_found', message: 'no such route' } });
    return;
  }
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    /** @type {{ key?: unknown, status?: unknown }} */
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      send(res, 400, { error: { code: 'invalid_body', message: 'not JSON' } });
      return;
    }
    const s = typeof body.key === 'string' ? sessions.get(body.key) : undefined;
    if (s === undefined) {
      send(res, 404, { error: { code: 'not_found', message: 'no such session' } });
      return;
    }
    if (typeof body.status !== 'string' || !(NEXT[s.status] ?? []).includes(body.status)) {
      send(res, 409, { error: { code: 'invalid_transition', message: `${s.status} cannot become ${String(body.status)}` } });
      return;
    }
    s.status = body.status;
    s.version++;
    const delivered = wake(s);
    send(res, 200, { key: s.key, status: s.status, version: s.version, delivered });
  });
});

// Expired sessions: a coarse sweep, their held polls answered `expired` as qrelay does.
setInterval(() => {
  const now = Date.now();
  for (const s of sessions.values()) {
    if (s.expiresAt > now) continue;
    s.status = 'expired';
    s.version++;
    if (!wake(s)) sessions.delete(s.key);
  }
}, 1_000).unref();

// Like qrelay: idle keep-alive connections outlive a balancer's 60 s, and a deep accept backlog.
for (const server of [publicServer, privateServer]) server.keepAliveTimeout = 65_000;
publicServer.listen(PUBLIC_PORT, '127.0.0.1', 4096);
privateServer.listen(PRIVATE_PORT, '127.0.0.1', 4096);
for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) process.on(signal, () => process.exit(0));
