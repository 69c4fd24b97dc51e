// The two listeners' sockets: binding one (a refused port or address becomes a ConfigError naming
// the variable) and closing one (stop accepting, let requests in flight finish, cut what is still
// open after a timeout). What a listener answers is public-app.ts's and private-app.ts's business.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../config.js';

/** A listener: plain, or (the private one, with PRIVATE_TLS_CERT) https. */
type Listener = http.Server | https.Server;

/**
 * Binds `server`; a port or address this machine will not give is a ConfigError naming the
 * variable to change (`vars`), in one line, rather than a stack.
 */
export function listen(server: Listener, port: number, host: string, vars: { port: string; host: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(bindError(err, `${host.includes(':') ? `[${host}]` : host}:${port}`, vars) ?? err);
    server.once('error', onError);
    server.listen(port, host, 4096, () => {
      server.off('error', onError);
      const { address, port: bound, family } = server.address() as AddressInfo;
      const hostPart = family === 'IPv6' ? `[${address}]` : address;
      const scheme = server instanceof https.Server ? 'https' : 'http';
      resolve(`${scheme}://${hostPart === '0.0.0.0' ? '127.0.0.1' : hostPart === '[::]' ? '[::1]' : hostPart}:${bound}`);
    });
  });
}

function bindError(err: NodeJS.ErrnoException, address: string, vars: { port: string; host: string }): ConfigError | undefined {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ConfigError(`${vars.port}: ${address} is already in use (by another process, or another qrelay); set ${vars.port} to a free port`);
    case 'EACCES':
      return new ConfigError(`${vars.port}: binding ${address} is not permitted (ports below 1024 need privileges); set ${vars.port} to another port`);
    case 'EADDRNOTAVAIL':
      return new ConfigError(`${vars.host}: ${address} is not an address of this machine; set ${vars.host} to one of its addresses`);
    default:
      return undefined;
  }
}

export function closeServer(server: Listener, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
    force.unref();
    // A kept-alive connection whose request was in flight at close() stays open after answering
    // until its keep-alive timeout; close such connections as they go idle.
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    sweep.unref();
    server.close(() => {
      clearTimeout(force);
      clearInterval(sweep);
      resolve();
    });
    server.closeIdleConnections();
  });
}
