// Abuse limits, the policy: each answered 429 with Retry-After (or 503 when the node itself is
// full): sessions minted and QR images rendered per client IP, polls in flight per client IP,
// polls held per node, and wrong poll tokens per session (after which the session is destroyed).
// The counting is a CounterFactory's: in memory on one node; in cluster mode in Redis, so the
// limits hold across nodes (falling back to per-node memory while Redis is unreachable, rather
// than failing requests). "Per client IP" means per IPv4 address, or per IPv6 /64 (addressBlock).
//
// The per-IP poll counter is taken when a poll starts and given back when it ends. On one node it
// is an exact count in memory. Across nodes it is a Redis counter whose window (the hold plus a
// minute) bounds the damage if a node dies holding polls: its counts lapse. The price is drift:
// counts taken late in a window and given back early in the next let an IP exceed the limit by up
// to its size for one window.
import { errors } from '../errors.js';
import { addressBlock } from './address-block.js';
import type { Counter, CounterFactory, Take } from './counters.js';

export interface LimitSettings {
  /** Sessions one client IP may mint per minute. */
  sessionsPerIpPerMinute: number;
  /** QR images one client IP may have rendered per minute (rendering costs CPU). */
  qrPerIpPerMinute: number;
  /** Polls one client IP may have in flight at once. */
  pollsPerIp: number;
  /** Polls this node holds at most; beyond it, new polls get 503 (admission control). */
  pollsPerNode: number;
  /** Wrong poll tokens a session survives; one more destroys it. */
  tokenFailuresPerSession: number;
  holdMs: number;
}

export type LimitName = 'sessions_per_ip' | 'qr_per_ip' | 'polls_per_ip' | 'polls_per_node' | 'token_failures';

const POLLS_PER_IP_MESSAGE = 'too many polls in flight from this address';

const retryAfterS = (take: Take & { ok: false }): number => Math.max(1, Math.ceil(take.retryAfterMs / 1000));

export class Limits {
  readonly #settings: LimitSettings;
  readonly #sessions: Counter;
  readonly #qr: Counter;
  /** Polls in flight per client IP, across nodes (shared counters only). */
  readonly #polls: Counter | undefined;
  /** Polls in flight per client IP on this node (one node): exact, no window. */
  readonly #pollsHere = new Map<string, number>();
  readonly #tokenFailures: Counter;
  readonly #onLimited: (limit: LimitName) => void;

  /**
   * `counters` makes the counters; `shared` says they are shared by several nodes (then polls in
   * flight per IP are counted there too; otherwise exactly, in this process).
   */
  constructor(settings: LimitSettings, counters: { make: CounterFactory; shared: boolean }, onLimited: (limit: LimitName) => void) {
    this.#settings = settings;
    this.#onLimited = onLimited;
    const { make } = counters;
    this.#sessions = make('sessions', settings.sessionsPerIpPerMinute, 60);
    this.#qr = make('qr', settings.qrPerIpPerMinute, 60);
    this.#polls = counters.shared ? make('polls', settings.pollsPerIp, Math.ceil(settings.holdMs / 1000) + 60) : undefined;
    this.#tokenFailures = make('token-failures', settings.tokenFailuresPerSession, 600);
  }

  /** Throws 429 when `ip` minted too many sessions this minute. */
  async admitSession(ip: string): Promise<void> {
    await this.#take(this.#sessions, addressBlock(ip), 'sessions_per_ip', 'too many sessions from this address; retry later');
  }

  /** Throws 429 when `ip` had too many QR images rendered this minute. */
  async admitQr(ip: string): Promise<void> {
    await this.#take(this.#qr, addressBlock(ip), 'qr_per_ip', 'too many QR images for this address; retry later');
  }

  /**
   * Admits a poll from `address` while this node holds `heldHere` polls; returns the release to call
   * exactly once when the poll ends. Throws 503 when the node is full, 429 when the IP is.
   */
  async admitPoll(address: string, heldHere: number): Promise<() => void> {
    if (heldHere >= this.#settings.pollsPerNode) {
      this.#onLimited('polls_per_node');
      throw errors.nodeFull();
    }
    const ip = addressBlock(address);
    if (this.#polls === undefined) return this.#admitPollHere(ip);
    const polls = this.#polls;
    await this.#take(polls, ip, 'polls_per_ip', POLLS_PER_IP_MESSAGE);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      polls.give(ip);
    };
  }

  #admitPollHere(ip: string): () => void {
    const held = this.#pollsHere.get(ip) ?? 0;
    if (held >= this.#settings.pollsPerIp) {
      this.#onLimited('polls_per_ip');
      // A slot frees as soon as one of this address's polls ends, which may be any moment.
      throw errors.rateLimited(POLLS_PER_IP_MESSAGE, 1);
    }
    this.#pollsHere.set(ip, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.#pollsHere.get(ip)! - 1;
      if (left === 0) this.#pollsHere.delete(ip);
      else this.#pollsHere.set(ip, left);
    };
  }

  /** Counts a wrong token for `key`; true once the session has had more than it survives. */
  async tokenFailed(key: string): Promise<boolean> {
    if ((await this.#tokenFailures.take(key)).ok) return false;
    this.#onLimited('token_failures');
    return true;
  }

  async #take(counter: Counter, id: string, name: LimitName, message: string): Promise<void> {
    const taken = await counter.take(id);
    if (taken.ok) return;
    this.#onLimited(name);
    throw errors.rateLimited(message, retryAfterS(taken));
  }
}
