// Entry point: read the configuration, start the node, stop it cleanly on SIGTERM/SIGINT.
import { ConfigError, isClustered, loadConfig, type Config } from './config.js';
import { startQrelay } from './app.js';
import { createLogger } from './observability/logger.js';
import { stdoutDestination } from './observability/log-destination.js';
import { defaults } from './defaults.js';

/** A bad setting, or a port or address the machine will not give: one line naming the variable. */
function refuse(err: unknown): never {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`qrelay: ${err.message}\n`);
  process.exit(2);
}

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  refuse(err);
}

// Logs go to stdout in batches (log-destination.ts). If whatever reads stdout goes away, the lines
// are lost but the service keeps serving. Lines still waiting when the process exits are written
// then, however it exits; a clean stop writes them before exiting.
const destination = stdoutDestination();
const log = createLogger(config, destination);
const node = await startQrelay(config, { log }).catch(refuse);
log.info(
  { public: node.publicUrl, private: node.privateUrl, mode: isClustered(config) ? 'cluster' : 'memory' },
  'qrelay listening',
);

if (config.demo) {
  log.info({ open: `${node.publicUrl}/` }, `demo: open ${node.publicUrl}/ on the computer, then the QR's link on a phone (or in another window)`);
  log.warn('DEMO=1: the demo pages and backend are mounted (public POST /demo/scan, /demo/confirm, /demo/cancel). Anyone who sees a QR can confirm its login. Never run this in production.');
}

let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping');
  // The watchdog: if the graceful path (drain, then up to SHUTDOWN_TIMEOUT_MS for in-flight
  // requests, then closing Redis and the peer pools) stalls, exit anyway.
  setTimeout(() => {
    log.error('shutdown stalled; forcing exit');
    process.exit(1);
  }, config.drainMs + config.shutdownTimeoutMs + defaults.shutdownWatchdogMarginMs).unref();
  const exit = (code: number) => () => destination.flush(() => process.exit(code));
  node.close().then(() => {
    log.info('stopped');
    exit(0)();
  }, (err: unknown) => {
    log.error({ err }, 'shutdown failed');
    exit(1)();
  });
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
