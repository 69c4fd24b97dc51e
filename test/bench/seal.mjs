#!/usr/bin/env node
// What a node link costs: the seal (make, then check, as the sender and the holder do per request)
// for a lone change and for a full batch, and one forward over plain http against one over https
// (CLUSTER_CA verified), both on kept-alive connections so the handshake is paid once, to a
// holder that answers at once (in this process, so a forward's CPU time is both ends'). Times are
// CPU time (process.cpuUsage), which a busy machine disturbs far less than wall time; latency is
// wall time. A small measure, not the cluster benchmark: it isolates the seal's and TLS's share.
//
//   npm run build && node test/bench/seal.mjs [--dist dist] [--forwards 5000]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: { dist: { type: 'string', default: path.resolve(HERE, '../../dist') }, forwards: { type: 'string', default: '5000' } },
});
const dist = path.resolve(values.dist);
const load = (/** @type {string} */ m) => import(pathToFileURL(path.join(dist, m)).href);
const { ChangeSeal } = await load('cluster/change-seal.js');
const { HttpRelay } = await load('cluster/http-relay.js');

const TOKEN = 'bench-cluster-token-0123456789';
const NODE = 'https://10.0.0.5:11001';
const change = (/** @type {number} */ i) =>
  JSON.stringify({ key: `K${String(i).padStart(21, '0')}`, status: 'scanned', version: 1, expiresAt: 1_800_000_000_000, data: { name: 'Ann', device: 'Pixel 8' } });

/** This process's CPU time so far, µs. */
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** µs per seal and per check of `body`, the median of 5 runs of `n`. */
function sealCost(/** @type {string} */ body, n = 20_000) {
  const runs = [];
  for (let r = 0; r < 5; r++) {
    const seal = new ChangeSeal(TOKEN, { self: NODE, windowMs: 30_000 });
    const seals = new Array(n);
    let t = cpu();
    for (let i = 0; i < n; i++) seals[i] = seal.seal('POST', '/channel/set', NODE, body);
    const made = (cpu() - t) / n;
    t = cpu();
    for (let i = 0; i < n; i++) if (!seal.verify({ method: 'POST', target: '/channel/set', seal: seals[i], body })) throw new Error('refused');
    const checked = (cpu() - t) / n;
    runs.push({ made, checked });
  }
  const median = (/** @type {number[]} */ xs) => xs.sort((a, b) => a - b)[2] ?? NaN;
  return { seal: median(runs.map((r) => r.made)), verify: median(runs.map((r) => r.checked)) };
}

const lone = change(0);
const batch = `[${Array.from({ length: 60 }, (_, i) => change(i)).join(',')}]`;
for (const { what, body } of [{ what: 'one change', body: lone }, { what: 'a batch', body: batch }]) {
  const { seal, verify } = sealCost(body);
  console.log(`seal, ${what} (${body.length} B): make ${seal.toFixed(2)} µs, check ${verify.toFixed(2)} µs`);
}

// Certificates for the https holder: a CA and a certificate it signed for 127.0.0.1.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qrelay-seal-bench-'));
const openssl = (/** @type {string[]} */ args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=bench CA', '-addext', 'basicConstraints=critical,CA:TRUE']);
openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1']);
fs.writeFileSync(path.join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', 'node.pem', '-extfile', 'ext']);
const pem = (/** @type {string} */ f) => fs.readFileSync(path.join(dir, f));

/** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
const holder = (req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 18 }).end('{"delivered":true}'));
};
const plainServer = http.createServer(holder);
const tlsServer = https.createServer({ cert: pem('node.pem'), key: pem('node.key') }, holder);
const servers = [plainServer, tlsServer];
for (const s of servers) await new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(undefined)));
const port = (/** @type {import('node:net').Server} */ s) => /** @type {import('node:net').AddressInfo} */ (s.address()).port;

/**
 * µs per forward, one at a time (latency); and changes per second from 64 forwarders that each
 * await their own, whose changes ride together when they fall in one tick (as a node's do).
 */
async function forwardCost(/** @type {string} */ origin, /** @type {Buffer | undefined} */ ca) {
  const relay = new HttpRelay({ seal: new ChangeSeal(TOKEN, { self: NODE, windowMs: 30_000 }), ca, timeoutMs: 5_000, batch: { maxChanges: 100, maxBytes: 16_384 } });
  const view = JSON.parse(lone);
  const n = Number(values.forwards);
  for (let i = 0; i < 200; i++) await relay.forward(origin, view); // connect, handshake, warm up
  let t = process.hrtime.bigint();
  const before = cpu();
  for (let i = 0; i < n; i++) if (!(await relay.forward(origin, view))) throw new Error('not delivered');
  const cpuPer = (cpu() - before) / n;
  const latency = Number(process.hrtime.bigint() - t) / 1e3 / n;
  // 64 forwarders, each awaiting its own in turn: separate ticks, so separate requests.
  t = process.hrtime.bigint();
  let left = n;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (left-- > 0) await relay.forward(origin, view);
  }));
  const rate = n / (Number(process.hrtime.bigint() - t) / 1e9);
  await relay.close();
  return { latency, cpuPer, rate };
}

const plain = await forwardCost(`http://127.0.0.1:${port(plainServer)}`, undefined);
const tls = await forwardCost(`https://127.0.0.1:${port(tlsServer)}`, pem('ca.pem'));
for (const { what, r } of [{ what: 'http ', r: plain }, { what: 'https', r: tls }]) {
  console.log(`forward over ${what}: ${r.cpuPer.toFixed(0)} µs CPU (both ends), ${r.latency.toFixed(0)} µs wall, one at a time; ${r.rate.toFixed(0)} changes/s from 64 forwarders`);
}
for (const s of servers) s.close();
fs.rmSync(dir, { recursive: true, force: true });
