// Every Redis key qrelay writes is built here. All keys of one session share the hash tag
// `{<key>}`, so every operation on a session stays in one slot of a Redis Cluster and a Lua script
// may touch them together.
//
//   <prefix>:{<key>}:s   hash: the session (fields below), expires at expiresAt + grace
//   <prefix>:{<key>}:r   hash: private address of each node holding a poll -> end of its claim (ms),
//                        and '<address> since' -> the `since` that poll asked with (poll.lua);
//                        expires with the latest claim
//   <prefix>:{<key>}:k   hash: the one-time ticket of the session's `confirmed` hand-out: its hash
//                        (T), a copy of the session's actor, data, client fields and confirmedAt
//                        (named as in F) until it is redeemed, then T.redeemed = '1'; expires
//                        TICKET_TTL_MS after that hand-out
//
// The Lua scripts name fields as '@name' (F) and '@T.name' (T); luaScript() puts the names in,
// so a field's name is written here and nowhere else.
//   <prefix>:limit:<name>:<id>   a limit's counter (rate-limiter-flexible), expiring with its window

/** The prefix of limit `name`'s counters; rate-limiter-flexible adds `:<id>`. */
export const limitKeyPrefix = (prefix: string, name: string): string => `${prefix}:limit:${name}`;

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
  /** SHA-1 of the change that made this version (changeDigest() in src/core/session.ts). */
  changeDigest: 'cd',
} as const;

/** Hash fields of a ticket of its own (the rest are named as in F). */
export const T = {
  hash: 'h',
  redeemed: 'r',
} as const;

/** A Lua script's source with every '@name' and '@T.name' replaced by that field's name. */
export function luaScript(source: string): string {
  return source.replace(/'@(T\.)?([A-Za-z]+)'/g, (_match, ticket: string | undefined, name: string) => {
    const fields: Record<string, string> = ticket === undefined ? F : T;
    const field = fields[name];
    if (field === undefined) throw new Error(`Lua script names an unknown field '@${ticket ?? ''}${name}'`);
    return `'${field}'`;
  });
}

