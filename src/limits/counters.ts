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

/** A Counter over a rate-limiter-flexible limiter. */
export function limiterCounter(limiter: RateLimiterAbstract): Counter {
  return {
    async take(id) {
      try {
        await limiter.consume(id, 1);
        return { ok: true };
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) return { ok: true }; // the counter's store failed: fail open
        return { ok: false, retryAfterMs: err.msBeforeNext };
      }
    },
  };
}

/** Counters in this process's memory. */
export const memoryCounters: CounterFactory = (name, points, durationS) =>
  limiterCounter(new RateLimiterMemory({ keyPrefix: name, points, duration: durationS }));
