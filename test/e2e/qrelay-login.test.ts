/// <reference lib="dom" />
// The browser client (<qrelay-login>, createLogin) in headless Chromium, embedded in a page of
// another origin (a tiny static server on its own port) under a strict CSP, against real nodes
// with CORS_ORIGINS set to that origin. Needs the client built (`npm run build`; npm test does).
// Screenshots go to test-artifacts/client/ (not committed).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Qrelay } from '../../src/app.js';
import { createLogger } from '../../src/observability/logger.js';
import { useBrowser } from '../support/browser.js';
import { CLUSTER_TOKEN, INTERNAL_TOKEN, uniquePrefix } from '../support/cluster.js';
import { holdPoll, mint, setStatus, startNode, waitFor } from '../support/node.js';
import { freePorts } from '../support/ports.js';

const ARTIFACTS = 'test-artifacts/client';
const EVENT_TYPES = ['qr', 'scanned', 'confirmed', 'cancelled', 'expired', 'error'];

const browserOf = useBrowser(ARTIFACTS);

// ---------------------------------------------------------------------------------------------
// The other site: one page embedding the element, its script and stylesheet, a strict CSP.

interface PageSpec {
  /** qrelay's public URL. */
  qrelay: string;
  /** The element's markup. */
  element: string;
  /** The <html lang> attribute; none when undefined. */
  lang?: string;
  /** A module script of the page's own, served as /extra.js. */
  script?: string;
}

const PAGE_JS = `
window.__events = [];
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
for (const el of document.querySelectorAll('qrelay-login')) {
  for (const type of ${JSON.stringify(EVENT_TYPES)}) {
    el.addEventListener(type, (e) => window.__events.push({ type, detail: e.detail, at: Date.now() }));
  }
}
`;

const PAGE_CSS = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #1b2330; }
qrelay-login.themed { --qrelay-accent: rgb(10, 120, 60); --qrelay-size: 200px; }
qrelay-login.themed::part(status) { color: rgb(120, 20, 140); }
`;

async function startOtherSite(): Promise<{ origin: string; show(spec: PageSpec): void }> {
  let spec: PageSpec | undefined;
  const server = http.createServer((req, res) => {
    if (spec === undefined) {
      res.writeHead(503).end();
      return;
    }
    const csp = [
      "default-src 'none'",
      `script-src 'self' ${spec.qrelay}`,
      `connect-src ${spec.qrelay}`,
      `img-src ${spec.qrelay}`,
      "style-src 'self'",
      "base-uri 'none'",
    ].join('; ');
    const send = (type: string, body: string): void => {
      res.writeHead(200, { 'Content-Type': type, 'Content-Security-Policy': csp, 'Cache-Control': 'no-store' }).end(body);
    };
    if (req.url === '/page.js') send('text/javascript', PAGE_JS);
    else if (req.url === '/page.css') send('text/css', PAGE_CSS);
    else if (req.url === '/extra.js' && spec.script !== undefined) send('text/javascript', spec.script);
    else if (req.url === '/') {
      send(
        'text/html; charset=utf-8',
        `<!doctype html><html${spec.lang === undefined ? '' : ` lang="${spec.lang}"`}><head><meta charset="utf-8"><title>Another site</title>` +
          `<link rel="stylesheet" href="/page.css"><script type="module" src="${spec.qrelay}/qrelay-login.js"></script>` +
          `<script type="module" src="/page.js"></script>${spec.script === undefined ? '' : '<script type="module" src="/extra.js"></script>'}` +
          `</head><body><main>${spec.element}</main></body></html>`,
      );
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.closeIdleConnections();
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    show: (s) => {
      spec = s;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The browser side

interface Watched {
  page: Page;
  context: BrowserContext;
  /** Every URL the page requested, with when. */
  requests: Array<{ url: string; at: number }>;
  /** Every poll token qrelay handed the page. */
  tokens: string[];
}

interface RecordedEvent {
  type: string;
  detail: Record<string, unknown> | null;
  at: number;
}

async function openPage(url: string, options: { locale?: string; init?: () => void } = {}): Promise<Watched> {
  const context = await browserOf().newContext({ viewport: { width: 480, height: 560 }, locale: options.locale ?? 'en-US' });
  const page = await context.newPage();
  const requests: Watched['requests'] = [];
  const tokens: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => requests.push({ url: r.url(), at: Date.now() }));
  page.on('response', async (r) => {
    if (r.url().endsWith('/status/new') && r.status() === 201) tokens.push(((await r.json()) as { pollToken: string }).pollToken);
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => {
    // A refused or failed request is expected in the tests that cause one; everything else is not.
    if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE/.test(m.text())) problems.push(m.text());
  });
  if (options.init !== undefined) await page.addInitScript(options.init);
  await page.goto(url);
  onTestFinished(async () => {
    const violations = await page.evaluate(() => (window as unknown as { __violations?: string[] }).__violations ?? []).catch(() => []);
    await context.close();
    expect(problems).toEqual([]);
    expect(violations).toEqual([]);
    for (const t of tokens) for (const r of requests) expect(r.url).not.toContain(t);
  });
  return { page, context, requests, tokens };
}

const events = (page: Page): Promise<RecordedEvent[]> =>
  page.evaluate(() => (window as unknown as { __events: RecordedEvent[] }).__events);

const waitForEvent = async (page: Page, type: string, timeout = 10_000): Promise<RecordedEvent> => {
  await page.waitForFunction((t) => (window as unknown as { __events: RecordedEvent[] }).__events.some((e) => e.type === t), type, { timeout });
  return (await events(page)).filter((e) => e.type === type).at(-1)!;
};

/** Text of a part inside the element's shadow root ('' when hidden). */
const part = (page: Page, name: string, selector = 'qrelay-login'): Promise<string> =>
  page.evaluate(
    ([sel, n]) => {
      const el = document.querySelector(sel!)?.shadowRoot?.querySelector<HTMLElement>(`[part="${n}"]`);
      return el === null || el === undefined || el.hidden ? '' : (el.textContent ?? '');
    },
    [selector, name],
  );

const statusIs = (page: Page, text: string, timeout = 10_000, selector = 'qrelay-login') =>
  page.waitForFunction(
    ([sel, t]) => document.querySelector(sel!)?.shadowRoot?.querySelector('[part="status"]')?.textContent === t,
    [selector, text],
    { timeout },
  );

/** The QR image is on screen, loaded, and nothing covers it. */
const qrShown = (page: Page, selector = 'qrelay-login') =>
  page.waitForFunction((sel) => {
    const root = document.querySelector(sel)?.shadowRoot;
    const img = root?.querySelector<HTMLImageElement>('[part="qr"]');
    const cover = root?.querySelector<HTMLElement>('[part="void"]');
    return img !== null && img !== undefined && !img.hidden && img.complete && img.naturalWidth > 0 && cover?.hidden === true;
  }, selector);

/** No QR anywhere in the element: the image is hidden and has no source; the cover is shown. */
async function unscannable(page: Page, selector = 'qrelay-login'): Promise<void> {
  const seen = await page.evaluate((sel) => {
    const root = document.querySelector(sel)?.shadowRoot;
    const img = root?.querySelector<HTMLImageElement>('[part="qr"]');
    return { hidden: img?.hidden, src: img?.getAttribute('src'), cover: root?.querySelector<HTMLElement>('[part="void"]')?.hidden };
  }, selector);
  expect(seen).toEqual({ hidden: true, src: null, cover: false });
}

const keyOf = async (page: Page): Promise<string> => {
  const qr = await waitForEvent(page, 'qr');
  return String(qr.detail?.['key']);
};

const polls = (w: Watched): number => w.requests.filter((r) => r.url.includes('/status/get?')).length;
const mints = (w: Watched): number => w.requests.filter((r) => r.url.endsWith('/status/new')).length;

/** A node that lets the other site's origin in, and that site showing `element`. */
async function setUp(element: string, env: Record<string, string> = {}, spec: Partial<PageSpec> = {}): Promise<{ node: Qrelay; site: string }> {
  const other = await startOtherSite();
  const node = await startNode({ CORS_ORIGINS: other.origin, ...env });
  other.show({ qrelay: node.publicUrl, element, ...spec });
  return { node, site: `${other.origin}/` };
}

// ---------------------------------------------------------------------------------------------

/**
 * Watches for `ms` in which nothing may happen. Only for checks that something does NOT happen
 * (there is no condition to wait for); a slow machine makes such a check weaker, never red.
 */
const quietFor = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('<qrelay-login> on another origin', () => {
  it('loads under a strict CSP, shows a QR with alt text and a countdown, and follows scanned then cancelled', async () => {
    const { node, site } = await setUp('<qrelay-login></qrelay-login>');
    // No base-url here: it defaults to where the module came from.
    const pc = await openPage(site);
    await qrShown(pc.page);
    await statusIs(pc.page, 'Scan with your phone to log in');
    const a11y = await pc.page.evaluate(() => {
      const root = document.querySelector('qrelay-login')!.shadowRoot!;
      const attr = (p: string, a: string) => root.querySelector(`[part="${p}"]`)?.getAttribute(a);
      return { alt: attr('qr', 'alt'), live: attr('status', 'aria-live'), role: attr('status', 'role'), timer: attr('countdown', 'role') };
    });
    expect(a11y).toEqual({ alt: 'QR code to log in: scan it with your phone', live: 'polite', role: 'status', timer: 'timer' });
    expect(await part(pc.page, 'countdown')).toMatch(/^Expires in \d:\d\d$/);
    const qr = await waitForEvent(pc.page, 'qr');
    expect(qr.detail?.['scanUrl']).toBe(node.service.scanUrl(String(qr.detail?.['key'])));
    await pc.page.screenshot({ path: `${ARTIFACTS}/pending.png` });

    const key = String(qr.detail?.['key']);
    await setStatus(node, { key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }).expect(200);
    const scanned = await waitForEvent(pc.page, 'scanned');
    expect(scanned.detail).toEqual({ data: { name: 'Ann' } });
    await statusIs(pc.page, 'Scanned. Confirm the login on your phone');
    await unscannable(pc.page);
    expect(await part(pc.page, 'badge')).toBe('Scanned');
    await pc.page.screenshot({ path: `${ARTIFACTS}/scanned.png` });

    await setStatus(node, { key, status: 'cancelled', actor: 'ann' }).expect(200);
    await waitForEvent(pc.page, 'cancelled');
    await statusIs(pc.page, 'The login was cancelled on the phone');
    await unscannable(pc.page);
    expect(await part(pc.page, 'refresh')).toBe('Get a new QR code');
    await pc.page.screenshot({ path: `${ARTIFACTS}/cancelled.png` });
    expect(pc.tokens).toHaveLength(1);
  });

  it('hands the confirmed event its ticket and data, once', async () => {
    const { node, site } = await setUp('<qrelay-login></qrelay-login>');
    const pc = await openPage(site);
    const key = await keyOf(pc.page);
    await setStatus(node, { key, status: 'scanned', actor: 'ann' }).expect(200);
    await waitForEvent(pc.page, 'scanned');
    await setStatus(node, { key, status: 'confirmed', actor: 'ann', data: { name: 'Ann' } }).expect(200);
    const confirmed = await waitForEvent(pc.page, 'confirmed');
    expect(confirmed.detail?.['data']).toEqual({ name: 'Ann' });
    expect(confirmed.detail?.['ticket']).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    await statusIs(pc.page, 'Confirmed. Logging you in…');
    await unscannable(pc.page);
    await pc.page.screenshot({ path: `${ARTIFACTS}/confirmed.png` });
    // The ticket travelled in a response body only: no URL the page requested carries it.
    for (const r of pc.requests) expect(r.url).not.toContain(String(confirmed.detail?.['ticket']));
    expect((await events(pc.page)).filter((e) => e.type === 'confirmed')).toHaveLength(1);
  });

  it('re-polls at once on 204', async () => {
    const { node, site } = await setUp('<qrelay-login></qrelay-login>', { HOLD_MS: '100' });
    const pc = await openPage(site);
    const key = await keyOf(pc.page);
    await waitFor(() => polls(pc) >= 10, 10_000, 'ten polls within the holds');
    await setStatus(node, { key, status: 'scanned', actor: 'ann' }).expect(200);
    await waitForEvent(pc.page, 'scanned');
  });

  it('waits for Retry-After when qrelay asks (the header is readable cross-origin), offline and unscannable meanwhile', async () => {
    const { node, site } = await setUp('<qrelay-login></qrelay-login>', { MAX_POLLS_PER_IP: '1', HOLD_MS: '20000' });
    // This address's one poll slot is taken, so the page's first poll is refused 429, Retry-After: 1.
    const other = await mint(node);
    const answered = (await holdPoll(node, other)).answer.then((r) => r.status);

    const pc = await openPage(site);
    const error = await waitForEvent(pc.page, 'error');
    expect(error.detail).toMatchObject({ code: 'rate_limited', status: 429, retrying: true });
    await statusIs(pc.page, 'Connection lost. Retrying…');
    await unscannable(pc.page);
    expect(await part(pc.page, 'badge')).toBe('Offline');
    await pc.page.screenshot({ path: `${ARTIFACTS}/offline.png` });

    // Free the slot; the page asks again only once Retry-After has passed, and recovers.
    await setStatus(node, { key: other.key, status: 'scanned', actor: 'bob' }).expect(200);
    expect(await answered).toBe(200);
    await qrShown(pc.page);
    const pollTimes = pc.requests.filter((r) => r.url.includes('/status/get?')).map((r) => r.at);
    expect(pollTimes.length).toBeGreaterThanOrEqual(2);
    // Full jitter at the first attempt would wait under 1 s; Retry-After says 1 s.
    expect(pollTimes[1]! - pollTimes[0]!).toBeGreaterThanOrEqual(900);
    await statusIs(pc.page, 'Scan with your phone to log in');
  });

  it('shows a fresh QR when one expires, up to `renewals`, then a refresh button that mints again and keeps focus in the element', async () => {
    const { node, site } = await setUp('<qrelay-login renewals="1"></qrelay-login>', { SESSION_TTL_MS: '1000' });
    const pc = await openPage(site);
    await waitFor(async () => (await events(pc.page)).filter((e) => e.type === 'qr').length === 2, 20_000, 'a second QR');
    const expired = await waitForEvent(pc.page, 'expired', 20_000);
    expect(expired.detail).toEqual({ renewals: 1 });
    await statusIs(pc.page, 'The QR code has expired');
    await unscannable(pc.page);
    expect(await part(pc.page, 'badge')).toBe('Expired');
    await pc.page.screenshot({ path: `${ARTIFACTS}/expired.png` });
    expect(mints(pc)).toBe(2);

    await pc.page.locator('qrelay-login').locator('[part="refresh"]').click();
    await qrShown(pc.page);
    expect(mints(pc)).toBe(3);
    const focus = await pc.page.evaluate(() => {
      const el = document.querySelector('qrelay-login')!;
      return { outer: document.activeElement === el, inner: el.shadowRoot!.activeElement?.getAttribute('part') };
    });
    expect(focus).toEqual({ outer: true, inner: 'frame' });
    const key = String((await events(pc.page)).filter((e) => e.type === 'qr').at(-1)?.detail?.['key']);
    await setStatus(node, { key, status: 'scanned', actor: 'ann' }).expect(200);
    await waitForEvent(pc.page, 'scanned');
  });

  it('mints nothing while the page is hidden, at once when it shows, and replaces a held poll when it shows again', async () => {
    const { site } = await setUp('<qrelay-login></qrelay-login>', { HOLD_MS: '20000' });
    const pc = await openPage(site, {
      init: () => {
        const w = window as unknown as { __hidden: boolean };
        w.__hidden = true;
        Object.defineProperty(document, 'visibilityState', { get: () => (w.__hidden ? 'hidden' : 'visible') });
        Object.defineProperty(document, 'hidden', { get: () => w.__hidden });
      },
    });
    const setHidden = (hidden: boolean) =>
      pc.page.evaluate((h) => {
        (window as unknown as { __hidden: boolean }).__hidden = h;
        document.dispatchEvent(new Event('visibilitychange'));
      }, hidden);
    await pc.page.waitForFunction(() => customElements.get('qrelay-login') !== undefined);
    await quietFor(500);
    expect(mints(pc)).toBe(0);
    await statusIs(pc.page, 'Getting a QR code…');
    await setHidden(false);
    await qrShown(pc.page);
    expect(mints(pc)).toBe(1);

    // One poll is held (20 s); hidden then shown again, the page asks again at once.
    await waitFor(() => polls(pc) === 1, 10_000, 'the first poll');
    await setHidden(true);
    await setHidden(false);
    await waitFor(() => polls(pc) === 2, 5_000, 'a new poll at once (the hold is 20 s)');
    expect(mints(pc)).toBe(1);
  });

  it('removing the element stops everything it started; moving it does not', async () => {
    const { node, site } = await setUp('<div id="a"><qrelay-login></qrelay-login></div><div id="b"></div>', { HOLD_MS: '200' });
    const pc = await openPage(site);
    await qrShown(pc.page);
    await pc.page.evaluate(() => document.querySelector('#b')!.append(document.querySelector('qrelay-login')!));
    await waitFor(() => polls(pc) >= 3, 10_000, 'polls after the move');
    expect(mints(pc)).toBe(1);

    await pc.page.evaluate(() => {
      const el = document.querySelector('qrelay-login')!;
      (window as unknown as { __removed: Element }).__removed = el;
      el.remove();
    });
    await waitFor(() => node.polls.size === 0, 10_000, 'the held poll to be released');
    const seen = pc.requests.length;
    await quietFor(1_000); // five holds' worth: a loop still running would have asked again
    expect(pc.requests.slice(seen)).toEqual([]);
    expect(await pc.page.evaluate(() => (window as unknown as { __removed: { state: string } }).__removed.state)).toBe('stopped');
  });

  it('createLogin() runs without the element, and stop() ends it with no event after', async () => {
    const other = await startOtherSite();
    const node = await startNode({ CORS_ORIGINS: other.origin, HOLD_MS: '200' });
    other.show({
      qrelay: node.publicUrl,
      element: '<p>no element</p>',
      script: `
        import { createLogin } from '${node.publicUrl}/qrelay-login.js';
        const login = createLogin({ baseUrl: '${node.publicUrl}' });
        for (const type of ['qr', 'scanned', 'statechange']) {
          login.addEventListener(type, (e) => window.__events.push({ type, detail: e.detail, at: Date.now() }));
        }
        window.__login = login;
      `,
    });
    const pc = await openPage(`${other.origin}/`);
    const key = await keyOf(pc.page);
    await setStatus(node, { key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }).expect(200);
    expect((await waitForEvent(pc.page, 'scanned')).detail).toEqual({ data: { name: 'Ann' } });
    const states = (await events(pc.page)).filter((e) => e.type === 'statechange').map((e) => e.detail?.['state']);
    expect(states).toEqual(['pending', 'scanned']);

    await pc.page.evaluate(() => (window as unknown as { __login: { stop(): void } }).__login.stop());
    await waitFor(() => node.polls.size === 0, 10_000, 'the held poll to be released');
    const [seenRequests, seenEvents] = [pc.requests.length, (await events(pc.page)).length];
    await quietFor(1_000);
    expect(pc.requests.length).toBe(seenRequests);
    expect((await events(pc.page)).length).toBe(seenEvents);
    expect(await pc.page.evaluate(() => (window as unknown as { __login: { state: string } }).__login.state)).toBe('stopped');
  });

  it('speaks Simplified Chinese from its lang attribute or, with none on the page, the browser language', async () => {
    const { node, site } = await setUp('<qrelay-login id="zh" lang="zh-CN"></qrelay-login><qrelay-login id="en" lang="en"></qrelay-login>');
    const pc = await openPage(site);
    await qrShown(pc.page, '#zh');
    await statusIs(pc.page, '请使用手机扫描二维码登录', 10_000, '#zh');
    await statusIs(pc.page, 'Scan with your phone to log in', 10_000, '#en');
    expect(await part(pc.page, 'countdown', '#zh')).toMatch(/^\d:\d\d 后过期$/);
    await pc.page.screenshot({ path: `${ARTIFACTS}/zh.png` });

    const other = await startOtherSite();
    const zhNode = await startNode({ CORS_ORIGINS: other.origin });
    other.show({ qrelay: zhNode.publicUrl, element: '<qrelay-login></qrelay-login>' });
    const browserZh = await openPage(`${other.origin}/`, { locale: 'zh-CN' });
    await statusIs(browserZh.page, '请使用手机扫描二维码登录');
    const alt = await browserZh.page.evaluate(() => document.querySelector('qrelay-login')!.shadowRoot!.querySelector('[part="qr"]')!.getAttribute('alt'));
    expect(alt).toBe('登录二维码：请用手机扫描');
    const key = await keyOf(browserZh.page);
    await setStatus(zhNode, { key, status: 'cancelled' }).expect(200);
    await statusIs(browserZh.page, '已在手机上取消登录');
    expect(await part(browserZh.page, 'refresh')).toBe('刷新二维码');
    await browserZh.page.screenshot({ path: `${ARTIFACTS}/zh-cancelled.png` });
    expect(node.publicUrl).not.toBe(zhNode.publicUrl);
  });

  it("without CORS_ORIGINS the browser refuses the module, and qrelay logs the page's origin once", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({ logLevel: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const other = await startOtherSite();
    const node = await startNode({}, { log });
    other.show({ qrelay: node.publicUrl, element: '<qrelay-login></qrelay-login>' });
    // Not openPage: the refusal the browser logs is what this test expects.
    const context = await browserOf().newContext();
    onTestFinished(() => context.close());
    const page = await context.newPage();
    const refused = new Promise<void>((resolve) => page.on('requestfailed', (r) => r.url().endsWith('/qrelay-login.js') && resolve()));
    await page.goto(`${other.origin}/`);
    await refused;
    await page.reload();
    await waitFor(() => lines.some((l) => l['origin'] !== undefined), 5_000, 'the warn line');
    expect(await page.evaluate(() => customElements.get('qrelay-login') === undefined)).toBe(true);
    expect(lines.filter((l) => l['origin'] !== undefined)).toEqual([
      expect.objectContaining({ level: 40, origin: other.origin, msg: expect.stringContaining('CORS_ORIGINS') }),
    ]);
  });

  it('is themed by CSS custom properties and ::part from the page', async () => {
    const { site } = await setUp('<qrelay-login class="themed" renewals="0"></qrelay-login>', { SESSION_TTL_MS: '1000' });
    const pc = await openPage(site);
    await waitForEvent(pc.page, 'expired', 5_000);
    const styles = await pc.page.evaluate(() => {
      const root = document.querySelector('qrelay-login')!.shadowRoot!;
      const style = (p: string) => getComputedStyle(root.querySelector(`[part="${p}"]`)!);
      return { button: style('refresh').backgroundColor, status: style('status').color, width: style('frame').width };
    });
    expect(styles).toEqual({ button: 'rgb(10, 120, 60)', status: 'rgb(120, 20, 140)', width: '200px' });
    await pc.page.screenshot({ path: `${ARTIFACTS}/themed-expired.png` });
  });

  it('backs off while qrelay is down and picks the state up when it is back', async () => {
    const other = await startOtherSite();
    const [pub = '', priv = ''] = (await freePorts(2)).map(String);
    const env = {
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: uniquePrefix(),
      INTERNAL_TOKEN,
      CLUSTER_TOKEN,
      PUBLIC_PORT: pub,
      PRIVATE_PORT: priv,
      HOLD_MS: '20000',
      CORS_ORIGINS: other.origin,
    };
    const first = await startNode(env);
    other.show({ qrelay: first.publicUrl, element: '<qrelay-login></qrelay-login>' });
    const pc = await openPage(`${other.origin}/`);
    const key = await keyOf(pc.page);
    await qrShown(pc.page);
    await first.close();
    await statusIs(pc.page, 'Connection lost. Retrying…');
    await unscannable(pc.page);
    const error = await waitForEvent(pc.page, 'error');
    expect(error.detail).toMatchObject({ retrying: true });

    const second = await startNode(env);
    await setStatus(second, { key, status: 'scanned', actor: 'ann', data: { name: 'Ann' } }, INTERNAL_TOKEN).expect(200);
    await statusIs(pc.page, 'Scanned. Confirm the login on your phone', 20_000);
    expect((await waitForEvent(pc.page, 'scanned')).detail).toEqual({ data: { name: 'Ann' } });
    expect(mints(pc)).toBe(1);
  }, 40_000);

  it('shows a fresh QR by itself when its session is gone (a memory-mode node restarted), within `renewals`', async () => {
    const other = await startOtherSite();
    const [pub = '', priv = ''] = (await freePorts(2)).map(String);
    const env = { PUBLIC_PORT: pub, PRIVATE_PORT: priv, HOLD_MS: '20000', CORS_ORIGINS: other.origin };
    const first = await startNode(env);
    other.show({ qrelay: first.publicUrl, element: '<qrelay-login renewals="1"></qrelay-login>' });
    const pc = await openPage(`${other.origin}/`);
    const lost = await keyOf(pc.page);
    await qrShown(pc.page);
    await first.close();
    await statusIs(pc.page, 'Connection lost. Retrying…');

    const second = await startNode(env); // memory mode: it knows no session
    await waitFor(async () => (await events(pc.page)).filter((e) => e.type === 'qr').length === 2, 30_000, 'a fresh QR');
    const key = String((await events(pc.page)).filter((e) => e.type === 'qr').at(-1)?.detail?.['key']);
    expect(key).not.toBe(lost);
    await qrShown(pc.page);
    await statusIs(pc.page, 'Scan with your phone to log in');
    expect(mints(pc)).toBe(2);
    await setStatus(second, { key, status: 'scanned', actor: 'ann' }).expect(200);
    await waitForEvent(pc.page, 'scanned');

    // Its one renewal spent, a login whose session goes too ends, as before.
    await second.close();
    await statusIs(pc.page, 'Connection lost. Retrying…');
    await startNode(env);
    await statusIs(pc.page, 'This login has ended', 30_000);
    const ended = (await events(pc.page)).filter((e) => e.type === 'error').at(-1);
    expect(ended?.detail).toMatchObject({ code: 'not_found', status: 404, retrying: false });
    expect(mints(pc)).toBe(2);
  }, 60_000);
});
