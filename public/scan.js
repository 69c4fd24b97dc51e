// The phone page (demo): the page a scanned QR code opens. It stands in for the phone app: it tells
// the demo backend the QR was scanned, shows who asked to log in, and confirms or cancels.

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const ui = {
  requester: $('requester'),
  browser: $('requester-browser'),
  ip: $('requester-ip'),
  age: $('requester-age'),
  actions: $('actions'),
  confirm: /** @type {HTMLButtonElement} */ ($('confirm')),
  cancel: /** @type {HTMLButtonElement} */ ($('cancel')),
  result: $('result'),
  retry: /** @type {HTMLButtonElement} */ ($('retry')),
};

const TEXT = {
  checking: 'Checking the login request…',
  noKey: 'This login link is incomplete: it has no login key. Scan the QR code again.',
  confirmed: 'Confirmed. You can return to your computer.',
  cancelled: 'Login cancelled.',
  notFound: 'This login request does not exist.',
  expired: 'This login request has expired.',
  answered: 'This login request was already answered.',
  demoOff: 'The demo backend is off: start the server with DEMO=1 (npm run demo).',
  badLink: 'This login link is not valid. Scan the QR code again.',
  busy: 'The service is busy, try again in a moment.',
  network: 'Network error, try again.',
};

/** Clock differences smaller than this are ignored (the Date header has 1 s resolution). */
const SKEW_THRESHOLD_MS = 3000;

const key = new URLSearchParams(location.search).get('key') ?? '';
/** Server clock minus local clock. */
let clockOffset = 0;
let createdAt = NaN;
let ageTimer = 0;

// ---------------------------------------------------------------------------------------------
// User-Agent to "Browser on OS". Order matters: several browsers carry other browsers' tokens
// (Edge and Opera say Chrome, Chrome says Safari, Android says Linux, iOS says Mac OS X).

const BROWSERS = [
  ['Edge', /\b(?:Edg|EdgA|EdgiOS|Edge)\//],
  ['Opera', /\b(?:OPR|OPiOS)\/|\bOpera\b/],
  ['Samsung Internet', /\bSamsungBrowser\//],
  ['Firefox', /\b(?:Firefox|FxiOS)\//],
  ['Chrome', /\b(?:HeadlessChrome|Chrome|CriOS|Chromium)\//],
  ['Safari', /\bVersion\/[\d.]+.*\bSafari\/|\bMobile\/\w+.*\bSafari\//],
];

const SYSTEMS = [
  ['Windows', /\bWindows\b/],
  ['Android', /\bAndroid\b/],
  ['iOS', /\b(?:iPhone|iPad|iPod)\b/],
  ['ChromeOS', /\bCrOS\b/],
  ['macOS', /\b(?:Macintosh|Mac OS X)\b/],
  ['Linux', /\bLinux\b|\bX11\b/],
];

function parseUserAgent(ua) {
  const text = typeof ua === 'string' ? ua : '';
  const browser = BROWSERS.find(([, re]) => re.test(text))?.[0];
  const os = SYSTEMS.find(([, re]) => re.test(text))?.[0];
  if (browser === undefined) return os === undefined ? 'Unknown browser' : `Unknown browser on ${os}`;
  return os === undefined ? browser : `${browser} on ${os}`;
}

function timeAgo(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} seconds ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes === 1 ? '1 minute ago' : `${minutes} minutes ago`;
  const hours = Math.floor(minutes / 60);
  return hours === 1 ? '1 hour ago' : `${hours} hours ago`;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** kind: info | success | error. */
function showResult(text, kind) {
  ui.result.textContent = text;
  ui.result.dataset.kind = kind;
}

function setState(state) {
  document.body.dataset.state = state;
}

function updateAge() {
  if (Number.isNaN(createdAt)) return;
  ui.age.textContent = timeAgo(Date.now() + clockOffset - createdAt);
}

function showRequester(client) {
  ui.browser.textContent = parseUserAgent(client?.userAgent);
  ui.ip.textContent = typeof client?.ip === 'string' && client.ip !== '' ? client.ip : 'unknown';
  createdAt = Number(client?.createdAt);
  if (Number.isNaN(createdAt)) ui.age.textContent = 'unknown';
  else {
    updateAge();
    clearInterval(ageTimer);
    ageTimer = setInterval(updateAge, 1000);
  }
  ui.requester.hidden = false;
  ui.actions.hidden = false;
  setButtonsEnabled(true);
}

function setButtonsEnabled(on) {
  ui.confirm.disabled = !on;
  ui.cancel.disabled = !on;
}

// ---------------------------------------------------------------------------------------------
// Talking to the demo backend

/**
 * POSTs {key} to a demo route. Resolves to {ok: true, body, res} or {ok: false, text, retryable};
 * never throws.
 */
async function post(path) {
  let res;
  try {
    res = await fetch(path, {
      method: 'POST',
      cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ key }),
    });
  } catch {
    return { ok: false, text: TEXT.network, retryable: true };
  }
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (res.ok && body && typeof body === 'object') return { ok: true, body, res };
  if (res.ok) return { ok: false, text: TEXT.network, retryable: true };
  const code = body?.error?.code;
  switch (res.status) {
    case 404:
      return { ok: false, text: code === 'no_route' ? TEXT.demoOff : TEXT.notFound, retryable: false };
    case 410:
      return { ok: false, text: TEXT.expired, retryable: false };
    case 409:
      return { ok: false, text: TEXT.answered, retryable: false };
    case 400:
      return { ok: false, text: TEXT.badLink, retryable: false };
  }
  if (res.status === 429 || res.status >= 500) return { ok: false, text: TEXT.busy, retryable: true };
  return { ok: false, text: `Something went wrong (HTTP ${res.status}).`, retryable: false };
}

function clockOffsetOf(res) {
  const date = Date.parse(res.headers.get('Date') ?? '');
  if (Number.isNaN(date)) return 0;
  const offset = date - Date.now();
  return Math.abs(offset) < SKEW_THRESHOLD_MS ? 0 : offset;
}

async function scan() {
  ui.retry.hidden = true;
  setState('loading');
  showResult(TEXT.checking, 'info');
  const answer = await post('/demo/scan');
  if (!answer.ok) {
    setState('error');
    showResult(answer.text, 'error');
    ui.retry.hidden = !answer.retryable;
    return;
  }
  clockOffset = clockOffsetOf(answer.res);
  setState('ready');
  showResult('', 'info');
  showRequester(answer.body.client);
}

async function answer(path, okText, okState) {
  setButtonsEnabled(false);
  const reply = await post(path);
  if (reply.ok) {
    setState(okState);
    showResult(okText, 'success');
    clearInterval(ageTimer);
    return;
  }
  showResult(reply.text, 'error');
  if (reply.retryable) setButtonsEnabled(true);
  else setState('error');
}

ui.confirm.addEventListener('click', () => answer('/demo/confirm', TEXT.confirmed, 'confirmed'));
ui.cancel.addEventListener('click', () => answer('/demo/cancel', TEXT.cancelled, 'cancelled'));
ui.retry.addEventListener('click', () => scan());

if (key === '') {
  setState('error');
  showResult(TEXT.noKey, 'error');
} else {
  scan();
}
