// The site's pages, rendered on the server. Every value put into HTML goes through esc(); no page
// has inline script or style (the site's CSP forbids both), so what a page needs comes from the
// site's own /login.js and /confirm.js and from qrelay's /qrelay-login.js.
import type { User } from './accounts.js';

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

function layout(title: string, user: User | undefined, main: string, scripts: readonly string[] = []): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${esc(title)} · Acme</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/site.css">
${scripts.map((src) => `  <script type="module" src="${esc(src)}"></script>\n`).join('')}</head>
<body>
  <header class="top">
    <a class="brand" href="/"><span class="brand-mark" aria-hidden="true"></span>Acme</a>
    ${user === undefined ? '<a href="/login">Sign in</a>' : `<span class="who">${esc(user.id)}</span>`}
  </header>
  ${main}
</body>
</html>
`;
}

export function homePage(user: User | undefined): string {
  const body =
    user === undefined
      ? `<p>You are not signed in.</p>
    <a class="btn primary" href="/login">Sign in</a>`
      : `<p class="signed-in" id="signed-in">Signed in as <strong>${esc(user.id)}</strong></p>
    <form method="post" action="/logout"><button class="btn" type="submit">Sign out</button></form>`;
  return layout('Home', user, `<main class="card">
    <h1>Welcome to Acme</h1>
    ${body}
  </main>`);
}

export interface LoginPageOptions {
  /** qrelay's public URL: the element's base-url and where its module comes from. */
  readonly qrelayUrl: string;
  /** Where to go once signed in (a path on this site). */
  readonly next: string;
  /** Offer the QR (not on the way to the phone's confirm page). */
  readonly withQr: boolean;
  readonly error?: string;
  readonly username?: string;
}

export function loginPage(o: LoginPageOptions): string {
  const qrelay = o.qrelayUrl.replace(/\/$/, '');
  const withPhone = `<section class="method by-phone" aria-labelledby="with-phone">
        <h2 id="with-phone">With your phone</h2>
        <qrelay-login base-url="${esc(qrelay)}"></qrelay-login>
        <p id="qr-note" class="note" role="status" aria-live="polite"></p>
        <p class="hint">Scan the code with your phone's camera, then confirm in Acme on your phone.</p>
        <p class="hint"><a id="scan-link" href="/" target="_blank" rel="noopener noreferrer" hidden>Trying it on one computer? Open the code's link in another browser.</a></p>
      </section>`;
  return layout(
    'Sign in',
    undefined,
    `<main class="card${o.withQr ? ' wide' : ''}" data-next="${esc(o.next)}">
    <h1>Sign in to Acme</h1>
    <div class="methods${o.withQr ? '' : ' single'}">
      ${o.withQr ? withPhone : ''}
      <section class="method" aria-labelledby="with-password">
        <h2 id="with-password">With your password</h2>
        <form method="post" action="/login" class="password">
          <input type="hidden" name="next" value="${esc(o.next)}">
          <label>User name <input name="username" autocomplete="username" required value="${esc(o.username ?? '')}"></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
          ${o.error === undefined ? '' : `<p class="error" role="alert">${esc(o.error)}</p>`}
          <button class="btn primary" type="submit">Sign in</button>
        </form>
        <p class="hint">Demo users: ann, bob. Password: demo.</p>
      </section>
    </div>
  </main>`,
    o.withQr ? [`${qrelay}/qrelay-login.js`, '/login.js'] : [],
  );
}

/** The phone's page: the QR's link (SCAN_URL_BASE) opens it; only for a signed-in user. */
export function confirmPage(user: User): string {
  return layout(
    'Confirm sign-in',
    user,
    `<main class="card phone">
    <h1>Sign in on another device?</h1>
    <p class="signed-as">You are signed in here as <strong>${esc(user.id)}</strong>.</p>
    <section id="request" class="request" aria-label="The device asking to sign in" hidden>
      <dl class="facts">
        <div><dt>Browser</dt><dd id="browser"></dd></div>
        <div><dt>Address</dt><dd id="ip"></dd></div>
        <div><dt>Asked</dt><dd id="age"></dd></div>
      </dl>
      <p class="hint">Confirm only if you are signing in on that device yourself, right now.</p>
      <div class="actions">
        <button id="confirm" class="btn primary" type="button">Confirm</button>
        <button id="cancel" class="btn" type="button">Cancel</button>
      </div>
    </section>
    <p id="result" class="result" role="status" aria-live="polite">Checking the request…</p>
  </main>`,
    ['/confirm.js'],
  );
}
