// The counters behind the rate limits. Limits (the policy) decides what is counted and what is
// refused; a counter only counts points per window, in memory (one node) or in Redis (shared by
// every node; see cluster/redis-counters.ts).
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

/** The outcome of taking a point: taken, or refused until `retryAfterMs` has passed. */
export type Take = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/** Points per id per window. */
export interface Counter {
  /** Takes a point for `id`. A counter whose store fails lets the request through (fail open). */
  take(id: string): Promise<Take>;
}

/** Makes the counter named `name`: `points` per id per `durationS` seconds. */
export type CounterFactory = (name: string, points: number, durationS: number) => Counter;

const TAKEN: Take = Object.freeze({ ok: true });
const taken = (): Take => TAKEN;
/** A refusal, or (the counter's store failed) a point taken: fail open. */
const refused = (err: unknown): Take => (err instanceof RateLimiterRes ? { ok: false, retryAfterMs: err.msBeforeNext } : TAKEN);

/** A Counter over a rate-limiter-flexible limiter. */
export function limiterCounter(limiter: RateLimiterAbstract): Counter {
  return {
    take: (id) => limiter.consume(id, 1).then(taken, refused),
  };
}

/** Counters in this process's memory. */
export const memoryCounters: CounterFactory = (name, points, durationS) =>
  limiterCounter(new RateLimiterMemory({ keyPrefix: name, points, duration: durationS }));
