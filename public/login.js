// The demo PC page: the <qrelay-login> element does the login (QR, polls, retries, expiry); this
// adds what the demo shows around it: who scanned, a link for trying it on one machine, and the
// signed-in panel. A real site sends the `confirmed` event's ticket to its own backend, which
// redeems it (see examples/site); the demo has no backend of its own, so it only says who it was.

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const login = $('login');
const scannedBy = $('scanned-by');
const scanLink = /** @type {HTMLAnchorElement} */ ($('scan-link'));
const steps = $('steps');

function nameOf(data) {
  const name = data && typeof data.name === 'string' ? data.name.trim() : '';
  return name === '' ? 'someone' : name;
}

/** Hides what only makes sense while the QR can be scanned. */
function scanDone() {
  scanLink.hidden = true;
  steps.hidden = true;
}

function showQr(qr) {
  scanLink.href = qr.scanUrl;
  scanLink.hidden = false;
  scannedBy.hidden = true;
  steps.hidden = false;
}

login.addEventListener('qr', (event) => showQr(event.detail));
// This module may run after the element has shown its first QR (its mint can answer before this
// file has loaded), so that QR's event was missed: show it from the element.
if (login.qr !== undefined) showQr(login.qr);

login.addEventListener('scanned', (event) => {
  scannedBy.textContent = `Scanned by ${nameOf(event.detail.data)}`;
  scannedBy.hidden = false;
  scanDone();
});

login.addEventListener('confirmed', (event) => {
  $('signed-in-name').textContent = nameOf(event.detail.data);
  $('login-area').hidden = true;
  scanDone();
  const panel = $('signed-in');
  panel.hidden = false;
  panel.focus();
});

for (const type of ['cancelled', 'expired']) {
  login.addEventListener(type, () => {
    scannedBy.hidden = true;
    scanDone();
  });
}

login.addEventListener('error', (event) => {
  if (!event.detail.retrying) scanDone();
});
