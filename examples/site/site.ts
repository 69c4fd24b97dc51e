// The reference integration: a small site with its own users and its own session cookie that
// adds "sign in with your phone" through qrelay.
//
//   PC     GET /login embeds <qrelay-login>; on `confirmed`, /login.js posts the ticket to
//          POST /api/qr-login, which redeems it at qrelay's private POST /ticket/redeem and signs
//          this browser in as the ticket's actor.
//   phone  The QR's link (SCAN_URL_BASE = this site's /confirm) opens GET /confirm, for a user
//          already signed in here. /confirm.js calls POST /api/qr/scan (shows which browser asked),
//          then /api/qr/confirm or /api/qr/cancel; each sets the status at qrelay's private
//          POST /status/set with actor = the signed-in user's id.
//
// Why this is safe: the ticket reaches only the browser holding the login's poll token (the one
// that showed the QR), is good once and for TICKET_TTL_MS, and names the user who confirmed on a
// phone where they were signed in. Someone who only saw the QR can open /confirm, but must be
// signed in to do anything there, and then confirms a login for themselves into a browser that
// is not theirs. Every POST must come from this site's own pages (Origin checked; the cookie is
// SameSite=Lax).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import { Accounts, type User } from './accounts.js';
import { confirmPage, homePage, loginPage } from './pages.js';
import { QrelayApi, QrelayUnavailable } from './qrelay-api.js';
import { describeBrowser } from './user-agent.js';

export interface SiteOptions {
  /** This site's origin as browsers reach it, e.g. http://localhost:3000. */
  readonly origin: string;
  /** qrelay's public listener as browsers reach it. */
  readonly qrelayPublicUrl: string;
  /** qrelay's private listener as this backend reaches it. */
  readonly qrelayPrivateUrl: string;
  /** qrelay's INTERNAL_TOKEN; undefined when it runs without one. */
  readonly internalToken: string | undefined;
}

const COOKIE = 'acme_session';
const KEY = /^[A-Za-z0-9_-]{22}$/;

// examples/site/public, whether this runs from the sources or from dist/examples/site.
const PUBLIC_DIR = [new URL('public/', import.meta.url), new URL('../../../examples/site/public/', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((dir) => existsSync(dir));

/** The session id from the Cookie header. */
function sessionId(req: Request): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === COOKIE && value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** `next` if it is a path on this site, else "/". */
function localPath(next: unknown): string {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.includes('\\') ? next : '/';
}

/** A sign-in on the way to the phone's confirm page: no QR there, the phone is the one scanning. */
const isConfirm = (next: string): boolean => next.startsWith('/confirm?');

const apiError = (res: Response, status: number, code: string): void => {
  res.status(status).json({ error: { code } });
};

export function siteApp(options: SiteOptions): express.Express {
  const accounts = new Accounts();
  const qrelay = new QrelayApi(options.qrelayPrivateUrl, options.internalToken);
  const qrelayOrigin = new URL(options.qrelayPublicUrl).origin;
  const secure = options.origin.startsWith('https:');

  const app = express();
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          // qrelay serves the element's module, its QR images and its API.
          scriptSrc: ["'self'", qrelayOrigin],
          imgSrc: ["'self'", 'data:', qrelayOrigin],
          connectSrc: ["'self'", qrelayOrigin],
          styleSrc: ["'self'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
        },
      },
      // Not helmet's no-referrer: with it, browsers send `Origin: null` on this site's own form
      // posts, and the Origin check below could not tell them from a cross-site post.
      referrerPolicy: { policy: 'same-origin' },
    }),
  );
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  // Cross-site requests cannot act here: every POST must come from this site's own pages.
  app.use((req, res, next) => {
    if (req.method === 'POST' && req.headers.origin !== options.origin) {
      apiError(res, 403, 'cross_site');
      return;
    }
    next();
  });
  app.use(express.static(PUBLIC_DIR ?? 'public', { index: false, redirect: false }));

  const userOf = (req: Request): User | undefined => accounts.session(sessionId(req));
  const signIn = (res: Response, user: User): void => {
    res.cookie(COOKIE, accounts.signIn(user), { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: 8 * 3_600_000 });
  };

  app.get('/', (req, res) => {
    res.type('html').send(homePage(userOf(req)));
  });

  app.get('/login', (req, res) => {
    const next = localPath(req.query['next']);
    if (userOf(req) !== undefined) {
      res.redirect(303, next);
      return;
    }
    res.type('html').send(loginPage({ qrelayUrl: options.qrelayPublicUrl, next, withQr: !isConfirm(next) }));
  });

  app.post('/login', express.urlencoded({ extended: false, limit: '2kb' }), (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const username = typeof body['username'] === 'string' ? body['username'].trim() : '';
    const password = typeof body['password'] === 'string' ? body['password'] : '';
    const next = localPath(body['next']);
    const user = accounts.checkPassword(username, password);
    if (user === undefined) {
      const page = loginPage({ qrelayUrl: options.qrelayPublicUrl, next, withQr: !isConfirm(next), username, error: 'Wrong user name or password.' });
      res.status(401).type('html').send(page);
      return;
    }
    signIn(res, user);
    res.redirect(303, next);
  });

  app.post('/logout', (req, res) => {
    const sid = sessionId(req);
    if (sid !== undefined) accounts.signOut(sid);
    res.clearCookie(COOKIE, { path: '/' });
    res.redirect(303, '/');
  });

  // The phone opens the QR's link here. Signed out, it signs in first and comes back.
  app.get('/confirm', (req, res) => {
    const user = userOf(req);
    if (user === undefined) {
      res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    res.type('html').send(confirmPage(user));
  });

  const json = express.json({ limit: '2kb' });

  // PC: the element's `confirmed` ticket, exchanged for a session on this site.
  app.post('/api/qr-login', json, async (req, res) => {
    const ticket: unknown = (req.body as Record<string, unknown> | undefined)?.['ticket'];
    if (typeof ticket !== 'string' || ticket.length === 0 || ticket.length > 256) {
      apiError(res, 400, 'invalid_ticket');
      return;
    }
    const redeemed = await qrelay.redeem(ticket);
    const user = redeemed.ok ? accounts.user(redeemed.value.actor) : undefined;
    if (user === undefined) {
      apiError(res, 401, 'ticket_refused');
      return;
    }
    signIn(res, user);
    res.json({ user: { id: user.id, name: user.name } });
  });

  // Phone: scan, confirm, cancel, as the signed-in user.
  const phoneStep = (status: 'scanned' | 'confirmed' | 'cancelled') => async (req: Request, res: Response) => {
    const user = userOf(req);
    if (user === undefined) {
      apiError(res, 401, 'not_signed_in');
      return;
    }
    const key: unknown = (req.body as Record<string, unknown> | undefined)?.['key'];
    if (typeof key !== 'string' || !KEY.test(key)) {
      apiError(res, 400, 'invalid_key');
      return;
    }
    let set = await qrelay.setStatus(key, status, user.id, status === 'cancelled' ? undefined : { name: user.name });
    if (!set.ok && set.code === 'invalid_transition' && status === 'scanned') {
      // The confirm page reloaded after its scan: go on if this user is the one who scanned.
      const seen = await qrelay.peek(key);
      if (seen.ok && seen.value.status === 'scanned' && seen.value.actor === user.id) set = seen;
    }
    if (!set.ok) {
      // 404 unknown, 410 expired, 409 already answered or scanned by someone else.
      apiError(res, set.status, set.code);
      return;
    }
    const { client } = set.value;
    res.json({
      status: set.value.status,
      browser: describeBrowser(client.userAgent),
      ip: client.ip,
      ageMs: Math.max(0, Date.now() - client.createdAt),
    });
  };
  app.post('/api/qr/scan', json, phoneStep('scanned'));
  app.post('/api/qr/confirm', json, phoneStep('confirmed'));
  app.post('/api/qr/cancel', json, phoneStep('cancelled'));

  app.use((_req: Request, res: Response) => {
    res.status(404).type('text').send('Not found');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof QrelayUnavailable) apiError(res, 503, 'qrelay_unavailable');
    else if (typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' && err.status < 500) apiError(res, err.status, 'bad_request');
    else apiError(res, 500, 'internal_error');
  });
  return app;
}
