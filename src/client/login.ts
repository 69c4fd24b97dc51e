// The login under the element (no rendering): createLogin({ baseUrl }) mints a session, shows its
// QR, follows it with one held poll at a time and ends with `confirmed` (carrying the one-time
// ticket the site's backend redeems), `cancelled`, `expired` (after `renewals` fresh QRs went
// unused) or `ended` (the service refused to go on). A session that is gone before the login saw
// its end (404, or 410 with no final status seen: a node that kept sessions in memory restarted,
// say) is replaced by a fresh QR, as an expired one is, within the same `renewals`.
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
import { dataOf, type Failure, failureOf, isObject, send } from './api.js';
import type { JsonObject, LoginEventMap, LoginOptions, LoginState, QrDetail } from './types.js';

const DEFAULT_RENEWALS = 3;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 30_000;
/** A poll may take this much longer than the server's hold before it counts as lost. */
const POLL_SLACK_MS = 15_000;
const MINT_TIMEOUT_MS = 15_000;
/** Empty answers arriving this many times in a row well before the hold could pass: slow down. */
const FAST_EMPTY_LIMIT = 5;
/** Abort reason of a held poll replaced because the page became visible. */
const BECAME_VISIBLE = 'became-visible';

const fullJitterMs = (attempt: number): number => Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);


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
