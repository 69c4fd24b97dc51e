// The browser client's HTTP: one bounded request to qrelay and what its answer means (retry or give
// up). No login state here: the login (login.ts) decides what to do with a Reply or a Failure.
//
// Requests carry no cookies (`credentials: 'omit'`) and skip the HTTP cache; the poll token travels
// only in the Authorization header the caller sets.
import type { JsonObject, LoginErrorDetail } from './types.js';

const RETRY_AFTER_CAP_MS = 5 * 60_000;
/** Clock differences below this are ignored (the Date header has 1 s resolution). */
const SKEW_THRESHOLD_MS = 3_000;

export interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
  /** Server clock minus this browser's clock; 0 when close or unknown. */
  readonly clockOffsetMs: number;
}

/** Retry-After in ms (delta-seconds or an HTTP date), or undefined when absent or unreadable. */
function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('Retry-After')?.trim();
  if (value === undefined || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) * 1_000 : Date.parse(value) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS);
}

function clockOffsetMs(headers: Headers): number {
  const date = Date.parse(headers.get('Date') ?? '');
  if (Number.isNaN(date)) return 0;
  const offset = date - Date.now();
  return Math.abs(offset) < SKEW_THRESHOLD_MS ? 0 : offset;
}

/**
 * One request, bounded by `signal` and `timeoutMs` (body included). Undefined when there was no
 * complete answer: a network error, the timeout, or `signal` aborted (the caller tells which).
 */
export async function send(url: URL, init: RequestInit, signal: AbortSignal, timeoutMs: number): Promise<Reply | undefined> {
  if (signal.aborted) return undefined;
  const bound = new AbortController();
  const abort = (): void => bound.abort();
  signal.addEventListener('abort', abort);
  const timer = setTimeout(abort, timeoutMs);
  try {
    const res = await fetch(url, { ...init, cache: 'no-store', credentials: 'omit', signal: bound.signal });
    let body: unknown;
    if (res.status !== 204) {
      try {
        body = await res.json();
      } catch {
        if (bound.signal.aborted) return undefined;
        body = undefined;
      }
    }
    return { status: res.status, body, retryAfterMs: retryAfterMs(res.headers), clockOffsetMs: clockOffsetMs(res.headers) };
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', abort);
  }
}

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
export const dataOf = (body: JsonObject): JsonObject | undefined => (isObject(body['data']) ? body['data'] : undefined);

export interface Failure {
  readonly detail: Omit<LoginErrorDetail, 'retrying'>;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
}

export const NETWORK_ERROR: Failure = {
  detail: { code: 'network_error', message: 'qrelay did not answer', status: undefined },
  retryable: true,
  retryAfterMs: undefined,
};

/** What a failed answer means: retry (after Retry-After when given) or give up. */
export function failureOf(reply: Reply | undefined): Failure {
  if (reply === undefined) return NETWORK_ERROR;
  const error = isObject(reply.body) && isObject(reply.body['error']) ? reply.body['error'] : {};
  const code = typeof error['code'] === 'string' ? error['code'] : reply.status < 300 ? 'bad_response' : `http_${reply.status}`;
  const message = typeof error['message'] === 'string' ? error['message'] : `qrelay answered HTTP ${reply.status}`;
  const retryable = reply.status < 300 || reply.status === 408 || reply.status === 429 || reply.status >= 500;
  return { detail: { code, message, status: reply.status }, retryable, retryAfterMs: reply.retryAfterMs };
}
