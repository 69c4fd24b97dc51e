// The tunables that are not settings: figures the code is built around, which an operator has no
// reason to change, in one frozen object, each with its unit in its name. What an operator may
// change is a setting, read and checked in config.ts, never here.
export const defaults = Object.freeze({
  /** How long a final status being handed to a poll is leased before another poll may take it. */
  handOutLeaseMs: 5_000,
  /** Waits between attempts to record a hand-out (the last one repeats until the lease ends). */
  handOutRecordBackoffMs: Object.freeze([25, 50, 100, 200, 400, 800]),
  /** Retry-After of a hand-out that a retry found still being written elsewhere. */
  handOutRetryInMs: 1_000,
  /** Extra lifetime of a route claim beyond its poll's hold, so the claim outlives the poll. */
  routeMarginMs: 5_000,
  /** Retry-After of a poll refused because its address has as many in flight as it may. */
  pollsPerIpRetryInMs: 1_000,

  /** Largest request body on either listener (and so of a forward to another node). */
  bodyLimitBytes: 16 * 1024,
  /** The tick that times out request bodies still arriving: one, coarse, unref'd. */
  bodySweepMs: 25,
  /** Browsers reuse a connection from poll to poll: longer than a balancer's usual 60 s idle. */
  serverKeepAliveMs: 65_000,

  /** How long start-up waits for Redis before starting anyway (not ready, recovering by itself). */
  redisStartWaitMs: 5_000,
  /** A Redis command not answered within this is failed (Redis hung or partitioned). */
  redisCommandTimeoutMs: 2_000,
  redisConnectTimeoutMs: 2_000,
  /** Reconnection to Redis waits this much more at each attempt, up to redisReconnectMaxMs. */
  redisReconnectStepMs: 100,
  redisReconnectMaxMs: 1_000,
  /** How long a lasting change waits for its replicas when the store is given no figure. */
  redisReplicaWaitMs: 250,
  /** How often RedisStore.ready() looks whether the connection is up. */
  redisReadyCheckMs: 25,
  /** How often the in-memory store forgets sessions past their grace. */
  memorySweepEveryMs: 1_000,

  /** Idle connections to another node are kept this long. */
  relayKeepAliveMs: 60_000,
  /** Connections at most to each other node. */
  relayConnections: 128,
  /** A holder answers a few bytes per change; a larger answer is not read to its end. */
  forwardAnswerLimitBytes: 64 * 1024,
  /** Seal nonces remembered at most: past this a seal is refused rather than one forgotten. */
  sealNoncesMax: 1_000_000,

  /** Log lines are handed to SonicBoom once this many bytes are waiting... */
  logBatchBytes: 32 * 1024,
  /** ...or once the oldest has waited this long. */
  logFlushEveryMs: 100,
  /** The shutdown watchdog's grace beyond DRAIN_MS + SHUTDOWN_TIMEOUT_MS before it forces exit. */
  shutdownWatchdogMarginMs: 3_000,
});
