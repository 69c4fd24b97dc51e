// The phone's confirm page, opened from the QR's link (?key=...). The user is signed in to the
// site here; every step goes through the site's backend, which sets the login's status at qrelay
// with this user as the actor.

const key = new URLSearchParams(location.search).get('key') ?? '';
const $ = (id) => document.getElementById(id);
const result = $('result');
let ageTimer = 0;

const TEXT = {
  confirmed: 'Confirmed. You are now signed in on that device; you can close this page.',
  cancelled: 'Cancelled. Nobody was signed in.',
  not_found: 'This sign-in request does not exist. Scan the code again.',
  session_expired: 'This code has expired. Get a new one on the other device and scan it again.',
  invalid_transition: 'This sign-in request was already answered.',
  actor_mismatch: 'Someone else already scanned this code.',
  invalid_key: 'This link is not valid. Scan the code again.',
  not_signed_in: 'You were signed out. Sign in and scan the code again.',
  other: 'Something went wrong. Try again.',
};

function show(text, kind) {
  result.textContent = text;
  result.dataset.kind = kind;
}

function ago(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} seconds ago`;
  const m = Math.floor(s / 60);
  return m === 1 ? '1 minute ago' : `${m} minutes ago`;
}

async function step(path) {
  let res;
  let body;
  try {
    res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key }) });
    body = await res.json();
  } catch {
    return { ok: false, text: TEXT.other };
  }
  if (res.ok) return { ok: true, body };
  return { ok: false, text: TEXT[body?.error?.code] ?? TEXT.other };
}

async function scan() {
  const answer = await step('/api/qr/scan');
  if (!answer.ok) {
    show(answer.text, 'error');
    return;
  }
  const { browser, ip, ageMs } = answer.body;
  const shownAt = Date.now();
  $('browser').textContent = browser;
  $('ip').textContent = ip;
  const tick = () => ($('age').textContent = ago(ageMs + Date.now() - shownAt));
  tick();
  ageTimer = setInterval(tick, 1000);
  $('request').hidden = false;
  show('', 'info');
  $('confirm').focus();
}

async function answer(path, done, kind) {
  $('confirm').disabled = true;
  $('cancel').disabled = true;
  const reply = await step(path);
  if (reply.ok) {
    clearInterval(ageTimer);
    $('request').hidden = true;
    show(TEXT[done], kind);
    return;
  }
  show(reply.text, 'error');
  $('confirm').disabled = false;
  $('cancel').disabled = false;
}

$('confirm').addEventListener('click', () => answer('/api/qr/confirm', 'confirmed', 'success'));
$('cancel').addEventListener('click', () => answer('/api/qr/cancel', 'cancelled', 'info'));
scan();
