// Session keys and poll tokens. The key is what the QR shows; the poll token proves the caller
// is the browser that minted the session. Only the token's SHA-256 is stored, and it is compared
// in constant time, so reading the store or seeing the QR does not let anyone read the result.
import { hash, randomFillSync, timingSafeEqual } from 'node:crypto';

/** 128 bits, base64url: 22 characters. */
export const KEY_PATTERN = /^[A-Za-z0-9_-]{22}$/;
/** 256 bits, base64url: 43 characters. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const KEY_BYTES = 16;
const SECRET_BYTES = KEY_BYTES + 32;

// CSPRNG output is read 16 sessions' worth at a time, as crypto.randomUUID() caches entropy for
// UUIDs: a call into the CSPRNG per secret costs a trip through Node's binding and a new buffer
// each time (docs/performance.md has the profile). Each byte is handed out once and zeroed; the
// pool holds at most 15 sessions' secrets not yet issued (small, since a process dump would show
// them). Keys, poll tokens and tickets all come from it.
const pool = Buffer.alloc(SECRET_BYTES * 16);
let poolUsed = pool.length;

/** `bytes` fresh CSPRNG bytes from the pool, as base64url; they are zeroed in the pool. */
function draw(bytes: number): string {
  if (pool.length - poolUsed < bytes) {
    randomFillSync(pool);
    poolUsed = 0;
  }
  const at = poolUsed;
  poolUsed += bytes;
  const out = pool.toString('base64url', at, at + bytes);
  pool.fill(0, at, at + bytes);
  return out;
}

/** A new session's key (128 bits) and poll token (256 bits), from the CSPRNG. */
export function newKeyAndToken(): { key: string; pollToken: string } {
  const key = draw(KEY_BYTES);
  return { key, pollToken: draw(SECRET_BYTES - KEY_BYTES) };
}

export const hashToken = (token: string): string => hash('sha256', token, 'base64url');

/** Constant-time check of a presented token's hash against the stored one (base64url SHA-256). */
export function hashesMatch(presented: string, stored: string): boolean {
  const a = Buffer.from(presented, 'base64url');
  const b = Buffer.from(stored, 'base64url');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** Constant-time equality of two secrets of any length (compares their digests). */
export function secretEquals(a: string, b: string): boolean {
  return secretCheck(b)(a);
}

/** secretEquals against a fixed `expected`, whose digest is taken once. */
export function secretCheck(expected: string): (presented: string) => boolean {
  const digest = hash('sha256', expected, 'buffer');
  return (presented) => timingSafeEqual(hash('sha256', presented, 'buffer'), digest);
}

/** A one-time ticket: the session's key, then 256 bits from the CSPRNG; base64url, 65 characters. */
export const TICKET_PATTERN = /^[A-Za-z0-9_-]{65}$/;

/** A new ticket for session `key`. It names its session, so any node can find it in one step. */
export const newTicket = (key: string): string => key + draw(32);

/** The session key a well-formed ticket names. */
export const ticketKey = (ticket: string): string => ticket.slice(0, 22);
