// The site's backend talking to qrelay's private listener: redeem a login ticket, set a login's
// status for the signed-in user, look at a login. Every call is bounded (a timeout) and carries INTERNAL_TOKEN.
// qrelay's refusals come back as values (`{ ok: false, code }`); only "qrelay could not be asked"
// (network, timeout, 5xx, an answer of the wrong shape) throws.
import { z } from 'zod';

export type JsonObject = { [key: string]: unknown };

const clientInfo = z.object({ ip: z.string(), userAgent: z.string(), acceptLanguage: z.string(), createdAt: z.number() });

const redeemed = z.object({
  key: z.string(),
  /** Who confirmed: the user id this site set as `actor`. */
  actor: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  /** The browser that asked to log in. */
  client: clientInfo,
  confirmedAt: z.number(),
});

const statusSet = z.object({ status: z.string(), version: z.number(), client: clientInfo });

const peeked = z.object({ status: z.string(), version: z.number(), actor: z.string().optional(), client: clientInfo });

export type ClientInfo = z.infer<typeof clientInfo>;
export type Redeemed = z.infer<typeof redeemed>;
export type StatusSet = z.infer<typeof statusSet>;
export type Peeked = z.infer<typeof peeked>;

export type Refused = { readonly ok: false; readonly status: number; readonly code: string };
export type Outcome<T> = { readonly ok: true; readonly value: T } | Refused;

export class QrelayUnavailable extends Error {
  override readonly name = 'QrelayUnavailable';
}

const TIMEOUT_MS = 3_000;

export class QrelayApi {
  readonly #base: string;
  readonly #token: string | undefined;

  /** `privateUrl`: qrelay's private listener as this backend reaches it. */
  constructor(privateUrl: string, internalToken: string | undefined) {
    this.#base = privateUrl.replace(/\/$/, '');
    this.#token = internalToken;
  }

  /** Exchanges a one-time ticket for who confirmed the login; refused when unknown, expired or used. */
  redeem(ticket: string): Promise<Outcome<Redeemed>> {
    return this.#call('/ticket/redeem', { ticket }, redeemed);
  }

  /**
   * Moves a login to `status` on behalf of `actor` (this site's user id). The key goes in the query,
   * so a balancer routing by it (deploy/nginx/qrelay.conf) sends the set to the node holding the poll.
   */
  setStatus(key: string, status: 'scanned' | 'confirmed' | 'cancelled', actor: string, data?: JsonObject): Promise<Outcome<StatusSet>> {
    return this.#call(`/status/set?key=${encodeURIComponent(key)}`, { status, actor, ...(data === undefined ? {} : { data }) }, statusSet);
  }

  /** A login's status and who scanned it, without waiting. */
  peek(key: string): Promise<Outcome<Peeked>> {
    return this.#call(`/status/peek?key=${encodeURIComponent(key)}`, undefined, peeked);
  }

  async #call<T>(path: string, body: JsonObject | undefined, shape: z.ZodType<T>): Promise<Outcome<T>> {
    let res: Response;
    let answer: unknown;
    try {
      res = await fetch(this.#base + path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...(this.#token === undefined ? {} : { Authorization: `Bearer ${this.#token}` }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      answer = await res.json();
    } catch (cause) {
      throw new QrelayUnavailable(`qrelay ${path}: no answer`, { cause });
    }
    if (res.status >= 500) throw new QrelayUnavailable(`qrelay ${path}: HTTP ${res.status}`);
    if (res.ok) {
      const parsed = shape.safeParse(answer);
      if (!parsed.success) throw new QrelayUnavailable(`qrelay ${path}: unexpected answer`, { cause: parsed.error });
      return { ok: true, value: parsed.data };
    }
    const error = (answer as { error?: { code?: unknown } } | null)?.error;
    return { ok: false, status: res.status, code: typeof error?.code === 'string' ? error.code : `http_${res.status}` };
  }
}
