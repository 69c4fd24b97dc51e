/// <reference lib="dom" />
// The demo pages in real headless Chromium (driven by playwright-core): the PC page (built on the
// <qrelay-login> element), the phone page and the demo backend against a real node, under the
// public listener's own CSP. The element's own behaviours are tested in qrelay-login.test.ts.
// Screenshots of each final state go to test-artifacts/e2e/ (not committed).
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { useBrowser } from '../support/browser.js';
import { startNode } from '../support/node.js';
import { onFreePorts } from '../support/ports.js';

const ARTIFACTS = 'test-artifacts/e2e';
const PC_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

const browserOf = useBrowser(ARTIFACTS);

/**
 * A node serving the pages on a port known before it starts, so the scan URL in the QR points back
 * at it: `env`'s PUBLIC_PORT, or a free one.
 */
async function pagesNode(env: Record<string, string> = {}): Promise<Qrelay> {
  const start = (port: string) => startNode({ DEMO: '1', PUBLIC_PORT: port, SCAN_URL_BASE: `http://127.0.0.1:${port}/scan.html`, ...env });
  const given = env['PUBLIC_PORT'];
  return given !== undefined ? start(given) : onFreePorts(1, ([port]) => start(String(port)));
}

interface PcPage {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested, every one whose request failed, every poll token the server handed it. */
  urls: string[];
  failed: string[];
  tokens: string[];
}

async function openPc(node: Qrelay): Promise<PcPage> {
  const context = await browserOf().newContext({ userAgent: PC_UA, viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  const urls: string[] = [];
  const failed: string[] = [];
  const tokens: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('requestfailed', (r) => failed.push(r.url()));
  page.on('response', async (r) => {
    if (r.url().endsWith('/status/new') && r.status() === 201) tokens.push(((await r.json()) as { pollToken: string }).pollToken);
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE/.test(m.text())) problems.push(m.text());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP: ${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(`${node.publicUrl}/`);
  onCleanup(() => {
    expect(problems).toEqual([]);
    // The poll token never appears in a URL the page requested.
    for (const t of tokens) for (const u of urls) expect(u).not.toContain(t);
  });
  return { page, context, urls, failed, tokens };
}

let cleanups: Array<() => void> = [];
const onCleanup = (f: () => void): void => {
  cleanups.push(f);
};
async function finish(name: string, ...pages: Page[]): Promise<void> {
  for (const [i, p] of pages.entries()) await p.screenshot({ path: `${ARTIFACTS}/${name}${i ? `-${i}` : ''}.png`, fullPage: true });
  const run = cleanups;
  cleanups = [];
  for (const f of run) f();
  await Promise.all(pages.map((p) => p.context().close()));
}

/** The element's status line reads `text`. */
const statusText = (page: Page, text: string, timeout = 10_000) =>
  page.waitForFunction((t) => document.querySelector('qrelay-login')?.shadowRoot?.querySelector('[part="status"]')?.textContent === t, text, { timeout });

async function qrLoaded(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const img = document.querySelector('qrelay-login')?.shadowRoot?.querySelector<HTMLImageElement>('[part="qr"]');
    return img !== null && img !== undefined && img.complete && img.naturalWidth > 0 && !img.hidden;
  });
}

async function openPhone(pc: PcPage): Promise<Page> {
  // The page sets the link when the element reports its QR: wait for it rather than race it.
  await pc.page.waitForFunction(() => /\/scan\.html\?key=/.test(document.querySelector('#scan-link')?.getAttribute('href') ?? ''));
  const href = await pc.page.getAttribute('#scan-link', 'href');
  expect(href).toMatch(/\/scan\.html\?key=[A-Za-z0-9_-]{22}$/);
  const context = await browserOf().newContext({ userAgent: PHONE_UA, viewport: { width: 375, height: 740 }, isMobile: true });
  const phone = await context.newPage();
  await phone.goto(href!);
  return phone;
}

describe('the demo pages', () => {
  it('PC shows a QR; the phone shows the PC browser; Confirm signs the PC in, with "Scanned by" in between', async () => {
    const node = await pagesNode();
    const pc = await openPc(node);
    await qrLoaded(pc.page);
    await statusText(pc.page, 'Scan with your phone to log in');

    const phone = await openPhone(pc);
    await phone.waitForFunction(() => document.querySelector('#requester-browser')?.textContent?.includes('Chrome on Windows'));
    expect(await phone.textContent('#requester-ip')).toContain('127.0.0.1');
    await pc.page.waitForFunction(() => document.querySelector('#scanned-by')?.textContent === 'Scanned by Demo User');
    await statusText(pc.page, 'Scanned. Confirm the login on your phone');
    expect(await pc.page.isVisible('#scan-link')).toBe(false);

    await phone.click('#confirm');
    await pc.page.waitForSelector('#signed-in', { state: 'visible' });
    expect(await pc.page.textContent('#signed-in-name')).toBe('Demo User');
    expect(await pc.page.isVisible('qrelay-login')).toBe(false);
    expect(await pc.page.evaluate(() => document.activeElement?.id)).toBe('signed-in');
    await phone.waitForFunction(() => document.querySelector('#result')?.textContent?.includes('Confirmed'));
    expect(pc.tokens).toHaveLength(1);
    await finish('confirmed', pc.page, phone);
  });

  it('Cancel on the phone shows a clear message on the PC and offers a new QR', async () => {
    const node = await pagesNode();
    const pc = await openPc(node);
    await qrLoaded(pc.page);
    const phone = await openPhone(pc);
    await statusText(pc.page, 'Scanned. Confirm the login on your phone');
    await phone.click('#cancel');
    await statusText(pc.page, 'The login was cancelled on the phone');
    expect(await pc.page.locator('qrelay-login').locator('[part="refresh"]').isVisible()).toBe(true);
    expect(await pc.page.isVisible('#scanned-by')).toBe(false);
    await phone.waitForFunction(() => document.querySelector('#result')?.textContent?.includes('Login cancelled'));
    await finish('cancelled', pc.page, phone);
  });
});
