// The browser client's public types: what a page passes to createLogin() and the details of the
// events a login (and the element) dispatches. Shipped in /qrelay-login.d.ts.

export type JsonObject = { [key: string]: unknown };

/**
 * `starting`: getting a QR (also while the page is hidden); `pending`: QR shown; `scanned`;
 * final: `confirmed`, `cancelled`, `expired` (no more automatic QRs), `ended` (the service
 * refused to go on); `stopped` after stop().
 */
export type LoginState = 'starting' | 'pending' | 'scanned' | 'confirmed' | 'cancelled' | 'expired' | 'ended' | 'stopped';

export interface QrDetail {
  /** The session key (also in the QR). */
  readonly key: string;
  /** The QR image of `scanUrl`, rendered by qrelay (SVG). */
  readonly qrUrl: string;
  /** The link in the QR: SCAN_URL_BASE with `?key=`. */
  readonly scanUrl: string;
  /** When this QR expires, on this browser's clock (epoch ms). */
  readonly expiresAt: number;
}
export interface ScannedDetail {
  /** The `data` the app's backend set with `scanned` (for example the scanner's name). */
  readonly data: JsonObject | undefined;
}
export interface ConfirmedDetail {
  /** One-time ticket: send it to your backend, which redeems it at qrelay's POST /ticket/redeem. */
  readonly ticket: string;
  readonly data: JsonObject | undefined;
}
export interface CancelledDetail {
  readonly data: JsonObject | undefined;
}
export interface ExpiredDetail {
  /** Fresh QRs shown automatically after the first one expired. */
  readonly renewals: number;
}
export interface LoginErrorDetail {
  /** qrelay's error code (`rate_limited`, `not_found`, ...), `network_error` or `bad_response`. */
  readonly code: string;
  readonly message: string;
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** true: the login keeps retrying on its own (and is offline meanwhile); false: it has ended. */
  readonly retrying: boolean;
}
export interface StateDetail {
  readonly state: LoginState;
  /** false while requests fail and the login retries. */
  readonly online: boolean;
}

export interface LoginEventMap {
  /** A QR is shown (the first one, an automatic renewal, or one after refresh()). */
  qr: CustomEvent<QrDetail>;
  scanned: CustomEvent<ScannedDetail>;
  confirmed: CustomEvent<ConfirmedDetail>;
  cancelled: CustomEvent<CancelledDetail>;
  expired: CustomEvent<ExpiredDetail>;
  error: CustomEvent<LoginErrorDetail>;
  statechange: CustomEvent<StateDetail>;
}

export interface LoginOptions {
  /** Where qrelay's public listener is, for example `https://login.example.com` or `/qrelay/`. */
  baseUrl: string | URL;
  /** Fresh QRs minted automatically after one expires unused, before waiting for refresh(). Default 3. */
  renewals?: number;
}
