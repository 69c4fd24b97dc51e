// The PC login page: mint a login session, show its QR code, hold one long poll at a time and
// follow the session's status until it is final.
//
// The poll token lives only in this module's closure (the `current` session object). It is sent
// in the Authorization header and nowhere else: never in a URL, in storage, in a cookie or in the
// console.

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  loginArea: $('login-area'),
  qrFrame: $('qr-frame'),
  qr: /** @type {HTMLImageElement} */ ($('qr')),
  qrPlaceholder: $('qr-placeholder'),
  qrOverlay: $('qr-overlay'),
  countdown: $('countdown'),
  scanLink: /** @type {HTMLAnchorElement} */ ($('scan-link')),
  status: $('status'),
  refresh: /** @type {HTMLButtonElement} */ ($('refresh')),
  signedIn: $('signed-in'),
  signedInName: $('signed-in-name'),
  steps: $('steps'),
};

const TEXT = {
  loading: 'Getting a QR code…',
  pending: 'Scan the QR code with the phone app',
  scanned: (name) => `Scanned by ${name}: confirm on your phone`,
  confirmed: (name) => `Signed in as ${name}`,
  cancelled: 'Login cancelled on the phone',
  expired: 'QR expired',
  ended: 'This login session has ended',
  retrying: 'Connection lost, retrying…',
};

const FINAL = new Set(['confirmed', 'cancelled', 'expired']);
const OVERLAY = { scanned: 'Scanned', cancelled: 'Cancelled', expired: 'Expired', ended: 'Ended' };

const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 30000;
const RETRY_AFTER_CAP_MS = 5 * 60 * 1000;
/** Client-side limit on one poll beyond the server's hold, so a silently dropped connection cannot hang the loop. */
const POLL_SLACK_MS = 15000;
/** Clock differences smaller than this are ignored (the Date header has 1 s resolution). */
const SKEW_THRESHOLD_MS = 3000;

/**
 * The session on screen: {key, token, version, holdMs, deadline (local clock), final}.
 * @type {null | {key: string, token: string, version: number, holdMs: number, deadline: number, final: boolean}}
 */
let current = null;
/** Aborts the running poll loop; at most one loop runs per tab. */
let loopController = null;
/** Increments on every mint so a stale mint (superseded by a newer refresh) is dropped. */
let mintSeq = 0;
/** Cuts the current backoff sleep short (set only while the loop sleeps in a backoff). */
let wakeBackoff = null;
/** The last status line, restored after "retrying". */
let statusText = TEXT.loading;
let countdownTimer = 0;

// ---------------------------------------------------------------------------------------------
// Small helpers

function fullJitterMs(attempt) {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

/** Retry-After in ms (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
function retryAfterMs(res) {
  const value = res.headers.get('Retry-After');
  if (value === null || value.trim() === '') return undefined;
  let ms;
  if (/^\s*\d+\s*$/.test(value)) ms = Number(value) * 1000;
  else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - Date.now();
  }
  return Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS);
}

/**
 * Sleeps `ms`, or less when `signal` aborts. A `wakeable` sleep (a backoff) also ends when the tab
 * becomes visible again; a sleep the server asked for (Retry-After) does not.
 */
function sleep(ms, signal, wakeable) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      if (wakeBackoff === done) wakeBackoff = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    if (wakeable) wakeBackoff = done;
  });
}

function whenVisible() {
  if (document.visibilityState === 'visible') return Promise.resolve();
  return new Promise((resolve) => {
    const onChange = () => {
      if (document.visibilityState !== 'visible') return;
      document.removeEventListener('visibilitychange', onChange);
      resolve();
    };
    document.addEventListener('visibilitychange', onChange);
  });
}

/** An AbortSignal that fires when `parent` does or after `ms`. */
function withTimeout(parent, ms) {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  parent?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(onAbort, ms);
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}

/** Server clock minus local clock, from the response's Date header; 0 when close enough or unknown. */
function clockOffsetMs(res) {
  const date = Date.parse(res.headers.get('Date') ?? '');
  if (Number.isNaN(date)) return 0;
  const offset = date - Date.now();
  return Math.abs(offset) < SKEW_THRESHOLD_MS ? 0 : offset;
}

function nameOf(data) {
  const name = data && typeof data.name === 'string' ? data.name.trim() : '';
  return name === '' ? 'someone' : name;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function setStatusText(text) {
  statusText = text;
  showStatusLine(text);
}

/** Writes the live region only when the text changes, so screen readers hear each change once. */
function showStatusLine(text) {
  if (ui.status.textContent !== text) ui.status.textContent = text;
}

function setRetrying(on) {
  if (on) {
    document.body.dataset.retrying = 'true';
    showStatusLine(TEXT.retrying);
  } else if (document.body.dataset.retrying !== undefined) {
    delete document.body.dataset.retrying;
    showStatusLine(statusText);
  }
}

function setOverlay(state) {
  const text = OVERLAY[state];
  ui.qrOverlay.hidden = text === undefined;
  ui.qrOverlay.textContent = text ?? '';
  ui.qrFrame.dataset.state = state;
}

/** The states: pending | scanned | confirmed | cancelled | expired | ended. */
function render(state, data) {
  document.body.dataset.state = state;
  setRetrying(false);
  setOverlay(state);
  const final = state !== 'pending' && state !== 'scanned';
  if (current !== null) current.final = final;
  switch (state) {
    case 'pending':
      setStatusText(TEXT.pending);
      break;
    case 'scanned':
      setStatusText(TEXT.scanned(nameOf(data)));
      break;
    case 'confirmed':
      setStatusText(TEXT.confirmed(nameOf(data)));
      ui.signedInName.textContent = nameOf(data);
      // A real site would now hand data.ticket to its own backend to open the session; the
      // ticket is not shown or stored here.
      break;
    case 'cancelled':
      setStatusText(TEXT.cancelled);
      break;
    case 'expired':
      setStatusText(TEXT.expired);
      break;
    default:
      setStatusText(TEXT.ended);
  }
  ui.loginArea.hidden = state === 'confirmed';
  ui.steps.hidden = final;
  ui.signedIn.hidden = state !== 'confirmed';
  ui.scanLink.hidden = final;
  ui.countdown.hidden = final;
  ui.refresh.hidden = !final || state === 'confirmed';
  ui.refresh.disabled = false;
  if (final) stopCountdown();
}

function showNewQr(session, scanUrl) {
  ui.qr.src = `/status/qr.svg?key=${encodeURIComponent(session.key)}`;
  ui.qr.hidden = false;
  ui.qrPlaceholder.hidden = true;
  ui.scanLink.href = scanUrl;
  ui.loginArea.hidden = false;
  ui.signedIn.hidden = true;
  startCountdown();
}

function showMinting() {
  ui.refresh.hidden = true;
  ui.qr.hidden = true;
  ui.qr.removeAttribute('src');
  ui.qrPlaceholder.hidden = false;
  ui.qrOverlay.hidden = true;
  ui.scanLink.hidden = true;
  ui.countdown.hidden = true;
  ui.loginArea.hidden = false;
  ui.signedIn.hidden = true;
  ui.steps.hidden = false;
  setStatusText(TEXT.loading);
}

// ---------------------------------------------------------------------------------------------
// Countdown

function stopCountdown() {
  clearInterval(countdownTimer);
  countdownTimer = 0;
}

function startCountdown() {
  stopCountdown();
  ui.countdown.hidden = false;
  tick();
  countdownTimer = setInterval(tick, 1000);
}

function tick() {
  if (current === null || current.final) return;
  const left = Math.max(0, current.deadline - Date.now());
  if (left > 0) {
    const seconds = Math.ceil(left / 1000);
    ui.countdown.textContent = `Expires in ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
    return;
  }
  // The server answers the poll with "expired" at this moment; show the QR as stale meanwhile and
  // make sure a loop sleeping in a backoff asks at once.
  ui.countdown.textContent = 'Expired';
  setOverlay('expired');
  stopCountdown();
  wakeBackoff?.();
}

// ---------------------------------------------------------------------------------------------
// Minting and polling

/** Mints a new session (never while the tab is hidden) and starts its poll loop. */
async function newSession() {
  const seq = ++mintSeq;
  stopLoop();
  current = null;
  stopCountdown();
  showMinting();
  let attempt = 0;
  for (;;) {
    await whenVisible();
    if (seq !== mintSeq) return;
    let res;
    let body;
    try {
      res = await fetch('/status/new', { method: 'POST', cache: 'no-store', headers: { Accept: 'application/json' } });
      if (res.ok) body = await res.json();
    } catch {
      body = undefined;
    }
    if (seq !== mintSeq) return;
    if (body && typeof body.key === 'string' && typeof body.pollToken === 'string') {
      const offset = clockOffsetMs(res);
      current = {
        key: body.key,
        token: body.pollToken,
        version: Number.isInteger(body.version) ? body.version : 0,
        holdMs: Number.isFinite(body.holdMs) ? body.holdMs : 25000,
        deadline: Number(body.expiresAt) - offset,
        final: false,
      };
      showNewQr(current, String(body.scanUrl));
      render('pending');
      startLoop();
      return;
    }
    setRetrying(true);
    const wait = res !== undefined && (res.status === 429 || res.status === 503) ? retryAfterMs(res) : undefined;
    await sleep(wait ?? fullJitterMs(attempt), undefined, wait === undefined);
    attempt += 1;
  }
}

function stopLoop() {
  loopController?.abort();
  loopController = null;
}

function startLoop() {
  stopLoop();
  if (current === null || current.final) return;
  const controller = new AbortController();
  loopController = controller;
  pollLoop(current, controller.signal).finally(() => {
    if (loopController === controller) loopController = null;
  });
}

function isView(body) {
  return body !== null && typeof body === 'object' && typeof body.status === 'string' && Number.isInteger(body.version);
}

async function pollLoop(session, signal) {
  let attempt = 0;
  let fastEmpty = 0;
  while (!signal.aborted) {
    const url = `/status/get?key=${encodeURIComponent(session.key)}&since=${session.version}`;
    const limit = withTimeout(signal, session.holdMs + POLL_SLACK_MS);
    const startedAt = Date.now();
    let res;
    let body;
    try {
      res = await fetch(url, {
        headers: { Authorization: `Bearer ${session.token}`, Accept: 'application/json' },
        cache: 'no-store',
        signal: limit.signal,
      });
      if (res.status === 200) body = await res.json();
    } catch {
      res = undefined;
    } finally {
      limit.clear();
    }
    if (signal.aborted) return;

    if (res === undefined || (res.status === 200 && !isView(body))) {
      // Network error, timeout or a cut-off answer.
      setRetrying(true);
      await sleep(fullJitterMs(attempt), signal, true);
      attempt += 1;
      continue;
    }
    if (res.status === 200) {
      attempt = 0;
      fastEmpty = 0;
      if (body.version > session.version) {
        session.version = body.version;
        render(body.status, body.data);
      } else {
        setRetrying(false);
      }
      if (FINAL.has(body.status)) return;
      continue;
    }
    if (res.status === 204) {
      attempt = 0;
      setRetrying(false);
      // Poll again at once. Only if empty answers keep arriving well before the hold could have
      // passed (a proxy cutting polls short), slow down so the tab does not spin.
      fastEmpty = Date.now() - startedAt < session.holdMs / 2 ? fastEmpty + 1 : 0;
      if (fastEmpty >= 5) await sleep(fullJitterMs(Math.min(fastEmpty - 5, 5)), signal, true);
      continue;
    }
    if (res.status === 404 || res.status === 410) {
      render('ended');
      return;
    }
    if (res.status === 429 || res.status === 503) {
      const wait = retryAfterMs(res);
      setRetrying(true);
      await sleep(wait ?? fullJitterMs(attempt), signal, wait === undefined);
      attempt += 1;
      continue;
    }
    if (res.status >= 500 || res.status === 408) {
      setRetrying(true);
      await sleep(fullJitterMs(attempt), signal, true);
      attempt += 1;
      continue;
    }
    // Any other client error will not get better by asking again.
    render('ended');
    return;
  }
}

// ---------------------------------------------------------------------------------------------
// Events

ui.refresh.addEventListener('click', () => {
  ui.refresh.disabled = true;
  newSession();
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') wakeBackoff?.();
});

window.addEventListener('online', () => wakeBackoff?.());

// Let the page enter the back/forward cache without a request in flight, and resume on return.
window.addEventListener('pagehide', () => stopLoop());
window.addEventListener('pageshow', (event) => {
  if (event.persisted && current !== null && !current.final) startLoop();
});

newSession();
