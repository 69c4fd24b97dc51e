// Every Redis key qrelay writes is built here. All keys of one session share the hash tag
// `{<key>}`, so every operation on a session stays in one slot of a Redis Cluster and a Lua script
// may touch them together.
//
//   <prefix>:{<key>}:s   hash: the session (fields below), expires at expiresAt + grace
//   <prefix>:{<key>}:r   hash: private address of each node holding a poll -> end of its claim (ms);
//                        expires with the latest claim
//   <prefix>:{<key>}:k   hash: the one-time ticket of the session's `confirmed` hand-out: `h` its
//                        hash, a copy of the session's a, d, ip, ua, al, c, ca (named as in F)
//                        until it is redeemed, then `r` = '1'; expires TICKET_TTL_MS after that
//                        hand-out
export interface SessionKeys {
  readonly session: string;
  readonly route: string;
  readonly ticket: string;
}

export const sessionKeys = (prefix: string, key: string): SessionKeys => ({
  session: `${prefix}:{${key}}:s`,
  route: `${prefix}:{${key}}:r`,
  ticket: `${prefix}:{${key}}:k`,
});

/** Hash fields of a stored session; short names, since every session stores them. */
export const F = {
  tokenHash: 't',
  status: 's',
  version: 'v',
  expiresAt: 'e',
  ip: 'ip',
  userAgent: 'ua',
  acceptLanguage: 'al',
  createdAt: 'c',
  actor: 'a',
  data: 'd',
  /** '1' once delivered for good, else the end of the hand-out lease (epoch ms), while leased. */
  delivered: 'dl',
  /** The id of the hand-out lease in `dl` (a separate field, so `dl` reads as it always did). */
  leasedBy: 'lb',
  /** When the session became confirmed (epoch ms). */
  confirmedAt: 'ca',
} as const;

