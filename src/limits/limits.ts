// Abuse limits, the policy: sessions minted, QR images rendered and wrong poll tokens sent per
// client IP, polls in flight per client IP (each refused `rate_limited`, with how long until a
// retry may succeed), and polls held per node (refused `node_full`). "Per client IP" means per
// IPv4 address, or per IPv6 /64 (addressBlock).
//
// Wrong poll tokens count against the address that sends them, never the session they name: a
// session is the victim of a guess, not its author, and anyone who saw its QR knows its key. A
// poll for an unknown key takes a point too, so that both take the same time (the two must look
// alike), but is always answered `not_found`: an address over its limit learns a key is live only
// for a key it already holds, and a 128-bit key cannot be guessed. A poll with the right token is
// never counted, so one sharing an address with a guesser is always served.
//
// Rates (sessions, QR images, token failures) are a CounterFactory's: in memory on one node; in
// cluster mode in Redis, so they hold across nodes (falling back to per-node memory while Redis is
// unreachable, rather than failing requests).
//
// Polls in flight are not a rate but a count of what this node holds right now: its sockets and
// its memory. So they are counted per node, in every mode, exactly, in this process: taken when a
// poll is admitted, given back once when it ends, with no Redis round trip and nothing left behind
// if a node dies. The trade: behind a balancer that spreads one IP over N nodes, that IP may hold
// up to N times MAX_POLLS_PER_IP polls in all.
import { channels, Origin, type LimitName } from '../core/channels.js';
import { errors } from '../errors.js';
import { addressBlock } from './address-block.js';
import type { Counter, CounterFactory } from './counters.js';
import { defaults } from '../defaults.js';

export interface LimitSettings {
  /** Sessions one client IP may mint per minute. */
  sessionsPerIpPerMinute: number;
  /** QR images one client IP may have rendered per minute (rendering costs CPU). */
  qrPerIpPerMinute: number;
  /** Polls one client IP may have in flight at once on this node. */
  pollsPerIp: number;
  /** Polls this node holds at most; beyond it, new polls are refused `node_full` (admission control). */
  pollsPerNode: number;
  /** Wrong poll tokens (and polls for unknown keys) one client IP may send per minute. */
  tokenFailuresPerIpPerMinute: number;
}

export class Limits {
  readonly #settings: LimitSettings;
  readonly #sessions: Counter;
  readonly #qr: Counter;
  /** Polls in flight on this node per address block; a block with none has no entry. */
  readonly #polls = new Map<string, number>();
  readonly #misses: Counter;
  readonly #origin: Origin;

  /**
   * `counters` makes the rate counters (in memory, or shared by the nodes in Redis); a refusal is
   * published as `origin`'s (qrelay:limit.hit).
   */
  constructor(settings: LimitSettings, counters: CounterFactory, origin = new Origin()) {
    this.#settings = settings;
    this.#origin = origin;
    this.#sessions = counters('sessions', settings.sessionsPerIpPerMinute, 60);
    this.#qr = counters('qr', settings.qrPerIpPerMinute, 60);
    this.#misses = counters('token-failures', settings.tokenFailuresPerIpPerMinute, 60);
  }

  /** Throws `rate_limited` when `ip` minted too many sessions this minute. */
  admitSession(ip: string): Promise<void> {
    return this.#take(this.#sessions, addressBlock(ip), 'sessions_per_ip', 'too many sessions from this address; retry later');
  }

  /** Throws `rate_limited` when `ip` had too many QR images rendered this minute. */
  admitQr(ip: string): Promise<void> {
    return this.#take(this.#qr, addressBlock(ip), 'qr_per_ip', 'too many QR images for this address; retry later');
  }

  /**
   * Admits a poll from `address` while this node holds `heldHere` polls; returns the release to call
   * when the poll ends (calls after the first do nothing). Throws `node_full` when the node is full,
   * `rate_limited` when the address has as many polls in flight here as it may.
   */
  admitPoll(address: string, heldHere: number): () => void {
    if (heldHere >= this.#settings.pollsPerNode) {
      this.#hit('polls_per_node');
      throw errors.nodeFull();
    }
    const ip = addressBlock(address);
    const held = this.#polls.get(ip) ?? 0;
    if (held >= this.#settings.pollsPerIp) {
      this.#hit('polls_per_ip');
      // A slot frees as soon as one of this address's polls ends, which may be any moment.
      throw errors.rateLimited('too many polls in flight from this address', defaults.pollsPerIpRetryInMs);
    }
    this.#polls.set(ip, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.#polls.get(ip)! - 1;
      if (left === 0) this.#polls.delete(ip);
      else this.#polls.set(ip, left);
    };
  }

  /**
   * Counts a poll from `address` that found no session. Throws `rate_limited` for a wrong token
   * once the address has sent more than it may this minute; an unknown key is never refused.
   */
  pollMissed(address: string, wrongToken: boolean): Promise<void> {
    return this.#misses.take(addressBlock(address)).then((taken) => {
      if (taken.ok || !wrongToken) return;
      this.#hit('token_failures');
      throw errors.rateLimited('too many wrong poll tokens from this address; retry later', taken.retryAfterMs);
    });
  }

  #hit(limit: LimitName): void {
    if (channels.limitHit.hasSubscribers) channels.limitHit.publish({ origin: this.#origin, limit });
  }

  #take(counter: Counter, id: string, name: LimitName, message: string): Promise<void> {
    return counter.take(id).then((taken) => {
      if (taken.ok) return;
      this.#hit(name);
      throw errors.rateLimited(message, taken.retryAfterMs);
    });
  }
}
