// Wire-format schemas for both listeners, and the one function that turns a schema failure into
// a catalogued 400 naming the offending field (`invalid_since`, `invalid_data`, ...).
import querystring from 'node:querystring';
import { z } from 'zod';
import { errors, invalidField, type ErrorCode, type QrelayError } from '../errors.js';
import { KEY_PATTERN, TICKET_PATTERN } from '../core/secrets.js';
import { ACTOR_RULE, DATA_MAX_DEPTH, SETTABLE_STATUSES, type SettableStatus } from '../core/session.js';

const isSettable = (status: string): status is SettableStatus => (SETTABLE_STATUSES as readonly string[]).includes(status);
const needsActor = (status: SettableStatus): boolean => ACTOR_RULE.requiredFor.includes(status);

export const key = z
  .string({ error: 'is required, once, as a 22-character base64url session key' })
  .regex(KEY_PATTERN, { error: 'must be a 22-character base64url session key' });

const wholeNumber = (what: string) =>
  z
    .string({ error: `must be given once, as ${what}` })
    .regex(/^\d{1,15}$/, { error: `must be ${what}` })
    .transform(Number);

export const pollQuery = z.object({
  key,
  since: wholeNumber('a whole number of 0 or more').optional(),
  wait: wholeNumber('a whole number of milliseconds').optional(),
});

export const keyQuery = z.object({ key });

/**
 * POST /status/set's query: the session's key may be given there, so that a balancer routes the
 * set to the node its polls go to (deploy/nginx/qrelay.conf hashes both on `$arg_key`) and the wake
 * is local.
 */
export const setQuery = z.object({ key: key.optional() });

/**
 * Whether `value` nests objects and arrays at most `max` levels deep. Walked with a stack of its
 * own, not by recursion: a 16 KiB body can nest thousands of levels, which overflows the call stack
 * of any recursive walk (JSON.stringify's, when data is measured or stored) into a 500.
 */
export function nestsAtMost(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return false;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return true;
}

export const jsonObject = z
  .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
  .refine((v) => nestsAtMost(v, DATA_MAX_DEPTH), { error: `must be nested at most ${DATA_MAX_DEPTH} levels deep` });
export const version = z
  .number({ error: 'must be a whole number of 0 or more' })
  .int({ error: 'must be a whole number of 0 or more' })
  .min(0, { error: 'must be a whole number of 0 or more' })
  .max(Number.MAX_SAFE_INTEGER, { error: 'is too large' });

export const setBody = z.strictObject(
  {
    // Optional here: the route takes it from the query when the body has none (setKey).
    key: key.optional().meta({ description: 'The session key; may be left out when the query names it (`?key=`).' }),
    status: z.enum(SETTABLE_STATUSES, { error: `must be one of ${SETTABLE_STATUSES.join(', ')}` }),
    actor: z
      .string({ error: 'must be a string' })
      .min(1, { error: 'must not be empty' })
      .max(ACTOR_RULE.maxLength, { error: `must be at most ${ACTOR_RULE.maxLength} characters` })
      .optional(),
    data: jsonObject.optional(),
    ifVersion: version.optional(),
  },
  { error: 'must be a JSON object' },
)
  .refine((b) => b.actor !== undefined || !needsActor(b.status), {
    // The actor who scans is bound to the session; confirming or cancelling it must name them.
    path: ['actor'],
    error: `is required when the status is ${ACTOR_RULE.requiredFor.join(' or ')}`,
  })
  // The refine above in JSON Schema, which zod cannot derive from a function (for openapi.ts).
  .meta({ if: { properties: { status: { enum: [...ACTOR_RULE.requiredFor] } }, required: ['status'] }, then: { required: ['actor'] } });

export const ticketBody = z.strictObject(
  {
    ticket: z
      .string({ error: 'is required, as the string the confirmed poll answer carried' })
      .regex(TICKET_PATTERN, { error: 'must be a 65-character base64url ticket' }),
  },
  { error: 'must be a JSON object' },
);

/**
 * Every code parseOr400 can answer for `schema`: `invalid_<field>` for each field, and for a JSON
 * body (a strict object) `invalid_body` when it is not an object at all and `unknown_field`.
 */
export function refusalCodes(schema: z.ZodObject, as: 'query' | 'body'): ErrorCode[] {
  const fields = Object.keys(schema.shape).map((field) => invalidField(field, '').code);
  return as === 'query' ? fields : [...fields, invalidField('body', '').code, 'unknown_field'];
}

/** Parses `input` with `schema` or throws a 400 naming the first offending field. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw issueError(result.error.issues[0]);
}

function issueError(issue: z.core.$ZodIssue | undefined): QrelayError {
  if (issue === undefined) return invalidField('body', 'is invalid');
  // In a batch the path starts with the change's index: the code names the field all the same,
  // and the message the change.
  const [first, ...rest] = issue.path;
  const at = typeof first === 'number' ? first : undefined;
  if (issue.code === 'unrecognized_keys') {
    return errors.unknownField(issue.keys[0] ?? 'body', at === undefined ? '' : ` (change ${at})`);
  }
  const path = at === undefined ? issue.path : rest;
  const field = path.length > 0 ? String(path[0]) : 'body';
  return invalidField(field, at === undefined ? issue.message : `${issue.message} (change ${at})`);
}

// Fast paths for the hot routes' commonest well-formed inputs, checked by hand. Each either answers
// exactly what zod's parse would, or declines (undefined) and zod parses as before, so every
// refusal, its code and its message are still zod's (test/unit/validation-fast-paths.test.ts
// holds both to the same answers).

export type PollQuery = z.output<typeof pollQuery>;
export type SetBody = z.output<typeof setBody>;

/** `key=<key>[&since=<n>][&wait=<n>]`, nothing escaped, nothing repeated. */
const PLAIN_POLL_QUERY = /^key=([A-Za-z0-9_-]{22})(?:&since=(\d{1,15}))?(?:&wait=(\d{1,15}))?$/;

/** A plain poll query string as pollQuery parses it, or undefined. */
export function plainPollQuery(search: string): PollQuery | undefined {
  const m = PLAIN_POLL_QUERY.exec(search);
  if (m === null) return undefined;
  const [, key, since, wait] = m;
  const query: { key: string; since?: number; wait?: number } = { key: key! };
  if (since !== undefined) query.since = Number(since);
  if (wait !== undefined) query.wait = Number(wait);
  return query;
}

/**
 * A set body of status, actor and (optionally) key, no data, no ifVersion, as setBody parses it, or
 * undefined.
 */
export function plainSetBody(input: unknown): SetBody | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
  const body = input as Record<string, unknown>;
  for (const field in body) if (field !== 'key' && field !== 'status' && field !== 'actor') return undefined;
  const { key, status, actor } = body;
  let keyed: { key?: string } = {};
  if (typeof key === 'string' && KEY_PATTERN.test(key)) keyed = { key };
  else if ('key' in body) return undefined;
  if (typeof status !== 'string' || !isSettable(status)) return undefined;
  if (actor === undefined) return !needsActor(status) && !('actor' in body) ? { ...keyed, status } : undefined;
  if (typeof actor !== 'string' || actor.length < 1 || actor.length > ACTOR_RULE.maxLength) return undefined;
  return { ...keyed, status, actor };
}

/** `key=<key>` and nothing else: the query a balancer-routed set carries. */
const PLAIN_KEY_QUERY = /^key=([A-Za-z0-9_-]{22})$/;

/**
 * The session a POST /status/set names: its query's `key`, its body's, or both when they are the
 * same (`400 key_mismatch` when not: a balancer routed the set by one, the store would change the
 * other); `400 invalid_key` when neither names one.
 */
export function setKey(search: string, bodyKey: string | undefined): string {
  const inQuery = search === '' ? undefined : (PLAIN_KEY_QUERY.exec(search)?.[1] ?? parseOr400(setQuery, querystring.parse(search)).key);
  if (inQuery !== undefined && bodyKey !== undefined && inQuery !== bodyKey) throw errors.keyMismatch();
  const named = inQuery ?? bodyKey;
  if (named === undefined) throw invalidField('key', 'is required, in the body or as ?key=, as a 22-character base64url session key');
  return named;
}
