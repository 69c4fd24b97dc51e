/// <reference lib="dom" />
// The login pages in real headless Chromium (driven by playwright-core; which Chromium, see
// test/support/browser.ts): the PC page, the phone page and the demo backend against a real node.
// Screenshots of each final state go to test-artifacts/e2e/ (not committed).
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { launchBrowser } from '../support/browser.js';
import { INTERNAL_TOKEN, uniquePrefix } from '../support/cluster.js';
import { setStatus, startNode, waitFor } from '../support/node.js';
import { onFreePorts } from '../support/ports.js';

const ARTIFACTS = 'test-artifacts/e2e';
const PC_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

let browser: Browser;
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchBrowser();
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

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

/** Opens the PC page; `prepare` runs on the new page before it loads. */
async function openPc(node: Qrelay, prepare?: (page: Page) => Promise<void>): Promise<PcPage> {
  const context = await browser.newContext({ userAgent: PC_UA, viewport: { width: 1100, height: 800 } });
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
  if (prepare !== undefined) await prepare(page);
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

const statusText = (page: Page, text: string, timeout = 10_000) =>
  page.waitForFunction((t) => document.querySelector('#status')?.textContent?.includes(t) ?? false, text, { timeout });

async function qrLoaded(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const img = document.querySelector<HTMLImageElement>('#qr');
    return img !== null && img.complete && img.naturalWidth > 0 && !img.closest('[hidden]');
  });
}

async function openPhone(pc: PcPage): Promise<Page> {
  const href = await pc.page.getAttribute('#scan-link', 'href');
  expect(href).toMatch(/\/scan\.html\?key=[A-Za-z0-9_-]{22}$/);
  const context = await browser.newContext({ userAgent: PHONE_UA, viewport: { width: 375, height: 740 }, isMobile: true });
  const phone = await context.newPage();
  await phone.goto(href!);
  return phone;
}

describe('the QR login pages', () => {
  it('PC shows a QR; the phone shows the PC browser; Confirm signs the PC in, with "Scanned by" in between', async () => {
    const node = await pagesNode();
    const pc = await openPc(node);
    await qrLoaded(pc.page);
    await statusText(pc.page, 'Scan the QR code with the phone app');
    expect(await pc.page.getAttribute('#status', 'aria-live')).toBe('polite');
    expect(await pc.page.getAttribute('#qr', 'alt')).toBeTruthy();
    expect(await pc.page.textContent('#countdown')).toMatch(/\d:\d\d/);

    const phone = await openPhone(pc);
    await phone.waitForFunction(() => document.querySelector('#requester-browser')?.textContent?.includes('Chrome on Windows'));
    expect(await phone.textContent('#requester-ip')).toContain('127.0.0.1');
    await statusText(pc.page, 'Scanned by Demo User: confirm on your phone');

    await phone.click('#confirm');
    await statusText(pc.page, 'Signed in as Demo User');
    expect(await pc.page.isVisible('#signed-in')).toBe(true);
    await phone.waitForFunction(() => document.querySelector('#result')?.textContent?.includes('Confirmed'));
    expect(pc.tokens).toHaveLength(1);
    await finish('confirmed', pc.page, phone);
  });

  it('Cancel on the phone shows a clear message on the PC', async () => {
    const node = await pagesNode();
    const pc = await openPc(node);
    await qrLoaded(pc.page);
    const phone = await openPhone(pc);
    await statusText(pc.page, 'Scanned by Demo User');
    await phone.click('#cancel');
    await statusText(pc.page, 'Login cancelled on the phone');
    expect(await pc.page.isVisible('#refresh')).toBe(true);
    await phone.waitForFunction(() => document.querySelector('#result')?.textContent?.includes('Login cancelled'));
    await finish('cancelled', pc.page, phone);
  });


  it('Refresh after expiry mints a new QR and polls it', async () => {
    const node = await pagesNode({ SESSION_TTL_MS: '1500' });
    const pc = await openPc(node);
    await qrLoaded(pc.page);
    const firstLink = await pc.page.getAttribute('#scan-link', 'href');
    await statusText(pc.page, 'QR expired', 5_000);
    await pc.page.click('#refresh');
    await statusText(pc.page, 'Scan the QR code with the phone app');
    await qrLoaded(pc.page);
    const secondLink = await pc.page.getAttribute('#scan-link', 'href');
    expect(secondLink).not.toBe(firstLink);
    expect(pc.tokens).toHaveLength(2);
    const key = new URL(secondLink!).searchParams.get('key')!;
    await setStatus(node, { key, status: 'scanned', data: { name: 'Ann' } }).expect(200);
    await statusText(pc.page, 'Scanned by Ann');
    await finish('refreshed', pc.page);
  });

  it('never mints a QR while the tab is hidden, and does at once when it becomes visible', async () => {
    const node = await pagesNode();
    const pc = await openPc(node, async (page) => {
      // The page's timers run on a clock the test drives, and it counts its own mint calls.
      await page.clock.install();
      await page.addInitScript(() => {
        const w = window as unknown as { __hidden: boolean; __mints: number };
        w.__hidden = true;
        w.__mints = 0;
        Object.defineProperty(document, 'visibilityState', { get: () => (w.__hidden ? 'hidden' : 'visible') });
        Object.defineProperty(document, 'hidden', { get: () => w.__hidden });
        const realFetch = window.fetch.bind(window);
        window.fetch = (input, init) => {
          if (String(input).endsWith('/status/new')) w.__mints++;
          return realFetch(input, init);
        };
      });
    });
    // A minute of the hidden tab's time, run at once: every timer it set has fired, and no mint.
    await pc.page.clock.runFor(60_000);
    expect(await pc.page.evaluate(() => (window as unknown as { __mints: number }).__mints)).toBe(0);
    await pc.page.clock.resume();
    await pc.page.evaluate(() => {
      (window as unknown as { __hidden: boolean }).__hidden = false;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await qrLoaded(pc.page);
    expect(await pc.page.evaluate(() => (window as unknown as { __mints: number }).__mints)).toBe(1);
    expect(pc.urls.filter((u) => u.endsWith('/status/new'))).toHaveLength(1);
    await finish('shown-after-hidden', pc.page);
  });

  it('keeps working across 204s', async () => {
    const node = await pagesNode({ HOLD_MS: '100' });
    const pc = await openPc(node);
    await qrLoaded(pc.page);
    // Each 204 after the 100 ms hold is followed by the next poll.
    await waitFor(() => pc.urls.filter((u) => u.includes('/status/get')).length > 3, 10_000, 'the page to poll again after 204s');
    const phone = await openPhone(pc);
    await statusText(pc.page, 'Scanned by Demo User');
    await phone.click('#confirm');
    await statusText(pc.page, 'Signed in as Demo User');
    await finish('after-204s', pc.page);
  });

  it('recovers when the service restarts mid-poll (backoff, then the state)', async () => {
    const redis = { REDIS_URL: inject('redisUrl'), REDIS_PREFIX: uniquePrefix(), INTERNAL_TOKEN, HOLD_MS: '20000' };
    // The second node comes back on the first one's ports.
    const { first, env } = await onFreePorts(2, async ([pub, priv]) => {
      const env = { ...redis, PUBLIC_PORT: String(pub), PRIVATE_PORT: String(priv) };
      return { first: await pagesNode(env), env };
    });
    const pc = await openPc(first);
    await qrLoaded(pc.page);
    const key = new URL((await pc.page.getAttribute('#scan-link', 'href'))!).searchParams.get('key')!;
    await waitFor(() => first.polls.size === 1, 10_000, 'the poll to be held');
    await first.close();
    await statusText(pc.page, 'Connection lost, retrying', 10_000);
    // The page backs off and tries again while nothing listens: a second failed poll.
    await waitFor(() => pc.failed.filter((u) => u.includes('/status/get')).length >= 2, 10_000, 'a retry to fail');
    const second = await pagesNode(env);
    await setStatus(second, { key, status: 'scanned', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    await statusText(pc.page, 'Scanned by Ann', 20_000);
    await finish('after-restart', pc.page);
  }, 40_000);
});
