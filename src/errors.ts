// The error catalog. Every failure a client can see is a QrelayError with a stable string `code`
// (callers and tests match on it, never on message text), an HTTP status, and optionally a
// Retry-After. The HTTP error handler turns any of them into {"error": {"code", "message"}}.

export interface QrelayErrorOptions {
  cause?: unknown;
  /** Seconds the client should wait before retrying (sent as Retry-After). */
  retryAfterS?: number;
}

export class QrelayError extends Error {
  override readonly name = 'QrelayError';
  readonly retryAfterS: number | undefined;

  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    options: QrelayErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterS = options.retryAfterS;
  }
}

const snake = (field: string): string => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** 400 for one malformed input; the code names the field (`invalid_since`, `invalid_if_version`). */
export const invalidField = (field: string, message: string): QrelayError =>
  new QrelayError(`invalid_${snake(field)}`, 400, `${field}: ${message}`);

export const errors = {
  invalidJson: (cause?: unknown) =>
    new QrelayError('invalid_json', 400, 'the request body is not valid JSON', { cause }),
  unsupportedMediaType: (detail = 'the request body must be application/json') =>
    new QrelayError('unsupported_media_type', 415, detail),
  payloadTooLarge: (limit: string) =>
    new QrelayError('payload_too_large', 413, `the request body is larger than ${limit}`),
  dataTooLarge: (limitBytes: number) =>
    new QrelayError('data_too_large', 413, `data: its JSON encoding is larger than ${limitBytes} bytes`),
  bodyTimeout: (timeoutMs: number) =>
    new QrelayError('body_timeout', 408, `the request body did not arrive within ${timeoutMs} ms`),
  /** A request a library refused before we saw it (a 4xx status of its own): its status kept. */
  badRequest: (message: string, cause?: unknown, status = 400) => new QrelayError('bad_request', status, message, { cause }),
  unknownField: (field: string) => new QrelayError('unknown_field', 400, `${field}: is not a known field`),

  /** Unknown key and wrong or missing poll token must be indistinguishable: one body for both. */
  sessionNotFound: () => new QrelayError('not_found', 404, 'no such session'),
  noRoute: (method: string, path: string) =>
    new QrelayError('no_route', 404, `no route for ${method} ${path}`),
  alreadyDelivered: () =>
    new QrelayError('already_delivered', 410, 'the final status of this session was already delivered'),
  handOutInProgress: (busyMs: number) =>
    new QrelayError('hand_out_in_progress', 503, 'the final status is being handed to another poll; retry shortly', {
      retryAfterS: Math.max(1, Math.ceil(busyMs / 1000)),
    }),
  alreadyRedeemed: () => new QrelayError('already_redeemed', 410, 'this ticket was already redeemed'),
  ticketNotFound: () => new QrelayError('not_found', 404, 'no such ticket, or it has lapsed'),
  sessionExpired: () => new QrelayError('session_expired', 410, 'the session has expired'),

  invalidTransition: (from: string, to: string) =>
    new QrelayError('invalid_transition', 409, `a ${from} session cannot become ${to}`),
  actorMismatch: () =>
    new QrelayError('actor_mismatch', 409, 'the session was scanned by another actor'),
  versionMismatch: (expected: number, actual: number) =>
    new QrelayError('version_mismatch', 409, `ifVersion is ${expected} but the session is at version ${actual}`),

  crossSite: () =>
    new QrelayError('cross_site', 403, "sessions are minted only from this service's own pages or an origin in CORS_ORIGINS"),
  unauthorized: (token: 'INTERNAL_TOKEN' | 'CLUSTER_TOKEN' = 'INTERNAL_TOKEN') =>
    new QrelayError('unauthorized', 401, `a valid Authorization: Bearer <${token}> header is required`),
  invalidSeal: () =>
    new QrelayError('invalid_seal', 401, 'a forwarded change must carry the seal of a node of this cluster'),
  storeUnavailable: (cause?: unknown) =>
    new QrelayError('store_unavailable', 503, 'the session store is unreachable; retry shortly', {
      cause,
      retryAfterS: 1,
    }),
  /** GET /readyz: the store does not answer, so a balancer should send no traffic here. */
  notReady: (cause?: unknown) =>
    new QrelayError('not_ready', 503, 'the session store is unreachable', { cause, retryAfterS: 1 }),
  shuttingDown: () =>
    new QrelayError('shutting_down', 503, 'this node is shutting down; retry on another node', { retryAfterS: 1 }),
  rateLimited: (message: string, retryAfterS: number) => new QrelayError('rate_limited', 429, message, { retryAfterS }),
  nodeFull: () =>
    new QrelayError('node_full', 503, 'this node holds as many polls as it may; retry on another node', { retryAfterS: 1 }),
  sessionsFull: () =>
    new QrelayError('sessions_full', 503, 'this node keeps as many sessions as it may; retry shortly or on another node', { retryAfterS: 1 }),
  internal: (cause?: unknown) => new QrelayError('internal_error', 500, 'internal error', { cause }),
} as const;
