// The shipped nginx configuration (deploy/nginx/qrelay.conf, the file compose.yaml mounts) in front
// of three real nodes on a real Redis: logins through it complete, its routing by key sends each
// set to the node holding the poll (no forward between nodes), and logins still complete with a
// node stopped. Only the site's four small files (addresses, ports) are written for the test; the
// configuration itself is included as shipped.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { childEnv } from '../support/env.js';
import { waitFor } from '../support/node.js';
import { onFreePorts, PortClash } from '../support/ports.js';
import { tool } from '../support/tools.js';

const nginx = tool('nginx', 'nginx (deploy/nginx/qrelay.conf) in front of three nodes', 'apt-get install nginx');
const SHIPPED = fileURLToPath(new URL('../../deploy/nginx/qrelay.conf', import.meta.url));

interface Front {
  readonly publicUrl: string;
  readonly privateUrl: string;
}

const hostPort = (url: string): string => new URL(url).host;

/** nginx, not a daemon, in a directory of its own, with the shipped configuration in front of `nodes`. */
function startNginx(binary: string, nodes: readonly Qrelay[]): Promise<Front> {
  return onFreePorts(2, async ([publicPort, privatePort]) => {
    const dir = mkdtempSync(join(tmpdir(), 'qrelay-nginx-'));
    // Run as root (CI), nginx's workers drop to `nobody`: they must reach the temp paths in here.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'qrelay'));
    const site = {
      'public-nodes.conf': nodes.map((n) => `server ${hostPort(n.publicUrl)} max_fails=1 fail_timeout=5s;`),
      'private-nodes.conf': nodes.map((n) => `server ${hostPort(n.privateUrl)} max_fails=1 fail_timeout=5s;`),
      'public-listen.conf': [`listen 127.0.0.1:${publicPort};`],
      'private-listen.conf': [`listen 127.0.0.1:${privatePort};`],
    };
    for (const [name, lines] of Object.entries(site)) writeFileSync(join(dir, 'qrelay', name), `${lines.join('\n')}\n`);
    const conf = join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      [
        'daemon off;',
        'worker_processes 1;',
        'error_log stderr warn;',
        'pid nginx.pid;',
        'events { worker_connections 1024; }',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${t}_temp;`),
        `  include ${SHIPPED};`,
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['-p', `${dir}/`, '-c', conf, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv() });
    let log = '';
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    };
    const front = { publicUrl: `http://127.0.0.1:${publicPort}`, privateUrl: `http://127.0.0.1:${privatePort}` };
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        await stop();
        if (/address already in use/i.test(log)) throw new PortClash(log);
        throw new Error(`nginx exited at start:\n${log}`);
      }
      const up = await fetch(`${front.privateUrl}/healthz`).then((r) => r.ok, () => false);
      if (up) break;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not answer within 10 s:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    onTestFinished(stop);
    return front;
  });
}

const internal = { authorization: `Bearer ${INTERNAL_TOKEN}` };
const json = { 'content-type': 'application/json' };

async function metric(node: Qrelay, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${node.privateUrl}/metrics`, { headers: internal })).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}
const forwards = async (nodes: readonly Qrelay[]): Promise<number> =>
  (await Promise.all(nodes.map((n) => metric(n, /^qrelay_forwards_total (\d+)$/m)))).reduce((a, b) => a + b, 0);

const held = (nodes: readonly Qrelay[]): number => nodes.reduce((sum, n) => sum + n.polls.size, 0);

/**
 * One login through `front`: mint, hold a poll, scan, poll again, confirm, take the ticket, redeem
 * it. Sets name the key in the query when `keyInQuery`, else only in the body (so nginx cannot
 * route them by it). Each set is sent once the poll it should wake is held on some node.
 */
async function login(front: Front, nodes: readonly Qrelay[], keyInQuery: boolean): Promise<void> {
  const minted = await fetch(`${front.publicUrl}/status/new`, { method: 'POST' });
  expect(minted.status).toBe(201);
  const { key, pollToken } = (await minted.json()) as { key: string; pollToken: string };
  const pollFor = async (since: number) => {
    const before = held(nodes);
    const answer = fetch(`${front.publicUrl}/status/get?key=${key}&since=${since}`, { headers: { authorization: `Bearer ${pollToken}` } });
    await waitFor(() => held(nodes) > before, 10_000, 'the poll held on a node');
    return { answer };
  };
  const set = (body: Record<string, string>) =>
    fetch(`${front.privateUrl}/status/set${keyInQuery ? `?key=${key}` : ''}`, {
      method: 'POST',
      headers: { ...internal, ...json },
      body: JSON.stringify(keyInQuery ? body : { key, ...body }),
    });

  let { answer } = await pollFor(0);
  const scanned = await set({ status: 'scanned', actor: 'ann' });
  expect(scanned.status, await scanned.clone().text()).toBe(200);
  const first = await answer;
  expect(first.status).toBe(200);
  expect(await first.json()).toMatchObject({ status: 'scanned', version: 1 });
  ({ answer } = await pollFor(1));
  expect((await set({ status: 'confirmed', actor: 'ann' })).status).toBe(200);
  const confirmed = (await (await answer).json()) as { status: string; ticket: string };
  expect(confirmed.status).toBe('confirmed');
  const redeemed = await fetch(`${front.privateUrl}/ticket/redeem`, { method: 'POST', headers: { ...internal, ...json }, body: JSON.stringify({ ticket: confirmed.ticket }) });
  expect(redeemed.status).toBe(200);
  expect(await redeemed.json()).toMatchObject({ key, actor: 'ann' });
}

describe.skipIf(nginx.skip)(nginx.title, () => {
  const LOGINS = 24;

  it('logins complete through it, and a set with ?key= wakes its poll on the node holding it: no forwards between nodes', async () => {
    const { nodes } = await startNodes(3, { REDIS_URL: inject('redisUrl') }, { HOLD_MS: '20000' });
    const front = await startNginx(nginx.require(), nodes);
    for (let i = 0; i < LOGINS; i++) await login(front, nodes, true);
    expect(await forwards(nodes)).toBe(0);
    // Not because one node served them all: the polls were spread over the nodes.
    const woken = await Promise.all(nodes.map((n) => metric(n, /^qrelay_poll_endings_total\{reason="changed"\} (\d+)$/m)));
    expect(woken.reduce((a, b) => a + b, 0)).toBe(2 * LOGINS);
    expect(woken.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    // The same logins with the key only in the body: nginx cannot route those sets by it, and
    // most wakes cross nodes.
    for (let i = 0; i < LOGINS; i++) await login(front, nodes, false);
    expect(await forwards(nodes)).toBeGreaterThan(LOGINS / 2);
  });

  it('logins still complete when one node stops', async () => {
    const { nodes } = await startNodes(3, { REDIS_URL: inject('redisUrl') }, { HOLD_MS: '20000' });
    const front = await startNginx(nginx.require(), nodes);
    for (let i = 0; i < 6; i++) await login(front, nodes, true);
    const [a, stopped, c] = nodes as [Qrelay, Qrelay, Qrelay];
    await stopped.close();
    for (let i = 0; i < LOGINS; i++) await login(front, [a, c], true);
    // A key whose node stopped is rehashed the same way for its polls and its sets.
    expect(await forwards([a, c])).toBe(0);
  });
});
