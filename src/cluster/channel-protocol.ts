// The node-to-node protocol: how a node hands a change to the node holding its poll, in one
// module for both ends (cluster/http-relay.ts sends, http/private-app.ts receives).
//
//   POST /channel/set
//   X-Qrelay-Protocol: 1
//   X-Qrelay-Seal: v1 t=...,n=...,node=...,sig=...     (change-seal.ts, the seal's home)
//   Content-Type: application/json
//   <one change> | [<change>, ...]                      (at most CHANNEL_BATCH_MAX, CHANNEL_BODY_LIMIT_BYTES)
//   -> 200 {"delivered": true | false | [true | false, ...]}
//
// The holder checks the seal first, so that nothing about the protocol answers a caller who is
// not a node of the cluster, then the protocol version: a node speaking another version (a
// rolling upgrade that changes this protocol) is refused `400 unsupported_protocol` whole, and its
// forward fails (the poll learns of the change on its next request), rather than a holder
// guessing at a body it may read differently. A change in what a forward says or how it is
// answered is a new PROTOCOL_VERSION.
import { z } from 'zod';
import { errors } from '../errors.js';
import { KEY_PATTERN } from '../core/secrets.js';
import { DATA_MAX_DEPTH, SESSION_STATUSES, type SessionStatus } from '../core/session.js';
import { defaults } from '../defaults.js';
import { jsonObject, key, nestsAtMost, parseOr400, version } from '../http/validation.js';

export const CHANNEL_PATH = '/channel/set';

/** The request header naming the protocol version a forward speaks. */
export const PROTOCOL_HEADER = 'x-qrelay-protocol';
export const PROTOCOL_VERSION = '1';

/** Most changes one POST /channel/set carries. */
export const CHANNEL_BATCH_MAX = 100;
/** Largest body of one POST /channel/set: what the holder reads of any request. */
export const CHANNEL_BODY_LIMIT_BYTES = defaults.bodyLimitBytes;

/** Refuses (400 unsupported_protocol) a forward that does not name this node's protocol version. */
export function checkProtocol(presented: string | string[] | undefined): void {
  if (presented !== PROTOCOL_VERSION) throw errors.unsupportedProtocol(PROTOCOL_VERSION);
}

/** One forwarded change: the session's view as the sender's store answered it (still only a claim). */
export const channelBody = z.strictObject(
  {
    key,
    status: z.enum(SESSION_STATUSES, { error: 'must be a session status' }),
    version,
    expiresAt: version,
    data: jsonObject.optional(),
  },
  { error: 'must be a JSON object' },
);

const CHANGE_FIELDS = new Set(['key', 'status', 'version', 'expiresAt', 'data']);
const isWholeNumber = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * A forwarded change that channelBody accepts, checked without zod: the common case, a change
 * another node has just sealed. Anything else is undefined, and channelBody then names what is wrong.
 */
function wellFormedChange(value: unknown): z.output<typeof channelBody> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const c = value as Record<string, unknown>;
  for (const field in c) if (!CHANGE_FIELDS.has(field)) return undefined;
  const { key, status, version, expiresAt, data } = c;
  if (typeof key !== 'string' || !KEY_PATTERN.test(key)) return undefined;
  if (typeof status !== 'string' || !(SESSION_STATUSES as readonly string[]).includes(status)) return undefined;
  if (!isWholeNumber(version) || !isWholeNumber(expiresAt)) return undefined;
  if (data === undefined) return { key, status: status as SessionStatus, version, expiresAt };
  if (typeof data !== 'object' || data === null || Object.getPrototypeOf(data) !== Object.prototype || !nestsAtMost(data, DATA_MAX_DEPTH)) {
    return undefined;
  }
  return { key, status: status as SessionStatus, version, expiresAt, data: data as Record<string, unknown> };
}

/** POST /channel/set's body: one change, or a batch of them; a 400 naming the first fault otherwise. */
export function parseChannel(body: unknown): z.output<typeof channelBody> | Array<z.output<typeof channelBody>> {
  if (!Array.isArray(body)) return wellFormedChange(body) ?? parseOr400(channelBody, body);
  if (body.length >= 1 && body.length <= CHANNEL_BATCH_MAX) {
    const changes = [];
    for (const item of body) {
      const change = wellFormedChange(item);
      if (change === undefined) return parseOr400(channelBatch, body);
      changes.push(change);
    }
    return changes;
  }
  return parseOr400(channelBatch, body);
}

/** Several changes for polls held on one node, forwarded in one request; each is a channelBody. */
export const channelBatch = z
  .array(channelBody, { error: 'must be a JSON object or an array of them' })
  .min(1, { error: `must hold 1 to ${CHANNEL_BATCH_MAX} changes` })
  .max(CHANNEL_BATCH_MAX, { error: `must hold 1 to ${CHANNEL_BATCH_MAX} changes` });

/**
 * POST /channel/set's body as the document describes it: one change, or a batch of them. The
 * route parses with channelBody or channelBatch by the body's shape, so that a malformed field is
 * named (a union's failure names none).
 */
export const channelRequest = z.union([channelBody, channelBatch]);
