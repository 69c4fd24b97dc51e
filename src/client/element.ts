// <qrelay-login>: renders a login (login.ts) in a shadow root with the words of strings.ts and the
// look of styles.ts, and re-dispatches the login's events on itself. The element owns its login: it
// starts one when connected and stops it when removed from the document.
import { createLogin, type QrelayLogin } from './login.js';
import { languageOf, TEXTS } from './strings.js';
import { adoptStyles } from './styles.js';
import type { LoginEventMap, LoginState, QrDetail } from './types.js';

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
    const renewals = this.getAttribute('renewals');
    const login = createLogin({
      baseUrl: this.getAttribute('base-url') || new URL('./', import.meta.url),
      renewals: renewals === null ? undefined : Number(renewals), // the login's default, or its check
    });
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
