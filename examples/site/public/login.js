// The PC's sign-in page. <qrelay-login> shows the QR and follows the login; this script does the
// one thing only the site can: on `confirmed`, hand the ticket to the site's backend, which
// redeems it at qrelay and sets this browser's session cookie. The ticket goes in a POST body to
// this site and nowhere else.

const login = document.querySelector('qrelay-login');
const note = document.getElementById('qr-note');
const scanLink = document.getElementById('scan-link');
const next = document.querySelector('main')?.dataset.next ?? '/';

function say(text, kind = 'info') {
  note.textContent = text;
  note.dataset.kind = kind;
}

function showQr(qr) {
  say('');
  scanLink.href = qr.scanUrl;
  scanLink.hidden = false;
}

login.addEventListener('qr', (event) => showQr(event.detail));
// This script may run after the element has shown its first QR (its mint can answer before this
// file has loaded), so that QR's event was missed: show it from the element.
if (login.qr !== undefined) showQr(login.qr);

login.addEventListener('scanned', (event) => {
  const name = typeof event.detail.data?.name === 'string' ? event.detail.data.name : 'someone';
  say(`Scanned by ${name}`);
  scanLink.hidden = true;
});

login.addEventListener('confirmed', async (event) => {
  say('Signing you in…');
  let res;
  try {
    res = await fetch('/api/qr-login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ticket: event.detail.ticket }),
    });
  } catch {
    res = undefined;
  }
  if (res?.ok) {
    location.assign(next);
    return;
  }
  say('That sign-in could not be completed. Try again with a new code.', 'error');
  login.refresh();
});

for (const type of ['cancelled', 'expired']) {
  login.addEventListener(type, () => {
    say('');
    scanLink.hidden = true;
  });
}
