// The log lines operators read, character for character: pino's fields, then each line's own.
// Only what changes between runs (time, pid, hostname, response time, generated ids) is masked.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { errors, type QrelayError } from '../../src/errors.js';
import { requestIds, requestLog } from '../../src/http/request-log.js';
import { sendError } from '../../src/http/respond.js';
import { channels, Origin } from '../../src/core/channels.js';
import { lifecycleLog } from '../../src/observability/lifecycle-log.js';
import { waitFor } from '../support/node.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A logger of the node's own making (level, serializers) whose lines are kept as written. */
function collected(level = 'info') {
  const lines: string[] = [];
  const log = createLogger({ logLevel: level as 'info' }, { write: (line: string) => void lines.push(line) });
  const masked = () =>
    lines.map((l) =>
      l
        .replace(/"time":\d+,"pid":\d+,"hostname":"[^"]*"/, '"time":T,"pid":P,"hostname":"H"')
        .replace(/"responseTime":\d+/, '"responseTime":MS')
        .replace(/"id":"[0-9a-f-]{36}"/, '"id":"UUID"'),
    );
  return { log, lines, masked };
}

const KEY = 'AbCdEfGh_rest-of-the-key-123456789';

describe('log lines', () => {
  it('of the session lifecycle: the event, an 8-character key prefix and the event fields, never more', () => {
    const { log, masked } = collected();
    const origin = new Origin();
    onTestFinished(lifecycleLog(log, origin));
    channels.sessionCreated.publish({ origin, key: KEY });
    channels.statusSet.publish({ origin, key: KEY, outcome: 'ok', change: { status: 'scanned', version: 1, delivered: true } });
    channels.statusSet.publish({ origin, key: KEY, outcome: 'invalid_transition' });
    channels.tokenRejected.publish({ origin, key: KEY });
    channels.finalHandedOut.publish({ origin, key: KEY, status: 'confirmed' });
    channels.handOutUnrecorded.publish({ origin, key: KEY, cause: new Error('lease lost') });
    channels.handOutUnrecorded.publish({ origin, key: KEY, cause: 'timeout' });
    channels.forwardFailed.publish({ origin, cause: 'timeout', route: 'http://node-b:9000', changes: 2, error: new Error('no answer') });
    channels.cleanupFailed.publish({ origin, step: 'give-back-hand-out', error: new Error('connection lost') });
    channels.sessionCreated.publish({ origin: new Origin(), key: 'another node' }); // not this node's: not logged here
    const pre = '{"level":30,"time":T,"pid":P,"hostname":"H",';
    expect(masked()).toEqual([
      `${pre}"event":"session.created","key":"AbCdEfGh","msg":"session created"}\n`,
      `${pre}"event":"session.status","key":"AbCdEfGh","status":"scanned","version":1,"delivered":true,"msg":"status changed"}\n`,
      `${pre}"event":"session.refused","key":"AbCdEfGh","outcome":"invalid_transition","msg":"status change refused"}\n`,
      `${pre.replace('30', '40')}"event":"session.bad_token","key":"AbCdEfGh","msg":"poll with a wrong token"}\n`,
      `${pre}"event":"session.final","key":"AbCdEfGh","status":"confirmed","msg":"final status handed out"}\n`,
      `${pre.replace('30', '50')}"event":"session.unrecorded","key":"AbCdEfGh","err":"lease lost","msg":"a sent final status could not be recorded before its lease ended; it may be handed out again"}\n`,
      `${pre.replace('30', '50')}"event":"session.unrecorded","key":"AbCdEfGh","err":"timeout","msg":"a sent final status could not be recorded before its lease ended; it may be handed out again"}\n`,
      `${pre.replace('30', '40')}"cause":"timeout","route":"http://node-b:9000","changes":2,"msg":"forward to the holding node failed"}\n`,
      `${pre.replace('30', '40')}"event":"store.cleanup_failed","step":"give-back-hand-out","err":"connection lost","msg":"giving back to the store failed: a hand-out lease lapses on its own, a redemption mark stays"}\n`,
    ]);
  });

  it('of private requests: id, method, URL with keys shortened, status and time, at info, error (5xx) or warn (client left)', async () => {
    const { log, lines, masked } = collected();
    const logRequest = requestLog(log);
    const server = http.createServer((req, res) => {
      const id = logRequest(req, res);
      if (req.url === '/hang') return; // answered never: the client leaves
      res.writeHead(req.url === '/fail' ? 500 : 200, ['Content-Type', 'application/json', 'X-Request-Id', id]).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const ok = await fetch(`${base}/status/peek?key=${KEY}&x=1`);
    expect(ok.headers.get('x-request-id')).toMatch(UUID);
    await waitFor(() => lines.length === 1, 2_000, 'the first line');
    const given = await fetch(`${base}/status/set`, { method: 'POST', headers: { 'X-Request-Id': 'req-42' } });
    expect(given.headers.get('x-request-id')).toBe('req-42');
    await waitFor(() => lines.length === 2, 2_000, 'the second line');
    const odd = await fetch(`${base}/metrics`, { headers: { 'X-Request-Id': 'not a plain token' } });
    expect(odd.headers.get('x-request-id')).toMatch(UUID);
    await waitFor(() => lines.length === 3, 2_000, 'the third line');
    expect((await fetch(`${base}/fail`)).status).toBe(500);
    await waitFor(() => lines.length === 4, 2_000, 'the fourth line');
    const arrived = new Promise<void>((resolve) => server.once('request', () => resolve()));
    const leaving = new AbortController();
    const hung = fetch(`${base}/hang`, { signal: leaving.signal }).catch(() => 'left');
    await arrived;
    leaving.abort();
    expect(await hung).toBe('left');
    await waitFor(() => lines.length === 5, 2_000, 'the fifth line');

    const pre = '{"level":30,"time":T,"pid":P,"hostname":"H",';
    expect(masked()).toEqual([
      `${pre}"req":{"id":"UUID","method":"GET","url":"/status/peek?key=AbCdEfGh…&x=1"},"res":{"statusCode":200},"responseTime":MS,"msg":"request completed"}\n`,
      `${pre}"req":{"id":"req-42","method":"POST","url":"/status/set"},"res":{"statusCode":200},"responseTime":MS,"msg":"request completed"}\n`,
      `${pre}"req":{"id":"UUID","method":"GET","url":"/metrics"},"res":{"statusCode":200},"responseTime":MS,"msg":"request completed"}\n`,
      `${pre.replace('30', '50')}"req":{"id":"UUID","method":"GET","url":"/fail"},"res":{"statusCode":500},"responseTime":MS,"msg":"request completed"}\n`,
      `${pre.replace('30', '40')}"req":{"id":"UUID","method":"GET","url":"/hang"},"res":{},"responseTime":MS,"msg":"request aborted"}\n`,
    ]);
    expect(lines.join('')).not.toContain(KEY);
  });

  it("of error answers carry the answer's code; a drain's 503s are info, health probes debug", async () => {
    const { log, lines, masked } = collected('debug');
    const logRequest = requestLog(log);
    const refusals: Record<string, QrelayError> = {
      '/status/set': errors.sessionNotFound(),
      '/ticket/redeem': errors.shuttingDown(),
      '/status/peek?key=x': errors.storeUnavailable(),
      '/readyz': errors.notReady(),
    };
    const server = http.createServer((req, res) => {
      const headers = ['X-Request-Id', logRequest(req, res)];
      const refusal = refusals[req.url ?? ''];
      if (refusal === undefined) res.writeHead(200, headers).end();
      else sendError(res, refusal, headers, { log, origin: new Origin() }, { method: req.method, path: req.url ?? '' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const requestLines = () => lines.filter((l) => l.includes('"msg":"request completed"'));
    let expected = 0;
    for (const path of ['/status/set', '/ticket/redeem', '/status/peek?key=x', '/readyz', '/healthz', '/healthz?full=1']) {
      await (await fetch(`${base}${path}`)).arrayBuffer();
      expected += 1;
      await waitFor(() => requestLines().length === expected, 2_000, `the line of ${path}`);
    }

    const at = (level: number) => `{"level":${level},"time":T,"pid":P,"hostname":"H",`;
    expect(masked().filter((l) => l.includes('"msg":"request completed"'))).toEqual([
      `${at(30)}"req":{"id":"UUID","method":"GET","url":"/status/set"},"res":{"statusCode":404},"code":"not_found","responseTime":MS,"msg":"request completed"}\n`,
      `${at(30)}"req":{"id":"UUID","method":"GET","url":"/ticket/redeem"},"res":{"statusCode":503},"code":"shutting_down","responseTime":MS,"msg":"request completed"}\n`,
      `${at(50)}"req":{"id":"UUID","method":"GET","url":"/status/peek?key=x"},"res":{"statusCode":503},"code":"store_unavailable","responseTime":MS,"msg":"request completed"}\n`,
      `${at(20)}"req":{"id":"UUID","method":"GET","url":"/readyz"},"res":{"statusCode":503},"code":"not_ready","responseTime":MS,"msg":"request completed"}\n`,
      `${at(20)}"req":{"id":"UUID","method":"GET","url":"/healthz"},"res":{"statusCode":200},"responseTime":MS,"msg":"request completed"}\n`,
      `${at(20)}"req":{"id":"UUID","method":"GET","url":"/healthz?full=1"},"res":{"statusCode":200},"responseTime":MS,"msg":"request completed"}\n`,
    ]);
  });

  it('of a request that completed are not written at warn, and the request still gets its id', async () => {
    const { log, lines } = collected('warn');
    const logRequest = requestLog(log);
    const server = http.createServer((req, res) => {
      res.writeHead(200, ['X-Request-Id', logRequest(req, res)]).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      server.close();
    });
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    expect(res.headers.get('x-request-id')).toMatch(UUID);
    await res.text();
    expect(lines).toEqual([]);
  });
});

describe('request ids', () => {
  it('are UUIDs in form, each new, and go on counting past the low half of the counter', () => {
    const next = requestIds();
    const seen = new Set<string>();
    for (let i = 0; i < 0x1000000 + 5; i++) {
      const id = next();
      if (i < 1000 || i > 0xfffff0) seen.add(id);
    }
    expect(seen.size).toBe(1000 + 0x1000000 + 5 - 0xfffff1);
    for (const id of seen) expect(id).toMatch(UUID);
    expect(requestIds()().slice(0, 23)).not.toBe(next().slice(0, 23)); // each process draws its own
  });
});
