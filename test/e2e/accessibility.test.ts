/// <reference lib="dom" />
// axe-core in real headless Chromium over every page a visitor sees: the demo's PC and phone pages
// (light and dark), the example site's pages, and the <qrelay-login> element as a site embeds it
// without theming it, on a light page and on a dark one, while its QR is shown and after the login
// ended. No serious or critical violation (colour contrast under 4.5:1 among them) is allowed.
// axe's script is evaluated through the DevTools protocol, which the pages' CSP does not govern.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import axe from 'axe-core';
import type { Browser, Page } from 'playwright-core';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DEMO_PASSWORD } from '../../examples/site/accounts.js';
import { siteApp } from '../../examples/site/site.js';
import { useBrowser } from '../support/browser.js';
import { INTERNAL_TOKEN } from '../support/cluster.js';
import { mint, setStatus, startNode } from '../support/node.js';
import { onFreePorts } from '../support/ports.js';

const browserOf = useBrowser('test-artifacts/a11y');

type Scheme = 'light' | 'dark';

/** A page in a fresh context of the shared browser, closed when the test ends. */
async function open(browser: Browser, url: string, colorScheme: Scheme = 'light'): Promise<Page> {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1000, height: 800 } });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

/**
 * axe's serious and critical violations on `page`, one line each, with the nodes that fail; and
 * the nodes whose colour contrast axe could measure (passed or failed), as CSS selector paths.
 */
async function audit(page: Page): Promise<{ serious: string[]; contrastMeasured: string[] }> {
  await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const { violations, passes } = await (window as unknown as { axe: typeof axe }).axe.run(document, {});
    const serious = violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => `${JSON.stringify(n.target)} ${n.failureSummary ?? ''}`).join(' | ')}`);
    const contrastMeasured = [...violations, ...passes].filter((r) => r.id === 'color-contrast').flatMap((r) => r.nodes.map((n) => n.target.flat().join(' ')));
    return { serious, contrastMeasured };
  });
}

const seriousViolations = async (page: Page): Promise<string[]> => (await audit(page)).serious;

/** Waits until the page's <qrelay-login> is in `state` (its `state` property). */
async function elementIn(page: Page, state: string): Promise<void> {
  await page.waitForFunction((s) => (document.querySelector('qrelay-login') as unknown as { state?: string } | null)?.state === s, state, { timeout: 20_000 });
}

describe('accessibility (axe-core, serious and critical)', () => {
  for (const scheme of ['light', 'dark'] as const) {
    it(`the demo's PC and phone pages, ${scheme}`, async () => {
      const node = await onFreePorts(1, ([port]) =>
        startNode({ DEMO: '1', PUBLIC_PORT: String(port), SCAN_URL_BASE: `http://127.0.0.1:${port}/scan.html` }),
      );
      const pc = await open(browserOf(), `${node.publicUrl}/`, scheme);
      await elementIn(pc, 'pending');
      await pc.waitForSelector('#scan-link:not([hidden])');
      expect(await seriousViolations(pc), 'the PC page, QR shown').toEqual([]);

      const s = await mint(node);
      const phone = await open(browserOf(), `${node.publicUrl}/scan.html?key=${s.key}`, scheme);
      await phone.waitForSelector('#actions:not([hidden])');
      expect(await seriousViolations(phone), 'the phone page, asking to confirm').toEqual([]);
    });
  }

  it("the example site's pages: home, login (with the element), and the phone's confirm page", async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const site = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const node = await startNode({ SCAN_URL_BASE: `${site}/confirm`, CORS_ORIGINS: site, INTERNAL_TOKEN });
    server.on('request', siteApp({ origin: site, qrelayPublicUrl: node.publicUrl, qrelayPrivateUrl: node.privateUrl, internalToken: INTERNAL_TOKEN }));

    const home = await open(browserOf(), `${site}/`);
    expect(await seriousViolations(home), 'home').toEqual([]);
    const login = await open(browserOf(), `${site}/login`);
    await elementIn(login, 'pending');
    expect(await seriousViolations(login), 'login, QR shown').toEqual([]);

    const s = await mint(node);
    const phone = await open(browserOf(), `${site}/confirm?key=${s.key}`);
    await phone.fill('input[name=username]', 'ann');
    await phone.fill('input[name=password]', DEMO_PASSWORD);
    await Promise.all([phone.waitForURL(/\/confirm\?key=/), phone.click('button[type=submit]')]);
    await phone.waitForLoadState('networkidle');
    expect(await seriousViolations(phone), 'confirm').toEqual([]);
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`the element as a site embeds it, unthemed, on a ${scheme} page: QR shown, then the login cancelled`, async () => {
      const colours = scheme === 'light' ? 'background: #ffffff; color: #1b2330;' : 'background: #121417; color: #e8edf4;';
      let qrelay = '';
      const server = http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A ${scheme} site</title>` +
            `<style>body { ${colours} font-family: system-ui, sans-serif; margin: 24px; }</style>` +
            `<script type="module" src="${qrelay}/qrelay-login.js"></script></head>` +
            `<body><main><h1>Sign in</h1><qrelay-login></qrelay-login></main></body></html>`,
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      onTestFinished(() => {
        server.closeAllConnections();
        server.close();
      });
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const node = await startNode({ CORS_ORIGINS: origin });
      qrelay = node.publicUrl;

      const page = await open(browserOf(), `${origin}/`, scheme);
      await elementIn(page, 'pending');
      const shown = await audit(page);
      expect(shown.serious, 'QR shown, with its countdown').toEqual([]);
      // Measured, not skipped as undecidable: the texts under the QR lie on the page's background.
      expect(shown.contrastMeasured).toEqual(expect.arrayContaining(['qrelay-login .status', 'qrelay-login .countdown']));
      const key = await page.evaluate(() => (document.querySelector('qrelay-login') as unknown as { qr?: { key: string } }).qr?.key);
      await setStatus(node, { key, status: 'cancelled' }).expect(200);
      await elementIn(page, 'cancelled');
      expect(await seriousViolations(page), 'cancelled, with its refresh button').toEqual([]);
    });
  }
});
