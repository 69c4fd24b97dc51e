// The limits' counters in Redis (rate-limiter-flexible), shared by every node, under the keys
// redis-keys.ts names. While Redis is unreachable each falls back to a per-node memory counter.
// `held` is called before each command is sent: the store holds the connection's writes to the end
// of the turn (redis-store.ts, WriteBatch), so a counter's command leaves with the others.
import type { Cluster, Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { limiterCounter, type CounterFactory } from '../limits/counters.js';
import { limitKeyPrefix } from './redis-keys.js';

export function redisCounters(client: Redis | Cluster, prefix: string, held: () => void): CounterFactory {
  return (name, points, durationS) => {
    const counter = limiterCounter(
      new RateLimiterRedis({
        storeClient: client,
        keyPrefix: limitKeyPrefix(prefix, name),
        points,
        duration: durationS,
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: durationS }),
      }),
    );
    return {
      take: (id) => {
        held();
        return counter.take(id);
      },
    };
  };
}
