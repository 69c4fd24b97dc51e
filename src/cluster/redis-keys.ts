// Every Redis key qrelay writes is built here. All keys of one session share the hash tag
// `{<key>}`, so every operation on a session stays in one slot of a Redis Cluster and a Lua script
// may touch them together.
//
//   <prefix>:{<key>}:s   hash: the session (fields below), expires at expiresAt + grace
//   <prefix>:{<key>}:r   hash: private address of each node holding a poll -> end of its claim (ms);
//                        expires with the latest claim
export interface SessionKeys {
  readonly session: string;
  readonly route: string;
}

export const sessionKeys = (prefix: string, key: string): SessionKeys => ({
  session: `${prefix}:{${key}}:s`,
  route: `${prefix}:{${key}}:r`,
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
} as const;
