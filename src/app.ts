// The composition root: builds the long-lived objects (store, held polls, service, the two
// listeners) from a validated Config, and owns their ordered shutdown.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { Config } from './config.js';
import { MemoryStore } from './core/memory-store.js';
import { PendingPolls } from './core/pending-polls.js';
import { SessionService } from './core/session-service.js';
import type { SessionStore } from './core/session-store.js';
import { privateApp } from './http/private-app.js';
import { publicApp } from './http/public-app.js';

export interface StartOptions {
  log?: Logger;
  clock?: () => number;
}

export interface Qrelay {
  readonly config: Config;
  readonly publicUrl: string;
  readonly privateUrl: string;
  readonly service: SessionService;
  readonly polls: PendingPolls;
  readonly store: SessionStore;
  /**
   * Graceful stop: refuse new work, answer every held poll 204, let in-flight requests finish,
   * then close the store. Connections still open after SHUTDOWN_TIMEOUT_MS are cut. Safe to call
   * more than once; every call resolves when the one shutdown is done.
   */
  close(): Promise<void>;
}

function listen(server: http.Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, 4096, () => {
      server.off('error', onError);
      const { address, port: bound, family } = server.address() as AddressInfo;
      const hostPart = family === 'IPv6' ? `[${address}]` : address;
      resolve(`http://${hostPart === '0.0.0.0' ? '127.0.0.1' : hostPart === '[::]' ? '[::1]' : hostPart}:${bound}`);
    });
  });
}

function closeServer(server: http.Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function startQrelay(config: Config, options: StartOptions = {}): Promise<Qrelay> {
  const log = options.log ?? pino({ level: config.logLevel });
  const store: SessionStore = new MemoryStore({ graceMs: config.sessionGraceMs, clock: options.clock });
  const polls = new PendingPolls();
  const service = new SessionService({
    store,
    polls,
    sessionTtlMs: config.sessionTtlMs,
    holdMs: config.holdMs,
    scanUrlBase: config.scanUrlBase,
    clock: options.clock,
  });

  const publicServer = http.createServer(publicApp({ service, log, trustProxy: config.trustProxy, corsOrigins: config.corsOrigins }));
  const privateServer = http.createServer(privateApp({ service, store, log, internalToken: config.internalToken }));
  // Browsers reuse a connection from one poll to the next; keep it open longer than a balancer's
  // usual 60 s idle timeout so the balancer, not qrelay, decides when to drop it.
  publicServer.keepAliveTimeout = 65_000;
  privateServer.keepAliveTimeout = 65_000;

  let publicUrl: string;
  let privateUrl: string;
  try {
    publicUrl = await listen(publicServer, config.publicPort, config.publicHost);
    privateUrl = await listen(privateServer, config.privatePort, config.privateHost);
  } catch (err) {
    await Promise.all([closeServer(publicServer, 0), closeServer(privateServer, 0), store.close()]);
    throw err;
  }

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      const stopping = [closeServer(publicServer, config.shutdownTimeoutMs), closeServer(privateServer, config.shutdownTimeoutMs)];
      const answered = service.shutdown();
      log.info({ answered }, 'shutting down: held polls answered');
      await Promise.all(stopping);
      await store.close();
    })();
    return closed;
  };

  return { config, publicUrl, privateUrl, service, polls, store, close };
}
