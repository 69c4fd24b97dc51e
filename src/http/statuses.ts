// The HTTP side of the error catalog (errors.ts): each code's status and, for a refusal worth
// retrying, its Retry-After. The one place a code meets a status: respond.ts answers with it, and
// openapi.ts documents each route's refusals under the status found here.
import type { CatalogCode, ErrorCode, QrelayError } from '../errors.js';

export interface HttpRefusal {
  readonly status: number;
  /**
   * Retry-After, in seconds: a fixed figure, or `retryIn` for the error's own `retryInMs` (rounded
   * up to whole seconds, at least 1). None when absent.
   */
  readonly retryAfter?: number | 'retryIn';
}

const httpRefusals = {
  invalid_json: { status: 400 },
  empty_body: { status: 400 },
  unknown_field: { status: 400 },
  key_mismatch: { status: 400 },
  unsupported_protocol: { status: 400 },
  // A library's refusal (raw-body's, express's router's) keeps the library's own 4xx status; see
  // httpAnswer.
  bad_request: { status: 400 },
  unauthorized: { status: 401 },
  missing_token: { status: 401 },
  invalid_seal: { status: 401 },
  cross_site: { status: 403 },
  not_found: { status: 404 },
  no_route: { status: 404 },
  method_not_allowed: { status: 405 },
  body_timeout: { status: 408 },
  invalid_transition: { status: 409 },
  actor_mismatch: { status: 409 },
  version_mismatch: { status: 409 },
  already_delivered: { status: 410 },
  already_redeemed: { status: 410 },
  session_expired: { status: 410 },
  payload_too_large: { status: 413 },
  data_too_large: { status: 413 },
  unsupported_media_type: { status: 415 },
  rate_limited: { status: 429, retryAfter: 'retryIn' },
  internal_error: { status: 500 },
  store_unavailable: { status: 503, retryAfter: 1 },
  not_ready: { status: 503, retryAfter: 1 },
  shutting_down: { status: 503, retryAfter: 1 },
  node_full: { status: 503, retryAfter: 1 },
  sessions_full: { status: 503, retryAfter: 1 },
  hand_out_in_progress: { status: 503, retryAfter: 'retryIn' },
} as const satisfies Record<CatalogCode, HttpRefusal>;

/** A malformed field's code (`invalid_<field>`, errors.ts's FieldCode). */
const MALFORMED_FIELD: HttpRefusal = { status: 400 };

const isCatalogued = (code: ErrorCode): code is CatalogCode => Object.hasOwn(httpRefusals, code);

/** The status (and Retry-After) of `code`. */
export function httpRefusal(code: ErrorCode): HttpRefusal {
  return isCatalogued(code) ? httpRefusals[code] : MALFORMED_FIELD;
}

/** The 4xx status a library's error carries (`status`, as http-errors sets it), if any. */
export function clientErrorStatus(err: unknown): number | undefined {
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** How `e` is answered: its status, and its Retry-After in seconds if it has one. */
export function httpAnswer(e: QrelayError): { readonly status: number; readonly retryAfterS: number | undefined } {
  const refusal = httpRefusal(e.code);
  const status = (e.code === 'bad_request' ? clientErrorStatus(e.cause) : undefined) ?? refusal.status;
  const { retryAfter } = refusal;
  if (retryAfter !== 'retryIn') return { status, retryAfterS: retryAfter };
  return { status, retryAfterS: Math.max(1, Math.ceil((e.details.retryInMs ?? 0) / 1000)) };
}
