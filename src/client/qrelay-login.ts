// qrelay's browser client, served by the public listener as GET /qrelay-login.js (one ES module,
// no imports, so a site can load it from qrelay or copy it) with its types at /qrelay-login.d.ts.
//
//   <qrelay-login base-url="https://login.example.com"></qrelay-login>   the element (renders)
//   createLogin({ baseUrl })                                             the login under it (no DOM)
//
// A login mints a session, shows its QR, follows it with one held poll at a time and ends with
// `confirmed` (carrying the one-time ticket the site's backend redeems), `cancelled`, `expired`
// (after `renewals` fresh QRs went unused) or `ended` (the service refused to go on). A session
// that is gone before the login saw its end (404, or 410 with no final status seen: a node that
// kept sessions in memory restarted, say) is replaced by a fresh QR, as an expired one is, within
// the same `renewals`.
//
// Invariants:
// - At most one run (mint, then polls) at a time; every fetch and sleep of a run is bound to the
//   run's AbortController, so refresh() and stop() end all of it at once.
// - stop() aborts the run, removes the visibilitychange listener and clears the timers; no event
//   is dispatched after it.
// - The poll token lives only in the run's closure and travels only in the Authorization header:
//   never in a URL, storage, an event or an error. The ticket appears only in the `confirmed` event.
// - No mint while the page is hidden; when it becomes visible, a held poll is replaced at once
//   (the connection may have died while the machine slept) and a backoff is cut short.

export type JsonObject = { [key: string]: unknown };

/**
 * `starting`: getting a QR (also while the page is hidden); `pending`: QR shown; `scanned`;
 * final: `confirmed`, `cancelled`, `expired` (no more automatic QRs), `ended` (the service
 * refused to go on); `stopped` after stop().
 */
export type LoginState = 'starting' | 'pending' | 'scanned' | 'confirmed' | 'cancelled' | 'expired' | 'ended' | 'stopped';

export interface QrDetail {
  /** The session key (also in the QR). */
  readonly key: string;
  /** The QR image of `scanUrl`, rendered by qrelay (SVG). */
  readonly qrUrl: string;
  /** The link in the QR: SCAN_URL_BASE with `?key=`. */
  readonly scanUrl: string;
  /** When this QR expires, on this browser's clock (epoch ms). */
  readonly expiresAt: number;
}
export interface ScannedDetail {
  /** The `data` the app's backend set with `scanned` (for example the scanner's name). */
  readonly data: JsonObject | undefined;
}
export interface ConfirmedDetail {
  /** One-time ticket: send it to your backend, which redeems it at qrelay's POST /ticket/redeem. */
  readonly ticket: string;
  readonly data: JsonObject | undefined;
}
export interface CancelledDetail {
  readonly data: JsonObject | undefined;
}
export interface ExpiredDetail {
  /** Fresh QRs shown automatically after the first one expired. */
  readonly renewals: number;
}
export interface LoginErrorDetail {
  /** qrelay's error code (`rate_limited`, `not_found`, ...), `network_error` or `bad_response`. */
  readonly code: string;
  readonly message: string;
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** true: the login keeps retrying on its own (and is offline meanwhile); false: it has ended. */
  readonly retrying: boolean;
}
export interface StateDetail {
  readonly state: LoginState;
  /** false while requests fail and the login retries. */
  readonly online: boolean;
}

export interface LoginEventMap {
  /** A QR is shown (the first one, an automatic renewal, or one after refresh()). */
  qr: CustomEvent<QrDetail>;
  scanned: CustomEvent<ScannedDetail>;
  confirmed: CustomEvent<ConfirmedDetail>;
  cancelled: CustomEvent<CancelledDetail>;
  expired: CustomEvent<ExpiredDetail>;
  error: CustomEvent<LoginErrorDetail>;
  statechange: CustomEvent<StateDetail>;
}

export interface LoginOptions {
  /** Where qrelay's public listener is, for example `https://login.example.com` or `/qrelay/`. */
  baseUrl: string | URL;
  /** Fresh QRs minted automatically after one expires unused, before waiting for refresh(). Default 3. */
  renewals?: number;
}

const DEFAULT_RENEWALS = 3;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;
const RETRY_AFTER_CAP_MS = 5 * 60_000;
/** A poll may take this much longer than the server's hold before it counts as lost. */
const POLL_SLACK_MS = 15_000;
const MINT_TIMEOUT_MS = 15_000;
/** Clock differences below this are ignored (the Date header has 1 s resolution). */
const SKEW_THRESHOLD_MS = 3_000;
/** Empty answers arriving this many times in a row well before the hold could pass: slow down. */
const FAST_EMPTY_LIMIT = 5;
/** Abort reason of a held poll replaced because the page became visible. */
const BECAME_VISIBLE = 'became-visible';

// ---------------------------------------------------------------------------------------------
// HTTP

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
  /** Server clock minus this browser's clock; 0 when close or unknown. */
  readonly clockOffsetMs: number;
}

/** Retry-After in ms (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('Retry-After')?.trim();
  if (value === undefined || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1_000 : Date.parse(value) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS);
}

function clockOffsetMs(headers: Headers): number {
  const date = Date.parse(headers.get('Date') ?? '');
  if (Number.isNaN(date)) return 0;
  const offset = date - Date.now();
  return Math.abs(offset) < SKEW_THRESHOLD_MS ? 0 : offset;
}

/**
 * One request, bounded by `signal` and `timeoutMs` (body included). Undefined when there was no
 * complete answer: a network error, the timeout, or `signal` aborted (the caller tells which).
 */
async function send(url: URL, init: RequestInit, signal: AbortSignal, timeoutMs: number): Promise<Reply | undefined> {
  if (signal.aborted) return undefined;
  const bound = new AbortController();
  const abort = (): void => bound.abort();
  signal.addEventListener('abort', abort);
  const timer = setTimeout(abort, timeoutMs);
  try {
    const res = await fetch(url, { ...init, cache: 'no-store', credentials: 'omit', signal: bound.signal });
    let body: unknown;
    if (res.status !== 204) {
      try {
        body = await res.json();
      } catch {
        if (bound.signal.aborted) return undefined;
        body = undefined;
      }
    }
    return { status: res.status, body, retryAfterMs: retryAfterMs(res.headers), clockOffsetMs: clockOffsetMs(res.headers) };
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', abort);
  }
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const dataOf = (body: JsonObject): JsonObject | undefined => (isObject(body['data']) ? body['data'] : undefined);

interface Failure {
  readonly detail: Omit<LoginErrorDetail, 'retrying'>;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
}

const NETWORK_ERROR: Failure = {
  detail: { code: 'network_error', message: 'qrelay did not answer', status: undefined },
  retryable: true,
  retryAfterMs: undefined,
};

/** What a failed answer means: retry (after Retry-After when given) or give up. */
function failureOf(reply: Reply | undefined): Failure {
  if (reply === undefined) return NETWORK_ERROR;
  const error = isObject(reply.body) && isObject(reply.body['error']) ? reply.body['error'] : {};
  const code = typeof error['code'] === 'string' ? error['code'] : reply.status < 300 ? 'bad_response' : `http_${reply.status}`;
  const message = typeof error['message'] === 'string' ? error['message'] : `qrelay answered HTTP ${reply.status}`;
  const retryable = reply.status < 300 || reply.status === 408 || reply.status === 429 || reply.status >= 500;
  return { detail: { code, message, status: reply.status }, retryable, retryAfterMs: reply.retryAfterMs };
}

const fullJitterMs = (attempt: number): number => Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);

// ---------------------------------------------------------------------------------------------
// The login

interface Session {
  readonly key: string;
  readonly token: string;
  readonly holdMs: number;
  readonly qr: QrDetail;
  version: number;
}

/** `gone`: the session vanished before its end was seen (its failure says how). */
type FollowEnd = 'expired' | 'final' | 'aborted' | { readonly gone: Failure };

/** Typed listeners for the login's events (declaration merging with the class below). */
export interface QrelayLogin {
  addEventListener<K extends keyof LoginEventMap>(
    type: K,
    listener: (this: QrelayLogin, event: LoginEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof LoginEventMap>(
    type: K,
    listener: (this: QrelayLogin, event: LoginEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** A QR login in progress. Create it with createLogin(); it starts at once. */
export class QrelayLogin extends EventTarget {
  readonly #base: URL;
  readonly #renewals: number;
  #state: LoginState = 'starting';
  #online = true;
  #qr: QrDetail | undefined;
  #stopped = false;
  /** The current run (a mint and its polls); replaced by refresh(), aborted by stop(). */
  #run: AbortController | undefined;
  /** The held poll in flight, replaced when the page becomes visible. */
  #poll: AbortController | undefined;
  /** Ends the current backoff sleep early (set only while one runs). */
  #wake: (() => void) | undefined;

  constructor(options: LoginOptions) {
    super();
    const base = new URL(options.baseUrl, document.baseURI);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.search = '';
    base.hash = '';
    this.#base = base;
    const renewals = options.renewals ?? DEFAULT_RENEWALS;
    this.#renewals = Number.isInteger(renewals) && renewals >= 0 ? renewals : DEFAULT_RENEWALS;
    document.addEventListener('visibilitychange', this.#onVisibility);
    this.#start();
  }

  get state(): LoginState {
    return this.#state;
  }

  /** false while requests fail and the login retries. */
  get online(): boolean {
    return this.#online;
  }

  /** The QR on screen, if any. */
  get qr(): QrDetail | undefined {
    return this.#qr;
  }

  /** Starts over with a fresh QR (and a fresh count of renewals); does nothing after stop(). */
  refresh(): void {
    if (!this.#stopped) this.#start();
  }

  /** Ends everything this login started: requests, timers, listeners. Safe to call twice. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#run?.abort();
    this.#run = undefined;
    document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#state = 'stopped';
  }

  #start(): void {
    this.#run?.abort();
    const run = new AbortController();
    this.#run = run;
    void this.#loop(run.signal);
  }

  readonly #onVisibility = (): void => {
    if (document.visibilityState !== 'visible') return;
    this.#wake?.();
    this.#poll?.abort(BECAME_VISIBLE);
  };

  #emit<K extends keyof LoginEventMap>(type: K, detail: LoginEventMap[K]['detail']): void {
    // A listener may call stop() while an earlier event of the same step is dispatched.
    if (!this.#stopped) this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state: LoginState, online = this.#online): void {
    if (state === this.#state && online === this.#online) return;
    this.#state = state;
    this.#online = online;
    this.#emit('statechange', { state, online });
  }

  #offline(failure: Failure): void {
    if (!this.#online) return;
    this.#setState(this.#state, false);
    this.#emit('error', { ...failure.detail, retrying: true });
  }

  #end(failure: Failure): void {
    this.#setState('ended', true);
    this.#emit('error', { ...failure.detail, retrying: false });
  }

  /** Sleeps `ms` or until `signal` aborts; a `wakeable` sleep (our own backoff) also ends on #wake(). */
  #sleep(ms: number, signal: AbortSignal, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
      if (wakeable) this.#wake = done;
    });
  }

  /** Resolves when the page is visible or `signal` aborts. */
  #visible(signal: AbortSignal): Promise<void> {
    if (document.visibilityState === 'visible' || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        if (document.visibilityState !== 'visible' && !signal.aborted) return;
        document.removeEventListener('visibilitychange', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      document.addEventListener('visibilitychange', done);
      signal.addEventListener('abort', done);
    });
  }

  async #loop(signal: AbortSignal): Promise<void> {
    for (let renewals = 0; ; renewals++) {
      const session = await this.#mint(signal);
      if (session === undefined) return;
      const end = await this.#follow(session, signal);
      if (end !== 'expired' && typeof end !== 'object') return;
      if (renewals >= this.#renewals) {
        if (typeof end === 'object') {
          this.#end(end.gone);
          return;
        }
        this.#setState('expired', true);
        this.#emit('expired', { renewals });
        return;
      }
    }
  }

  /** Mints a session (never while the page is hidden), retrying until it works or cannot. */
  async #mint(signal: AbortSignal): Promise<Session | undefined> {
    this.#qr = undefined;
    this.#setState('starting');
    for (let attempt = 0; ; attempt++) {
      await this.#visible(signal);
      if (signal.aborted) return undefined;
      const reply = await send(new URL('status/new', this.#base), { method: 'POST', headers: { Accept: 'application/json' } }, signal, MINT_TIMEOUT_MS);
      if (signal.aborted) return undefined;
      const body = reply?.status === 201 && isObject(reply.body) ? reply.body : undefined;
      if (reply !== undefined && body !== undefined && typeof body['key'] === 'string' && typeof body['pollToken'] === 'string') {
        const key = body['key'];
        const qrUrl = new URL('status/qr.svg', this.#base);
        qrUrl.searchParams.set('key', key);
        const holdMs = body['holdMs'];
        const version = body['version'];
        const session: Session = {
          key,
          token: body['pollToken'],
          holdMs: typeof holdMs === 'number' && holdMs > 0 ? holdMs : 25_000,
          version: typeof version === 'number' ? version : 0,
          qr: Object.freeze({
            key,
            qrUrl: qrUrl.href,
            scanUrl: typeof body['scanUrl'] === 'string' ? body['scanUrl'] : '',
            expiresAt: Number(body['expiresAt']) - reply.clockOffsetMs,
          }),
        };
        return session;
      }
      const failure = failureOf(reply);
      if (!failure.retryable) {
        this.#end(failure);
        return undefined;
      }
      this.#offline(failure);
      const asked = failure.retryAfterMs;
      await this.#sleep(asked ?? fullJitterMs(attempt), signal, asked === undefined);
    }
  }

  /** Shows `s`'s QR and follows the session with held polls until it is final or expires. */
  async #follow(s: Session, signal: AbortSignal): Promise<FollowEnd> {
    this.#qr = s.qr;
    this.#setState('pending', true);
    this.#emit('qr', s.qr);
    // When the QR expires, a backoff in progress is cut short: the answer is `expired` by then.
    const deadline = setTimeout(() => this.#wake?.(), Math.max(0, s.qr.expiresAt - Date.now()));
    const clearDeadline = (): void => clearTimeout(deadline);
    signal.addEventListener('abort', clearDeadline);
    try {
      let attempt = 0;
      let fastEmpty = 0;
      while (!signal.aborted) {
        const url = new URL('status/get', this.#base);
        url.searchParams.set('key', s.key);
        url.searchParams.set('since', String(s.version));
        // After a failure, ask without holding: an answer at once says qrelay is back (a held
        // poll would say so only when its hold ends), then hold again.
        const probe = !this.#online;
        if (probe) url.searchParams.set('wait', '0');
        const poll = new AbortController();
        const abortPoll = (): void => poll.abort();
        signal.addEventListener('abort', abortPoll);
        this.#poll = poll;
        const startedAt = Date.now();
        const reply = await send(url, { headers: { Authorization: `Bearer ${s.token}`, Accept: 'application/json' } }, poll.signal, s.holdMs + POLL_SLACK_MS);
        signal.removeEventListener('abort', abortPoll);
        if (this.#poll === poll) this.#poll = undefined;
        if (signal.aborted) return 'aborted';
        if (reply === undefined && poll.signal.reason === BECAME_VISIBLE) continue;

        if (reply?.status === 204) {
          attempt = 0;
          this.#setState(this.#state, true);
          // Poll again at once. Only when empty answers keep coming well before the hold could
          // have passed (a proxy cutting polls short), slow down so the page does not spin; a
          // probe's answer is meant to come at once.
          if (!probe) fastEmpty = Date.now() - startedAt < s.holdMs / 2 ? fastEmpty + 1 : 0;
          if (fastEmpty >= FAST_EMPTY_LIMIT) await this.#sleep(fullJitterMs(Math.min(fastEmpty - FAST_EMPTY_LIMIT, 5)), signal, true);
          continue;
        }
        const view = reply?.status === 200 && isObject(reply.body) ? reply.body : undefined;
        if (view !== undefined && typeof view['status'] === 'string' && typeof view['version'] === 'number') {
          attempt = 0;
          fastEmpty = 0;
          this.#setState(this.#state, true);
          if (view['version'] <= s.version) continue;
          s.version = view['version'];
          const end = this.#apply(view['status'], view);
          if (end !== undefined) return end;
          continue;
        }
        // 404 (the session is gone) and 410 (its final status went to a poll whose answer never
        // arrived: this login saw none) call for a fresh QR; other client errors do not get
        // better by asking again.
        const failure = failureOf(reply);
        if (reply?.status === 404 || reply?.status === 410) return { gone: failure };
        if (!failure.retryable) {
          this.#end(failure);
          return 'final';
        }
        this.#offline(failure);
        const asked = failure.retryAfterMs;
        await this.#sleep(asked ?? fullJitterMs(attempt), signal, asked === undefined);
        attempt += 1;
      }
      return 'aborted';
    } finally {
      clearDeadline();
      signal.removeEventListener('abort', clearDeadline);
    }
  }

  /** Applies a newer view; says how following ends, or undefined to keep polling. */
  #apply(status: string, view: JsonObject): FollowEnd | undefined {
    const data = dataOf(view);
    switch (status) {
      case 'scanned':
        this.#setState('scanned');
        this.#emit('scanned', { data });
        return undefined;
      case 'confirmed': {
        const ticket = view['ticket'];
        if (typeof ticket !== 'string' || ticket === '') {
          this.#end({ detail: { code: 'no_ticket', message: 'the confirmed login carries no ticket', status: 200 }, retryable: false, retryAfterMs: undefined });
          return 'final';
        }
        this.#setState('confirmed');
        this.#emit('confirmed', { ticket, data });
        return 'final';
      }
      case 'cancelled':
        this.#setState('cancelled');
        this.#emit('cancelled', { data });
        return 'final';
      case 'expired':
        return 'expired';
      default:
        return undefined;
    }
  }
}

/** Starts a QR login against the qrelay at `options.baseUrl`. Call stop() when done with it. */
export function createLogin(options: LoginOptions): QrelayLogin {
  return new QrelayLogin(options);
}

// ---------------------------------------------------------------------------------------------
// The element

type Lang = 'en' | 'zh';

interface Texts {
  readonly label: string;
  readonly alt: string;
  readonly refresh: string;
  readonly status: Readonly<Record<LoginState | 'offline', string>>;
  readonly badge: Readonly<Partial<Record<LoginState | 'offline', string>>>;
  readonly expiresIn: (time: string) => string;
}

const TEXTS: Readonly<Record<Lang, Texts>> = {
  en: {
    label: 'Log in with a QR code',
    alt: 'QR code to log in: scan it with your phone',
    refresh: 'Get a new QR code',
    status: {
      starting: 'Getting a QR code…',
      pending: 'Scan with your phone to log in',
      scanned: 'Scanned. Confirm the login on your phone',
      confirmed: 'Confirmed. Logging you in…',
      cancelled: 'The login was cancelled on the phone',
      expired: 'The QR code has expired',
      ended: 'This login has ended',
      stopped: '',
      offline: 'Connection lost. Retrying…',
    },
    badge: { scanned: 'Scanned', confirmed: 'Confirmed', cancelled: 'Cancelled', expired: 'Expired', ended: 'Ended', offline: 'Offline' },
    expiresIn: (time) => `Expires in ${time}`,
  },
  zh: {
    label: '扫码登录',
    alt: '登录二维码：请用手机扫描',
    refresh: '刷新二维码',
    status: {
      starting: '正在获取二维码…',
      pending: '请使用手机扫描二维码登录',
      scanned: '扫描成功，请在手机上确认登录',
      confirmed: '已确认，正在登录…',
      cancelled: '已在手机上取消登录',
      expired: '二维码已过期',
      ended: '本次登录已结束',
      stopped: '',
      offline: '网络连接中断，正在重试…',
    },
    badge: { scanned: '已扫描', confirmed: '已确认', cancelled: '已取消', expired: '已过期', ended: '已结束', offline: '连接中断' },
    expiresIn: (time) => `${time} 后过期`,
  },
};

/** The element's `lang` (its own or inherited, as HTML defines it), else the browser's language. */
function languageOf(element: Element): Lang {
  const tag = element.closest('[lang]')?.getAttribute('lang') || navigator.languages?.[0] || navigator.language || 'en';
  return /^zh(-|$)/i.test(tag) ? 'zh' : 'en';
}

const CSS = `
:host {
  display: inline-block;
  --_size: var(--qrelay-size, 240px);
  --_bg: var(--qrelay-background, #ffffff);
  --_border: var(--qrelay-border, #d5dce6);
  /* The text under the QR lies on the page's own background, unknown here: by default it takes the
     page's text colour (muted: that colour at 75%), readable wherever the page's own text is. */
  --_muted: var(--qrelay-muted, color-mix(in srgb, currentColor 75%, transparent));
  --_accent: var(--qrelay-accent, #2252c9);
  --_accent-text: var(--qrelay-accent-text, #ffffff);
  --_success: var(--qrelay-success, #127a46);
  --_danger: var(--qrelay-danger, #b42318);
  --_radius: var(--qrelay-radius, 12px);
  font: var(--qrelay-font, inherit);
  color: var(--qrelay-text, inherit);
  text-align: center;
}
:host([hidden]) { display: none; }
[hidden] { display: none !important; }
.frame {
  position: relative;
  box-sizing: content-box;
  width: var(--_size);
  height: var(--_size);
  max-width: 100%;
  margin: 0 auto;
  padding: 12px;
  background: var(--_bg);
  border: 1px solid var(--_border);
  border-radius: var(--_radius);
}
.frame:focus-visible { outline: 3px solid var(--_accent); outline-offset: 3px; }
.frame:focus:not(:focus-visible) { outline: none; }
.qr { display: block; width: 100%; height: 100%; }
/* Shown instead of the QR whenever it must not be scanned: there is no QR under it at all. */
.void {
  position: absolute;
  inset: 12px;
  border-radius: 6px;
  background:
    repeating-linear-gradient(0deg, transparent 0 14px, rgb(82 94 112 / 7%) 14px 16px),
    repeating-linear-gradient(90deg, transparent 0 14px, rgb(82 94 112 / 7%) 14px 16px),
    #f3f5f8;
}
.center {
  position: absolute;
  inset: 12px;
  padding: 12px;
  display: flex;
  flex-direction: column;
  align-items: center;
  justify-content: center;
  gap: 12px;
}
.badge {
  padding: 6px 14px;
  border-radius: 999px;
  background: #1b2330;
  color: #ffffff;
  font-weight: 700;
  font-size: 0.9375rem;
}
.login[data-state="scanned"] .badge,
.login[data-state="confirmed"] .badge { background: var(--_success); }
.login[data-state="cancelled"] .badge,
.login[data-state="ended"] .badge,
.login[data-online="false"] .badge { background: var(--_danger); }
.refresh {
  min-height: 44px;
  padding: 10px 14px;
  border: 0;
  border-radius: 10px;
  background: var(--_accent);
  color: var(--_accent-text);
  font: inherit;
  font-weight: 600;
  cursor: pointer;
}
.refresh:hover { filter: brightness(1.1); }
.refresh:focus-visible { outline: 3px solid var(--_accent); outline-offset: 3px; }
.spinner {
  width: 32px;
  height: 32px;
  border: 3px solid var(--_border);
  border-top-color: var(--_accent);
  border-radius: 50%;
  animation: spin 0.9s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
.status { margin: 14px 0 0; font-weight: 600; }
.login[data-state="confirmed"] .status { color: var(--qrelay-success, inherit); }
.login[data-state="cancelled"] .status,
.login[data-state="expired"] .status,
.login[data-state="ended"] .status,
.login[data-online="false"] .status { color: var(--qrelay-danger, inherit); }
.countdown { margin: 4px 0 0; color: var(--_muted); font-size: 0.875rem; font-variant-numeric: tabular-nums; }
@media (prefers-reduced-motion: reduce) { .spinner { animation-duration: 3s; } }
@media (forced-colors: active) { .badge { border: 1px solid CanvasText; } .void { background: Canvas; } }
`;

let sharedSheet: CSSStyleSheet | undefined;

/**
 * The element's styles: a constructed stylesheet where the browser has them (a page's CSP
 * style-src does not apply to it), a <style> element otherwise.
 */
function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet.prototype.replaceSync === 'function') {
    if (sharedSheet === undefined) {
      sharedSheet = new CSSStyleSheet();
      sharedSheet.replaceSync(CSS);
    }
    root.adoptedStyleSheets = [sharedSheet];
    return;
  }
  const style = document.createElement('style');
  style.textContent = CSS;
  root.append(style);
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  el.setAttribute('part', className);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  return el;
}

/** Lets the module load where there is no DOM (server-side rendering imports it for its types). */
const ElementBase: typeof HTMLElement = typeof HTMLElement === 'undefined' ? (class {} as typeof HTMLElement) : HTMLElement;

const EVENTS = ['qr', 'scanned', 'confirmed', 'cancelled', 'expired', 'error'] as const;

/** Typed listeners for the element's events (declaration merging with the class below). */
export interface QrelayLoginElement {
  addEventListener<K extends keyof LoginEventMap>(
    type: K,
    listener: (this: QrelayLoginElement, event: LoginEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener<K extends keyof HTMLElementEventMap>(
    type: K,
    listener: (this: QrelayLoginElement, event: HTMLElementEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof LoginEventMap>(
    type: K,
    listener: (this: QrelayLoginElement, event: LoginEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/**
 * `<qrelay-login base-url="…" renewals="3" lang="zh-CN">`: runs a login while it is in the
 * document and re-dispatches its events (qr, scanned, confirmed, cancelled, expired, error) on
 * itself; they do not bubble. Removing it from the document stops the login.
 *
 * base-url defaults to where this module was loaded from. Styling: the CSS custom properties
 * --qrelay-size, -background, -border, -text, -muted, -accent, -accent-text, -success, -danger,
 * -radius, -font, and the parts login, frame, qr, void, center, badge, spinner, refresh, status,
 * countdown.
 */
export class QrelayLoginElement extends ElementBase {
  static readonly observedAttributes = ['base-url', 'renewals', 'lang'];

  #login: QrelayLogin | undefined;
  #countdown: ReturnType<typeof setInterval> | undefined;
  readonly #ui: {
    readonly login: HTMLDivElement;
    readonly frame: HTMLDivElement;
    readonly qr: HTMLImageElement;
    readonly void: HTMLDivElement;
    readonly center: HTMLDivElement;
    readonly badge: HTMLSpanElement;
    readonly spinner: HTMLSpanElement;
    readonly refresh: HTMLButtonElement;
    readonly status: HTMLParagraphElement;
    readonly countdown: HTMLParagraphElement;
  };

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    adoptStyles(root);
    const ui = {
      login: element('div', 'login'),
      frame: element('div', 'frame', { role: 'group', tabindex: '-1' }),
      qr: element('img', 'qr', { width: '240', height: '240', decoding: 'async', referrerpolicy: 'no-referrer', draggable: 'false' }),
      void: element('div', 'void', { 'aria-hidden': 'true' }),
      center: element('div', 'center'),
      badge: element('span', 'badge'),
      spinner: element('span', 'spinner', { 'aria-hidden': 'true' }),
      refresh: element('button', 'refresh', { type: 'button' }),
      status: element('p', 'status', { role: 'status', 'aria-live': 'polite' }),
      countdown: element('p', 'countdown', { role: 'timer', 'aria-live': 'off' }),
    };
    ui.center.append(ui.spinner, ui.badge, ui.refresh);
    ui.frame.append(ui.qr, ui.void, ui.center);
    ui.login.append(ui.frame, ui.status, ui.countdown);
    root.append(ui.login);
    ui.refresh.addEventListener('click', () => {
      this.refresh();
      // The button goes away with the old QR; keep focus in the element, on the new QR's frame.
      ui.frame.focus();
    });
    this.#ui = ui;
    this.#render();
  }

  /** The login's state, or `stopped` while the element is not in the document. */
  get state(): LoginState {
    return this.#login?.state ?? 'stopped';
  }

  /** The QR on screen, if any. */
  get qr(): QrDetail | undefined {
    return this.#login?.qr;
  }

  /** Starts over with a fresh QR. */
  refresh(): void {
    if (this.#login === undefined) return;
    this.#login.refresh();
  }

  connectedCallback(): void {
    if (this.#login === undefined) this.#start();
  }

  disconnectedCallback(): void {
    // A move within the document disconnects and reconnects in one task: keep that login going.
    queueMicrotask(() => {
      if (!this.isConnected) this.#stop();
    });
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value) return;
    if (name === 'lang') this.#render();
    else if (this.#login !== undefined) {
      this.#stop();
      this.#start();
    }
  }

  #start(): void {
    const renewals = Number(this.getAttribute('renewals') ?? DEFAULT_RENEWALS);
    const login = createLogin({ baseUrl: this.getAttribute('base-url') || new URL('./', import.meta.url), renewals });
    for (const type of EVENTS) {
      login.addEventListener(type, (event: CustomEvent) => {
        if (this.#login === login) this.dispatchEvent(new CustomEvent(type, { detail: event.detail }));
      });
    }
    login.addEventListener('statechange', () => {
      if (this.#login === login) this.#render();
    });
    this.#login = login;
    this.#countdown = setInterval(() => this.#renderCountdown(), 1_000);
    this.#render();
  }

  #stop(): void {
    this.#login?.stop();
    this.#login = undefined;
    clearInterval(this.#countdown);
    this.#countdown = undefined;
    this.#render();
  }

  #render(): void {
    const ui = this.#ui;
    const texts = TEXTS[languageOf(this)];
    const login = this.#login;
    const state = login?.state ?? 'stopped';
    const online = login?.online ?? true;
    const qr = login?.qr;
    const expired = qr !== undefined && Date.now() >= qr.expiresAt && (state === 'pending' || state === 'scanned');
    const shown = online ? (expired ? 'expired' : state) : 'offline';
    // The QR is on screen only while it can be used: pending, online, not past its lifetime.
    const scannable = state === 'pending' && online && !expired && qr !== undefined;

    ui.login.dataset['state'] = expired ? 'expired' : state;
    ui.login.dataset['online'] = String(online);
    ui.frame.setAttribute('aria-label', texts.label);
    if (scannable) {
      if (ui.qr.getAttribute('src') !== qr.qrUrl) ui.qr.src = qr.qrUrl;
      ui.qr.alt = texts.alt;
    } else ui.qr.removeAttribute('src');
    ui.qr.hidden = !scannable;
    ui.void.hidden = scannable;
    ui.spinner.hidden = state !== 'starting' || !online;
    const badge = texts.badge[shown];
    ui.badge.hidden = badge === undefined;
    ui.badge.textContent = badge ?? '';
    const refreshable = state === 'cancelled' || state === 'expired' || state === 'ended';
    ui.refresh.hidden = !refreshable;
    ui.refresh.textContent = texts.refresh;
    const status = texts.status[shown];
    // Written only when it changes, so a screen reader hears each change once.
    if (ui.status.textContent !== status) ui.status.textContent = status;
    this.#renderCountdown();
  }

  #renderCountdown(): void {
    const login = this.#login;
    const qr = login?.qr;
    const countdown = this.#ui.countdown;
    if (login === undefined || qr === undefined || login.state !== 'pending' || !login.online) {
      countdown.hidden = true;
      return;
    }
    const left = qr.expiresAt - Date.now();
    if (left <= 0) {
      // The poll answers `expired` at this moment; show the QR as unusable meanwhile.
      if (this.#ui.login.dataset['state'] !== 'expired') this.#render();
      countdown.hidden = true;
      return;
    }
    const seconds = Math.ceil(left / 1_000);
    countdown.textContent = TEXTS[languageOf(this)].expiresIn(`${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`);
    countdown.hidden = false;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'qrelay-login': QrelayLoginElement;
  }
}

if (typeof customElements !== 'undefined' && customElements.get('qrelay-login') === undefined) {
  customElements.define('qrelay-login', QrelayLoginElement);
}
