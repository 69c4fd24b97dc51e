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
//   <prefix>:limit:<name>:<id>   a limit's counter (rate-limiter-flexible), expiring with its window
//
// The Lua scripts name fields as '@name' (F) and '@T.name' (T), statuses as '@S.name', and their
// replies as '@V.name' (V); luaScript() puts the names in, so a field's name is written here and
// nowhere else. A script's `--@rules` line becomes the session's rules (core/session.ts) as Lua
// tables, on that one line, so no script spells a status list, a transition or a refusal by hand.
import { ACTOR_RULE, FINAL_STATUSES, REFUSAL_CODES, SESSION_STATUSES, TRANSITIONS, type RefusalCode, type SessionStatus } from '../core/session.js';

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

/** The fields of the session a ticket carries a copy of until it is redeemed (begin-hand-out.lua). */
export const TICKET_COPY = [F.actor, F.data, F.ip, F.userAgent, F.acceptLanguage, F.createdAt, F.confirmedAt] as const;

/** Hash fields of a ticket of its own (the rest are named as in F). */
export const T = {
  hash: 'h',
  redeemed: 'r',
} as const;

/**
 * In the route hash, the field `<holder> + ROUTE_SINCE_SUFFIX` keeps the `since` of that holder's
 * poll (poll.lua); every other field is a claim.
 */
export const ROUTE_SINCE_SUFFIX = ' since';

/**
 * What the scripts answer, as the first element of their reply: a transition's refusals are their
 * catalogue codes (core/session.ts), the rest are named here. 'final' and 'back' are what
 * settle-redemption.lua is asked to do.
 */
export const V = {
  ok: 'ok',
  missing: 'missing',
  token: 'token',
  delivered: 'delivered',
  changed: 'changed',
  busy: 'busy',
  unknown: 'unknown',
  redeemed: 'redeemed',
  final: 'final',
  back: 'back',
  ...(Object.fromEntries(REFUSAL_CODES.map((code) => [code, code])) as { readonly [C in RefusalCode]: C }),
} as const;

const STATUS_NAMES: Readonly<Record<string, SessionStatus>> = Object.fromEntries(SESSION_STATUSES.map((s) => [s, s]));
const NAMESPACES: Readonly<Record<string, Readonly<Record<string, string>>>> = { '': F, 'T.': T, 'S.': STATUS_NAMES, 'V.': V };

const luaString = (s: string): string => `'${s}'`;
const luaSet = (items: readonly string[]): string => `{${items.map((i) => `[${luaString(i)}] = true`).join(', ')}}`;

/**
 * The session's rules as Lua locals, on one line: FINAL (a set of statuses), ALLOWED (status ->
 * set of statuses it may become), the actor rule, the route's SINCE suffix and the fields a
 * ticket copies (TICKET_COPY, a list).
 */
function luaRules(): string {
  const allowed = SESSION_STATUSES.map((s) => `[${luaString(s)}] = ${luaSet(TRANSITIONS[s])}`).join(', ');
  return [
    `local FINAL = ${luaSet(FINAL_STATUSES)}`,
    `local ALLOWED = {${allowed}}`,
    `local ACTOR_RECORDED_LEAVING, ACTOR_CHECKED_LEAVING = ${luaString(ACTOR_RULE.recordedLeaving)}, ${luaString(ACTOR_RULE.checkedLeaving)}`,
    `local SINCE = ${luaString(ROUTE_SINCE_SUFFIX)}`,
    `local TICKET_COPY = {${TICKET_COPY.map(luaString).join(', ')}}`,
  ].join('; ');
}

/**
 * A Lua script's source with every '@name', '@T.name', '@S.name' and '@V.name' replaced by what it
 * names, and its `--@rules` line by luaRules().
 */
export function luaScript(source: string): string {
  return source
    .replace(/^--@rules$/m, () => luaRules())
    .replace(/'@([TSV]\.)?([A-Za-z_]+)'/g, (_match, space: string | undefined, name: string) => {
      const names = NAMESPACES[space ?? '']!;
      const value = Object.hasOwn(names, name) ? names[name] : undefined;
      if (value === undefined) throw new Error(`Lua script names an unknown ${space === undefined || space === 'T.' ? 'field' : 'name'} '@${space ?? ''}${name}'`);
      return luaString(value);
    });
}

