// `npm run example`: qrelay (the built node, as a child process, in memory mode) and the example
// site side by side. Both are reached by browsers at the URLs below; for a phone on the same
// network, set both to this machine's LAN address:
//
//   SITE_URL=http://192.168.1.20:3000 QRELAY_URL=http://192.168.1.20:11000 npm run example
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { siteApp } from './site.js';

const siteUrl = new URL(process.env['SITE_URL'] ?? 'http://localhost:3000');
const qrelayUrl = new URL(process.env['QRELAY_URL'] ?? 'http://localhost:11000');
const privatePort = 11001;
const privateUrl = `http://127.0.0.1:${privatePort}`;
// Shared by this site's backend and qrelay's private listener, and by nothing else.
const internalToken = randomBytes(24).toString('base64url');
const portOf = (u: URL): string => u.port || (u.protocol === 'https:' ? '443' : '80');

const qrelay = spawn(process.execPath, [new URL('../../main.js', import.meta.url).pathname], {
  env: {
    ...process.env,
    PUBLIC_PORT: portOf(qrelayUrl),
    PRIVATE_PORT: String(privatePort),
    PRIVATE_HOST: '127.0.0.1',
    // The QR's link opens the site's own confirm page on the phone.
    SCAN_URL_BASE: `${siteUrl.origin}/confirm`,
    // The site's pages call qrelay from their own origin.
    CORS_ORIGINS: siteUrl.origin,
    INTERNAL_TOKEN: internalToken,
    LOG_LEVEL: 'warn',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
qrelay.once('exit', (code) => {
  process.stderr.write(`example: qrelay exited (${code ?? 'signal'})\n`);
  process.exit(1);
});

async function qrelayReady(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${privateUrl}/readyz`, { headers: { Authorization: `Bearer ${internalToken}` }, signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('qrelay did not become ready');
    await new Promise((r) => setTimeout(r, 100));
  }
}

await qrelayReady(10_000);
const server = http.createServer(
  siteApp({ origin: siteUrl.origin, qrelayPublicUrl: qrelayUrl.origin, qrelayPrivateUrl: privateUrl, internalToken }),
);
server.listen(Number(portOf(siteUrl)), () => {
  process.stdout.write(
    [
      `Acme, the example site: ${siteUrl.origin}   qrelay: ${qrelayUrl.origin} (private ${privateUrl})`,
      `On the computer, open ${siteUrl.origin}/login`,
      'On the phone (or in another browser), sign in as ann or bob, password "demo", then scan the code.',
      '',
    ].join('\n'),
  );
});

function stop(): void {
  qrelay.removeAllListeners('exit');
  qrelay.once('exit', () => process.exit(0));
  qrelay.kill('SIGTERM');
  server.close();
}
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
