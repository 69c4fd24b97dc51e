// The seal on a request one node sends another (POST /channel/set): the one home of its format.
//
//   X-Qrelay-Seal: v1 t=<ms>,n=<nonce>,node=<NODE_ADDR>,sig=<base64url>
//
// `sig` is an HMAC-SHA256, keyed from CLUSTER_TOKEN, over the method, the request target (path and
// query), `t` (the sender's clock, epoch ms), the nonce, the sending node, the node it is sent to
// (the holder's NODE_ADDR, as its route claims name it) and the SHA-256 of the body.
// CLUSTER_TOKEN itself never travels: whoever sees a forward learns a seal that fits that one
// request and nothing else. The receiver refuses a seal whose `t` is more than the window
// (CLUSTER_SEAL_WINDOW_MS) away from its own clock either way, a nonce it has seen within that
// window, a seal addressed to another node, and any altered byte of what is signed; so a recorded
// forward cannot be sent again, to its holder or to any other node (each node remembers only the
// nonces it has seen), and a forward held back is refused once the window has passed.
//
// The nonces seen are kept by the window their `t` falls in (window-wide buckets, the bucket
// number being floor(t / window)). A seal is accepted only while `t` is within one window of now,
// so only the current bucket and its two neighbours can hold nonces that still matter; older
// buckets are dropped when a request first sees that time has moved on. No timer: forgetting is
// part of checking, so the cache has no owner to outlive. Memory is the nonces of at most three
// windows (about 3 x window x forwards per second), and past defaults.sealNoncesMax a seal is refused rather
// than a nonce forgotten early: a cache that cannot remember must not let a replay through.
//
// What a sealed change says is still a claim (see core/session-service.ts, receive): the seal
// decides whether a poll wakes, the store decides what it is told.
import { createHmac, hash, randomUUID, timingSafeEqual } from 'node:crypto';
import { defaults } from '../defaults.js';

export const SEAL_HEADER = 'x-qrelay-seal';

// Strict, and bounded by construction (no two adjacent groups can match the same characters), so
// a hostile header costs one linear scan. `node` is an origin: no comma, no space.
const FORMAT = /^v1 t=(\d{1,15}),n=([A-Za-z0-9_-]{16,64}),node=([!-+\--~]{1,256}),sig=([A-Za-z0-9_-]{43})$/;

export interface SealOptions {
  /** This node's NODE_ADDR: the sender its seals name, and the addressee a seal it takes must name. */
  readonly self: string;
  /** CLUSTER_SEAL_WINDOW_MS: how far a seal's time may be from the receiver's clock, either way, ms. */
  readonly windowMs: number;
  readonly clock?: () => number;
}

/** What a receiver checks a request's seal against. */
export interface SealedRequest {
  readonly method: string;
  /** The request target as received: path and query. */
  readonly target: string;
  readonly seal: string | undefined;
  readonly body: string;
}

export class ChangeSeal {
  /** The request header that carries the seal. */
  readonly header = SEAL_HEADER;
  readonly #key: Buffer;
  readonly #self: string;
  readonly #windowMs: number;
  readonly #clock: () => number;
  /** Nonces seen, by the window-wide bucket their seal's time falls in. */
  readonly #seen = new Map<number, Set<string>>();
  #nonces = 0;
  /** The oldest bucket that may still hold a live nonce, as of the last check. */
  #oldest = Number.NEGATIVE_INFINITY;

  constructor(clusterToken: string, options: SealOptions) {
    // A key of its own, derived from the token: a seal is never something the token's holder
    // might use elsewhere, and the token is never an input anyone else sees.
    this.#key = createHmac('sha256', clusterToken).update('qrelay node seal v1').digest();
    this.#self = options.self;
    this.#windowMs = options.windowMs;
    this.#clock = options.clock ?? Date.now;
  }

  /** The seal header's value for a request from this node to the node at `to` (its NODE_ADDR). */
  seal(method: string, target: string, to: string, body: string): string {
    const t = this.#clock();
    const nonce = randomUUID(); // Node draws UUIDs from a cached pool of CSPRNG bytes
    const sig = this.#sign(method, target, t, nonce, this.#self, to, body).toString('base64url');
    return `v1 t=${t},n=${nonce},node=${this.#self},sig=${sig}`;
  }

  /**
   * Whether `req` bears a seal made with this cluster's key over exactly these bytes, addressed to
   * this node, fresh, and never seen before; a nonce is remembered only once its seal has proved genuine, so nobody
   * without the key can fill the cache.
   */
  verify(req: SealedRequest): boolean {
    const m = req.seal === undefined ? null : FORMAT.exec(req.seal);
    if (m === null) return false;
    const t = Number(m[1]);
    const now = this.#clock();
    if (Math.abs(now - t) > this.#windowMs) return false;
    const presented = Buffer.from(m[4]!, 'base64url');
    const expected = this.#sign(req.method, req.target, t, m[2]!, m[3]!, this.#self, req.body);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return false;
    // A copy of its own: the match is a slice that would keep the whole header alive in the cache.
    return this.#firstSight(Buffer.from(m[2]!, 'latin1').toString('latin1'), t, now);
  }

  #sign(method: string, target: string, t: number, nonce: string, from: string, to: string, body: string): Buffer {
    const digest = hash('sha256', body, 'base64url'); // one-shot: no Hash object per request
    return createHmac('sha256', this.#key).update(`v1\n${method}\n${target}\n${t}\n${nonce}\n${from}\n${to}\n${digest}`).digest();
  }

  /** Records `nonce`; false if it was seen already (or the cache is full). */
  #firstSight(nonce: string, t: number, now: number): boolean {
    const bucket = Math.floor(t / this.#windowMs);
    const oldest = Math.floor(now / this.#windowMs) - 1;
    // A clock set back could bring a forgotten bucket's times into the window again: refused.
    if (bucket < this.#oldest) return false;
    if (oldest > this.#oldest) {
      this.#oldest = oldest;
      for (const [b, nonces] of this.#seen) {
        if (b < oldest) {
          this.#nonces -= nonces.size;
          this.#seen.delete(b);
        }
      }
    }
    let nonces = this.#seen.get(bucket);
    if (nonces?.has(nonce) === true || this.#nonces >= defaults.sealNoncesMax) return false;
    if (nonces === undefined) this.#seen.set(bucket, (nonces = new Set()));
    nonces.add(nonce);
    this.#nonces++;
    return true;
  }

  /** Nonces remembered now (tests, metrics). */
  get remembered(): number {
    return this.#nonces;
  }
}
