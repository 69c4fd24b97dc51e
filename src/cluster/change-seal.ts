// The seal on a change one node forwards to another: an HMAC-SHA256 of the request body, keyed
// with CLUSTER_TOKEN. Only a node of this cluster can make one, and every node makes it over the
// view it has just read from the store (the transition script's reply), so a sealed change is
// the store's state, not a claim anyone could write. The receiving node still answers a final
// status with what the store holds (see core/hand-out.ts): the seal decides whether a poll wakes.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SEAL_HEADER = 'x-qrelay-seal';

export class ChangeSeal {
  /** The request header that carries the seal. */
  readonly header = SEAL_HEADER;
  readonly #key: Buffer;

  constructor(clusterToken: string) {
    // A key of its own, derived from the token, so the seal never equals anything sent as a bearer.
    this.#key = createHmac('sha256', clusterToken).update('qrelay change seal v1').digest();
  }

  /** The seal of `body`, base64url. */
  seal(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }

  /** Whether `seal` is the seal of `body`, compared in constant time. */
  verify(body: string, seal: string | undefined): boolean {
    if (seal === undefined) return false;
    const presented = Buffer.from(seal, 'base64url');
    const expected = createHmac('sha256', this.#key).update(body).digest();
    return presented.length === expected.length && timingSafeEqual(presented, expected);
  }
}
