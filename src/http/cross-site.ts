// Cross-site minting. Any web page can make its visitors' browsers POST /status/new (a CORS
// "simple" request goes out without a preflight) and use up their address's session quota. A
// browser says where such a request comes from, in Sec-Fetch-Site and Origin, and no page can
// forge either; so a request a browser marks as coming from another site is refused, unless its
// origin is one of CORS_ORIGINS. A request with neither header is not a browser's cross-site
// request (curl, a backend, an old browser) and passes: this guards visitors, not the API.
import type { IncomingMessage } from 'node:http';
import { errors } from '../errors.js';

/** Returns a check that throws `403 cross_site` for a request another site's page made. */
export function crossSiteCheck(corsOrigins: readonly string[]): (req: IncomingMessage) => void {
  const listed = new Set(corsOrigins);
  return (req) => {
    const origin = req.headers.origin;
    if (origin !== undefined && listed.has(origin)) return;
    if (req.headers['sec-fetch-site'] === 'cross-site') throw errors.crossSite();
    if (origin !== undefined && !isOwnOrigin(origin, req)) throw errors.crossSite();
  };
}

/**
 * Returns a function giving the Origin of a request made from another origin that CORS_ORIGINS
 * does not list (a browser will refuse such a page the answer), or undefined.
 */
export function unlistedOrigin(corsOrigins: readonly string[]): (req: IncomingMessage) => string | undefined {
  const listed = new Set(corsOrigins);
  return (req) => {
    const origin = req.headers.origin;
    return origin !== undefined && !listed.has(origin) && !isOwnOrigin(origin, req) ? origin : undefined;
  };
}

/**
 * Whether `origin` names the host the request was sent to: its Host header, or the X-Forwarded-Host
 * a proxy in front of this service set. A page can set neither without a preflight, which no origin
 * outside CORS_ORIGINS passes, so believing X-Forwarded-Host needs no TRUST_PROXY here.
 */
function isOwnOrigin(origin: string, req: IncomingMessage): boolean {
  let host: string;
  try {
    host = new URL(origin).host; // "null" (sandboxed frames, file: pages) does not parse
  } catch {
    return false;
  }
  const forwarded = req.headers['x-forwarded-host'];
  const proxied = typeof forwarded === 'string' ? forwarded.split(',')[0]?.trim().toLowerCase() : undefined;
  return host !== '' && (host === req.headers.host?.toLowerCase() || host === proxied);
}
