/// <reference lib="dom" />
// The reference integration (examples/site) end to end in headless Chromium, with three browsers:
// the PC that signs in, the phone that confirms (signed in to the site), and a third that only saw
// the QR. Against qrelay in memory mode, and in cluster mode (two nodes and Redis: the PC's
// element polls node A, the site's backend sets statuses and redeems tickets on node B).
// Screenshots of each step go to test-artifacts/site/ (not committed).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { siteApp } from '../../examples/site/site.js';
import { useBrowser } from '../support/browser.js';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { startNode } from '../support/node.js';

const ARTIFACTS = 'test-artifacts/site';
const PC_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

const browserOf = useBrowser(ARTIFACTS);

type Mode = 'memory' | 'cluster';

interface Deployment {
  /** The site's origin. */
  site: string;
  /** qrelay's public URL the PC's element uses, and the private URL the site's backend uses. */
  qrelayPublic: string;
  qrelayPrivate: string;
}

/** The site on port 0 first (qrelay's SCAN_URL_BASE and CORS_ORIGINS name it), then qrelay, then the site's routes. */
async function deploy(mode: Mode): Promise<Deployment> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const site = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const env = { SCAN_URL_BASE: `${site}/confirm`, CORS_ORIGINS: site, INTERNAL_TOKEN };
  let qrelayPublic: string;
  let qrelayPrivate: string;
  if (mode === 'memory') {
    const node = await startNode(env);
    [qrelayPublic, qrelayPrivate] = [node.publicUrl, node.privateUrl];
  } else {
    const { nodes } = await startNodes(2, { REDIS_URL: inject('redisUrl') }, env);
    [qrelayPublic, qrelayPrivate] = [nodes[0]!.publicUrl, nodes[1]!.privateUrl];
  }
  server.on('request', siteApp({ origin: site, qrelayPublicUrl: qrelayPublic, qrelayPrivateUrl: qrelayPrivate, internalToken: INTERNAL_TOKEN }));
  return { site, qrelayPublic, qrelayPrivate };
}

interface Browsing {
  page: Page;
  context: BrowserContext;
  /** Every URL requested. */
  urls: string[];
}

/** A browser context whose page errors, CSP violations and requested URLs are recorded. */
async function open(kind: 'pc' | 'phone', url: string): Promise<Browsing> {
  const context = await browserOf().newContext(
    kind === 'pc'
      ? { userAgent: PC_UA, viewport: { width: 1100, height: 720 } }
      : { userAgent: PHONE_UA, viewport: { width: 390, height: 760 }, isMobile: true },
  );
  const page = await context.newPage();
  const urls: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => {
    // The tests that try what must fail make the browser log the refused request.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(m.text());
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP: ${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.goto(url);
  onTestFinished(async () => {
    await context.close();
    expect(problems).toEqual([]);
  });
  return { page, context, urls };
}

const shot = (b: Browsing, name: string): Promise<Buffer> => b.page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

/** The QR is on screen; returns its link (what a camera reads from it). */
async function qrLink(pc: Page): Promise<string> {
  await pc.waitForFunction(() => {
    const img = document.querySelector('qrelay-login')?.shadowRoot?.querySelector<HTMLImageElement>('[part="qr"]');
    return img !== null && img !== undefined && !img.hidden && img.complete && img.naturalWidth > 0;
  });
  return pc.evaluate(() => (document.querySelector('qrelay-login') as unknown as { qr: { scanUrl: string } }).qr.scanUrl);
}

async function signInWithPassword(page: Page, user: string): Promise<void> {
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', 'demo');
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('button[type="submit"]')]);
}

const elementStatus = (page: Page, text: string) =>
  page.waitForFunction((t) => document.querySelector('qrelay-login')?.shadowRoot?.querySelector('[part="status"]')?.textContent === t, text);

describe.each(['memory', 'cluster'] as const)('the reference integration, qrelay in %s mode', (mode) => {
  it('the PC signs in as the phone user; the ticket works once; a browser that only saw the QR gets nothing', async () => {
    const d = await deploy(mode);
    const pc = await open('pc', `${d.site}/login`);
    const tickets: string[] = [];
    pc.page.on('request', (r) => {
      if (r.url() === `${d.site}/api/qr-login`) tickets.push((r.postDataJSON() as { ticket: string }).ticket);
    });
    const link = await qrLink(pc.page);
    expect(link).toMatch(new RegExp(`^${d.site}/confirm\\?key=[A-Za-z0-9_-]{22}$`));
    const key = new URL(link).searchParams.get('key')!;
    await shot(pc, `${mode}-1-pc-login`);

    // A third browser that only saw the QR: the link asks it to sign in, and qrelay tells it nothing.
    const third = await open('phone', link);
    expect(new URL(third.page.url()).pathname).toBe('/login');
    expect(await third.page.locator('qrelay-login').count()).toBe(0);
    const pollAs = (token: string) =>
      third.page.evaluate(
        async ([url, t]) => (await fetch(url!, { headers: { Authorization: `Bearer ${t}` } })).status,
        [`${d.qrelayPublic}/status/get?key=${key}&wait=0`, token],
      );
    expect(await pollAs('')).toBe(401); // no token: refused before the key is looked at
    expect(await pollAs('A'.repeat(43))).toBe(404); // a guessed one: as if the key were unknown

    // The phone: signed in to the site, it opens the QR's link and sees who asked.
    const phone = await open('phone', link);
    await signInWithPassword(phone.page, 'ann');
    expect(phone.page.url()).toBe(link);
    await phone.page.waitForSelector('#request', { state: 'visible' });
    expect(await phone.page.textContent('#browser')).toBe('Chrome on Windows');
    expect(await phone.page.textContent('#ip')).toBe('127.0.0.1');
    expect(await phone.page.textContent('#age')).toMatch(/^(just now|\d+ seconds ago)$/);
    await shot(phone, `${mode}-2-phone-confirm`);
    await elementStatus(pc.page, 'Scanned. Confirm the login on your phone');
    await pc.page.waitForFunction(() => document.querySelector('#qr-note')?.textContent === 'Scanned by Ann');
    await shot(pc, `${mode}-3-pc-scanned`);

    // Someone else signed in (bob) who opens the same link cannot take the login over.
    await signInWithPassword(third.page, 'bob');
    expect(third.page.url()).toBe(link);
    await third.page.waitForFunction(() => document.querySelector('#result')?.textContent === 'This sign-in request was already answered.');
    expect(await third.page.isVisible('#confirm')).toBe(false);

    await Promise.all([pc.page.waitForURL(`${d.site}/`), phone.page.click('#confirm')]);
    await phone.page.waitForFunction(() => document.querySelector('#result')?.textContent?.startsWith('Confirmed.'));
    await shot(phone, `${mode}-4-phone-confirmed`);
    expect(await pc.page.textContent('#signed-in')).toBe('Signed in as ann');
    await shot(pc, `${mode}-5-pc-signed-in`);
    const cookie = (await pc.context.cookies()).find((c) => c.name === 'acme_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    // The ticket went from qrelay to the PC page to the site's backend, once.
    expect(tickets).toHaveLength(1);
    const ticket = tickets[0]!;
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    const again = await request(d.qrelayPrivate).post('/ticket/redeem').set('Authorization', `Bearer ${INTERNAL_TOKEN}`).send({ ticket });
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('already_redeemed');
    // Presented by the other browser, it signs nobody in: bob stays bob.
    const replay = await third.page.evaluate(
      async (t) => (await fetch('/api/qr-login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ticket: t }) })).status,
      ticket,
    );
    expect(replay).toBe(401);
    await third.page.goto(`${d.site}/`);
    expect(await third.page.textContent('#signed-in')).toBe('Signed in as bob');
    // And the login itself is gone for anyone polling it now.
    expect(await pollAs('A'.repeat(43))).toBe(404);

    // No secret ever rode in a URL.
    for (const u of [...pc.urls, ...phone.urls, ...third.urls]) expect(u).not.toContain(ticket);
  });

  it('Cancel on the phone tells the PC, which stays signed out and can get a new code', async () => {
    const d = await deploy(mode);
    const pc = await open('pc', `${d.site}/login`);
    const link = await qrLink(pc.page);
    const phone = await open('phone', link);
    await signInWithPassword(phone.page, 'bob');
    await phone.page.waitForSelector('#request', { state: 'visible' });
    await phone.page.click('#cancel');
    await phone.page.waitForFunction(() => document.querySelector('#result')?.textContent === 'Cancelled. Nobody was signed in.');
    await elementStatus(pc.page, 'The login was cancelled on the phone');
    await shot(pc, `${mode}-cancel-pc`);
    await shot(phone, `${mode}-cancel-phone`);
    await pc.page.locator('qrelay-login').locator('[part="refresh"]').click();
    expect(await qrLink(pc.page)).not.toBe(link);
    await pc.page.goto(`${d.site}/`);
    expect(await pc.page.textContent('main p')).toBe('You are not signed in.');
  });
});
