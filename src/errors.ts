// The error catalog. Every failure a client can see is a QrelayError with a stable string `code`,
// the reason (callers and tests match on it, never on message text), a message, and the details
// its reason carries. It says nothing of HTTP: the HTTP layer maps each code to a status (and a
// Retry-After) in one table, http/statuses.ts, and answers any of them as
// {"error": {"code", "message"}}.

/** Every code of the catalog but the family of malformed fields (FieldCode). */
export type CatalogCode =
  | 'invalid_json'
  | 'empty_body'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'data_too_large'
  | 'body_timeout'
  | 'bad_request'
  | 'unknown_field'
  | 'key_mismatch'
  | 'not_found'
  | 'no_route'
  | 'method_not_allowed'
  | 'already_delivered'
  | 'hand_out_in_progress'
  | 'already_redeemed'
  | 'session_expired'
  | 'invalid_transition'
  | 'actor_mismatch'
  | 'version_mismatch'
  | 'cross_site'
  | 'unauthorized'
  | 'missing_token'
  | 'invalid_seal'
  | 'unsupported_protocol'
  | 'store_unavailable'
  | 'not_ready'
  | 'shutting_down'
  | 'rate_limited'
  | 'node_full'
  | 'sessions_full'
  | 'internal_error';

/** One malformed input: `invalid_<field>`, naming the field (`invalid_since`, `invalid_if_version`). */
export type FieldCode = `invalid_${string}`;

export type ErrorCode = CatalogCode | FieldCode;

export interface ErrorDetails {
  /** How long until a retry may succeed, ms: a limit's window, a hand-out's lease. */
  readonly retryInMs?: number;
  /** The methods the path does answer (`method_not_allowed`), for the Allow header. */
  readonly allow?: string;
}

export class QrelayError extends Error {
  override readonly name = 'QrelayError';
  readonly details: ErrorDetails;

  constructor(
    readonly code: ErrorCode,
    message: string,
    { cause, ...details }: ErrorDetails & { readonly cause?: unknown } = {},
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.details = details;
  }
}

const snake = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** One malformed input; the code names the field (`invalid_since`, `invalid_if_version`). */
export const invalidField = (field: string, message: string): QrelayError =>
  new QrelayError(`invalid_${snake(field)}`, `${field}: ${message}`);

export const errors = {
  invalidJson: (cause?: unknown) => new QrelayError('invalid_json', 'the request body is not valid JSON', { cause }),
  emptyBody: () => new QrelayError('empty_body', 'the request body is empty: send a JSON object'),
  unsupportedMediaType: (detail = 'the request body must be application/json') => new QrelayError('unsupported_media_type', detail),
  payloadTooLarge: (limit: string) => new QrelayError('payload_too_large', `the request body is larger than ${limit}`),
  dataTooLarge: (limitBytes: number) =>
    new QrelayError('data_too_large', `data: its JSON encoding is larger than ${limitBytes} bytes`),
  bodyTimeout: (timeoutMs: number) => new QrelayError('body_timeout', `the request body did not arrive within ${timeoutMs} ms`),
  /** A request a library refused before we saw it; `cause` is the library's error. */
  badRequest: (message: string, cause?: unknown) => new QrelayError('bad_request', message, { cause }),
  unknownField: (field: string, where = '') => new QrelayError('unknown_field', `${field}: is not a known field${where}`),
  keyMismatch: () => new QrelayError('key_mismatch', 'key: the query and the body name different sessions'),

  /** Unknown key and wrong poll token must be indistinguishable: one body for both. */
  sessionNotFound: () => new QrelayError('not_found', 'no such session'),
  /** A poll without a well-formed poll token: refused before the key is looked at. */
  missingToken: () => new QrelayError('missing_token', 'a poll needs an Authorization: Bearer <pollToken> header with the pollToken of POST /status/new'),
  noRoute: (method: string, path: string) => new QrelayError('no_route', `no route for ${method} ${path}`),
  methodNotAllowed: (method: string, path: string, allow: string) =>
    new QrelayError('method_not_allowed', `${path} does not answer ${method}; it answers ${allow}`, { allow }),
  alreadyDelivered: () => new QrelayError('already_delivered', 'the final status of this session was already delivered'),
  handOutInProgress: (busyMs: number) =>
    new QrelayError('hand_out_in_progress', 'the final status is being handed to another poll; retry shortly', { retryInMs: busyMs }),
  alreadyRedeemed: () => new QrelayError('already_redeemed', 'this ticket was already redeemed'),
  ticketNotFound: () => new QrelayError('not_found', 'no such ticket, or it has lapsed'),
  sessionExpired: () => new QrelayError('session_expired', 'the session has expired'),

  invalidTransition: (from: string, to: string) => new QrelayError('invalid_transition', `a ${from} session cannot become ${to}`),
  actorMismatch: () => new QrelayError('actor_mismatch', 'the session was scanned by another actor'),
  versionMismatch: (expected: number, actual: number) =>
    new QrelayError('version_mismatch', `ifVersion is ${expected} but the session is at version ${actual}`),

  crossSite: () =>
    new QrelayError('cross_site', "sessions are minted only from this service's own pages or an origin in CORS_ORIGINS"),
  unauthorized: () => new QrelayError('unauthorized', 'a valid Authorization: Bearer <INTERNAL_TOKEN> header is required'),
  /** Which check failed (format, time, signature, nonce) is not said: a forger learns nothing. */
  invalidSeal: () =>
    new QrelayError('invalid_seal', 'a request from another node must carry a fresh X-Qrelay-Seal, never used before, made by a node of this cluster'),
  /** A sealed request from a node that speaks another version of the node-to-node protocol. */
  unsupportedProtocol: (version: string) =>
    new QrelayError('unsupported_protocol', `this node speaks node-to-node protocol ${version} only: send X-Qrelay-Protocol: ${version}`),
  storeUnavailable: (cause?: unknown) => new QrelayError('store_unavailable', 'the session store is unreachable; retry shortly', { cause }),
  /** GET /readyz: the store does not answer, so a balancer should send no traffic here. */
  notReady: (cause?: unknown) => new QrelayError('not_ready', 'the session store is unreachable', { cause }),
  shuttingDown: () => new QrelayError('shutting_down', 'this node is shutting down; retry on another node'),
  /** A limit refused the request; a retry may succeed after `retryInMs`. */
  rateLimited: (message: string, retryInMs: number) => new QrelayError('rate_limited', message, { retryInMs }),
  nodeFull: () => new QrelayError('node_full', 'this node holds as many polls as it may; retry on another node'),
  sessionsFull: () => new QrelayError('sessions_full', 'this node keeps as many sessions as it may; retry shortly or on another node'),
  internal: (cause?: unknown) => new QrelayError('internal_error', 'internal error', { cause }),
} as const;
