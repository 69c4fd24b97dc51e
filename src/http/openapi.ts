// The OpenAPI 3.1 document of both listeners, served by the private one at GET /openapi.json and
// checked in as docs/openapi.json (`npm run openapi`; a test fails when the two differ).
//
// Every body schema in it is converted by zod from the schema the code uses: requests from
// validation.ts as their *input* (what a client sends, before transforms), answers from
// answers.ts, which the code that builds each answer satisfies. What this module adds by hand is
// what no schema holds: which routes exist on which listener, their auth, what each answers when it
// serves the request, and which error codes it refuses with (each under the status statuses.ts
// gives that code). test/http/openapi.test.ts drives every route to every one of those statuses
// and codes on real nodes and validates each answer against this document, so a status, code or
// field that one side has and the other lacks fails there.
import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import { CHANNEL_BATCH_MAX, CHANNEL_PATH, channelBatch, channelBody, channelRequest, PROTOCOL_HEADER, PROTOCOL_VERSION } from '../cluster/channel-protocol.js';
import { ACTOR_RULE, DATA_LIMIT_BYTES, SESSION_STATUSES, TRANSITIONS } from '../core/session.js';
import {
  channelAnswer,
  clientInfo,
  errorBody,
  healthAnswer,
  newSessionAnswer,
  peekAnswer,
  pollAnswerBody,
  readyAnswer,
  redemptionAnswer,
  setAnswer,
} from './answers.js';
import { BODY_LIMIT } from './json-body.js';
import { httpRefusal } from './statuses.js';
import {
  keyQuery,
  pollQuery,
  refusalCodes,
  setBody,
  setQuery,
  ticketBody,
} from './validation.js';

/** The package's version: the contract changes with the service (a test holds them equal). */
const VERSION = '0.1.0';

type Schema = z.core.JSONSchema.JSONSchema;
type Listener = 'public' | 'private';
type Auth = 'none' | 'pollToken' | 'internalToken' | 'nodeSeal';

const requestSchemas = { SetStatus: setBody, RedeemTicket: ticketBody, ForwardedChange: channelBody, ForwardedBatch: channelBatch, Forward: channelRequest };
const answerSchemas = {
  NewSession: newSessionAnswer,
  SessionState: pollAnswerBody,
  StatusSet: setAnswer,
  Peek: peekAnswer,
  Redemption: redemptionAnswer,
  Delivery: channelAnswer,
  Health: healthAnswer,
  Ready: readyAnswer,
  ClientInfo: clientInfo,
  Error: errorBody,
};
type RequestSchema = keyof typeof requestSchemas;
type AnswerSchema = keyof typeof answerSchemas;

/** One status a route answers with when it serves the request. */
type Answer =
  | { readonly kind: 'json'; readonly schema: AnswerSchema | Schema; readonly description: string }
  | { readonly kind: 'text'; readonly mediaType: string; readonly description: string; readonly cached?: boolean }
  | { readonly kind: 'empty'; readonly description: string; readonly cached?: boolean };

/** Error codes a route refuses with, all of one status (statuses.ts's), and why. */
interface Refusal {
  readonly codes: readonly ErrorCode[];
  readonly description: string;
}

const json = (schema: AnswerSchema | Schema, description: string): Answer => ({ kind: 'json', schema, description });
const text = (mediaType: string, description: string, cached = false): Answer => ({ kind: 'text', mediaType, description, cached });
const empty = (description: string, cached = false): Answer => ({ kind: 'empty', description, cached });
const refused = (codes: readonly ErrorCode[], description: string): Refusal => ({ codes, description });

/** Query parameters from a query schema, with a description for each of its fields. */
interface Query<S extends z.ZodObject> {
  readonly schema: S;
  readonly descriptions: { readonly [K in keyof S['shape']]: string };
}
const query = <S extends z.ZodObject>(schema: S, descriptions: Query<S>['descriptions']): Query<z.ZodObject> => ({ schema, descriptions });

interface Route {
  readonly listener: Listener;
  readonly method: 'get' | 'post';
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly auth: Auth;
  readonly query?: Query<z.ZodObject>;
  readonly headers?: readonly Parameter[];
  readonly body?: RequestSchema;
  readonly answers: Readonly<Record<number, Answer>>;
  readonly refusals?: readonly Refusal[];
}

interface Parameter {
  readonly name: string;
  readonly in: 'query' | 'header';
  readonly required: boolean;
  readonly description: string;
  readonly schema: Schema;
}

/** The transition table (core/session.ts) in words: `pending -> scanned|cancelled, ...`. */
const transitionsText = SESSION_STATUSES.filter((s) => TRANSITIONS[s].length > 0)
  .map((s) => `${s} -> ${TRANSITIONS[s].join('|')}`)
  .join(', ');
const JSON_BODY_CODES: readonly ErrorCode[] = ['invalid_json', 'empty_body'];
const badBody = (body: z.ZodObject): Refusal =>
  refused([...refusalCodes(body, 'body'), ...JSON_BODY_CODES], 'A malformed body: the code names the offending field (`unknown_field` for one the schema lacks; `empty_body` for no body at all).');
const tooLarge = refused(['payload_too_large'], `A body larger than ${BODY_LIMIT}.`);
const notJson = refused(['unsupported_media_type'], 'A body that is not `application/json` in UTF-8, or is compressed.');
const storeDown = refused(['store_unavailable'], 'The session store is unreachable; retry after `Retry-After` seconds.');
/** The 503 of a lasting change: unreachable, or not yet held by REDIS_MIN_REPLICAS replicas. */
const notYetStored = (what: string): Refusal =>
  refused(['store_unavailable'], `The session store is unreachable, or ${what} is not yet safely stored (fewer than REDIS_MIN_REPLICAS replicas acknowledged it within REDIS_REPLICA_WAIT_MS): retry after \`Retry-After\` seconds; the retry is safe.`);
const unknownKey = (what = 'session'): Refusal => refused(['not_found'], `No such ${what}.`);

const key = 'The session key (`key` from POST /status/new).';

/** The browser client's files: revalidated by their ETag, or cacheable for a year under ?v=. */
const clientFileParameters: readonly Parameter[] = [
  {
    name: 'v',
    in: 'query',
    required: false,
    description: 'The version the page was written for: the ETag without its quotes. When it is the version served, the answer may be cached for a year; any other is answered like no `v`.',
    schema: { type: 'string' },
  },
  {
    name: 'If-None-Match',
    in: 'header',
    required: false,
    description: 'The ETag of the copy the browser holds: `304` while it is current.',
    schema: { type: 'string' },
  },
];
const notModified = empty('The copy named in `If-None-Match` is current.', true);

/** What each listener answers. A route's answers and refusal codes are declared here and nowhere else. */
const routes: readonly Route[] = [
  {
    listener: 'public',
    method: 'post',
    path: '/status/new',
    operationId: 'createSession',
    summary: 'Mint a login session',
    description:
      'No body is read. The caller\'s address, User-Agent and Accept-Language are recorded so the phone can show who asked.',
    auth: 'none',
    answers: { 201: json('NewSession', 'The new session: show the QR of `key` (GET /status/qr.svg, or `scanUrl`), keep `pollToken`, and poll.') },
    refusals: [
      refused(['cross_site'], 'Asked by another site\'s page (`Sec-Fetch-Site: cross-site`, or an `Origin` that is neither this service nor in CORS_ORIGINS).'),
      refused(['rate_limited'], 'Too many sessions from this address this minute (RATE_SESSIONS_PER_IP).'),
      refused(['store_unavailable', 'sessions_full', 'shutting_down'], 'The store is unreachable, this node keeps MAX_SESSIONS sessions, or it is shutting down: retry after `Retry-After` seconds, possibly on another node.'),
    ],
  },
  {
    listener: 'public',
    method: 'get',
    path: '/status/get',
    operationId: 'pollSession',
    summary: 'Hold until the session changes',
    description: 'Poll again with `since` set to the `version` last seen; nothing is lost between polls.',
    auth: 'pollToken',
    query: query(pollQuery, {
      key,
      since: 'The version the client holds (default 0): the answer is a newer one.',
      wait: 'Hold at most this many milliseconds (HOLD_MS if longer; 0 answers at once).',
    }),
    answers: {
      200: json('SessionState', 'The session at a version greater than `since` (at once if it already is), or `expired` the moment its lifetime ends. A final status is handed out once; the answer that hands out `confirmed` carries the login\'s `ticket`.'),
      204: empty('Nothing newer within the hold, a newer poll for the same key took over, or the node is shutting down: poll again.'),
    },
    refusals: [
      refused(refusalCodes(pollQuery, 'query'), 'A malformed parameter: the code names it. `invalid_since` also for a `since` ahead of the session\'s version (nothing is recorded).'),
      refused(['missing_token'], 'No `Authorization: Bearer <pollToken>` header, or one holding nothing shaped like a poll token; decided before the key is looked at, and counted by no limit.'),
      refused(['not_found'], 'An unknown key, or a wrong poll token (indistinguishable on purpose). Either counts against the address (MAX_TOKEN_FAILURES a minute); the session is never harmed.'),
      refused(['already_delivered'], 'The final status was already handed to a poll, or `since` is already its version: the client holds it.'),
      refused(['rate_limited'], 'Too many polls in flight from this address on this node (MAX_POLLS_PER_IP), or a wrong poll token from an address that sent more than MAX_TOKEN_FAILURES this minute (across nodes).'),
      refused(['store_unavailable', 'node_full', 'shutting_down', 'hand_out_in_progress'], 'Retry after `Retry-After` seconds, possibly on another node. `store_unavailable` also means a final status about to be handed out is not yet safely stored (REDIS_MIN_REPLICAS): it was not handed out, and the retry gets it.'),
    ],
  },
  {
    listener: 'public',
    method: 'get',
    path: '/status/qr.svg',
    operationId: 'qrImage',
    summary: 'The QR code of the session\'s scanUrl',
    description: 'The image of any well-formed key, the same whatever its session\'s state (or whether it has one): the store is not read, so it tells nothing about the session.',
    auth: 'none',
    query: query(keyQuery, { key }),
    answers: { 200: text('image/svg+xml', 'The QR code of `scanUrl`.') },
    refusals: [
      refused(refusalCodes(keyQuery, 'query'), 'A malformed key.'),
      refused(['rate_limited'], 'Too many QR images for this address this minute (RATE_QR_PER_IP).'),
    ],
  },
  {
    listener: 'public',
    method: 'get',
    path: '/qrelay-login.js',
    operationId: 'clientModule',
    summary: 'The browser client',
    description: 'An ES module without dependencies: the `<qrelay-login>` element and `createLogin()`.',
    auth: 'none',
    headers: clientFileParameters,
    answers: { 200: text('text/javascript', 'The module.', true), 304: notModified },
  },
  {
    listener: 'public',
    method: 'get',
    path: '/qrelay-login.d.ts',
    operationId: 'clientTypes',
    summary: 'The browser client\'s TypeScript declarations',
    auth: 'none',
    headers: clientFileParameters,
    answers: { 200: text('text/plain', 'The declarations.', true), 304: notModified },
  },
  {
    listener: 'private',
    method: 'post',
    path: '/status/set',
    operationId: 'setStatus',
    summary: 'Change a session\'s status and wake its poll',
    description:
      `Transitions: ${transitionsText}; each bumps \`version\` by one. \`actor\` is required for ${ACTOR_RULE.requiredFor.join(' and ')}, and the actor who scanned is bound: confirm and cancel must name them. \`data\`: at most ${DATA_LIMIT_BYTES} bytes of JSON. A repeat of the change that made the current version (same status, actor and data; \`ifVersion\`, if given, the version before it) is answered 200 as applied, with the same version: a retry after a 503 is safe.`,
    auth: 'internalToken',
    query: query(setQuery, {
      key: 'The session key, instead of or as well as the body\'s `key`: a balancer that routes by it (`hash $arg_key`) sends the set to the node holding the poll. When both are given they must be the same.',
    }),
    body: 'SetStatus',
    answers: { 200: json('StatusSet', 'Changed (or the change was already in place); `delivered` says whether a held poll was woken.') },
    refusals: [
      refused(
        [...refusalCodes(setBody, 'body'), ...JSON_BODY_CODES, 'key_mismatch'],
        'A malformed body or query: the code names the offending field (`unknown_field` for one the schema lacks; `invalid_key` also when neither the body nor the query names the session); `key_mismatch` when the query\'s `key` and the body\'s differ.',
      ),
      unknownKey(),
      refused(['body_timeout'], 'The body did not arrive within RECEIVE_TIMEOUT_MS; the connection is closed.'),
      refused(['invalid_transition', 'actor_mismatch', 'version_mismatch'], 'A refused change: not allowed from the current status, another actor than the one who scanned, or `ifVersion` is not the current version.'),
      refused(['session_expired'], 'The session\'s lifetime has ended.'),
      refused(['data_too_large', 'payload_too_large'], `\`data\` larger than ${DATA_LIMIT_BYTES} bytes of JSON, or a body larger than ${BODY_LIMIT}.`),
      notJson,
      notYetStored('the change'),
    ],
  },
  {
    listener: 'private',
    method: 'get',
    path: '/status/peek',
    operationId: 'peekSession',
    summary: 'A session\'s state, without holding',
    auth: 'internalToken',
    query: query(keyQuery, { key }),
    answers: { 200: json('Peek', 'The session now. Once its final status was handed out, it keeps neither `actor` nor `data`.') },
    refusals: [
      refused(refusalCodes(keyQuery, 'query'), 'A malformed key.'),
      unknownKey(),
      storeDown,
    ],
  },
  {
    listener: 'private',
    method: 'post',
    path: '/ticket/redeem',
    operationId: 'redeemTicket',
    summary: 'Redeem a confirmed login\'s one-time ticket',
    description: 'Once, on any node: the site\'s backend turns the ticket its login page received into a signed-in user. A ticket lives TICKET_TTL_MS from its hand-out.',
    auth: 'internalToken',
    body: 'RedeemTicket',
    answers: { 200: json('Redemption', 'Who confirmed (`actor`), for which browser (`client`).') },
    refusals: [
      badBody(ticketBody),
      unknownKey('ticket, or it has lapsed'),
      refused(['body_timeout'], 'The body did not arrive within RECEIVE_TIMEOUT_MS; the connection is closed.'),
      refused(['already_redeemed'], 'The ticket was redeemed before.'),
      tooLarge,
      notJson,
      notYetStored('the redemption'),
    ],
  },
  {
    listener: 'private',
    method: 'post',
    path: CHANNEL_PATH,
    operationId: 'forwardChange',
    summary: 'Node to node: hand a change to the node holding the poll (cluster mode)',
    description:
      `Cluster mode only. The body is one change, or an array of 1 to ${CHANNEL_BATCH_MAX} (several changes for polls held here, sent together): the answer's \`delivered\` is then an array, one entry per change in the same order. Every change of an array is checked before any poll wakes, so one malformed change refuses them all. Wakes a poll held here for an older version; the poll is answered with what the store holds, never with what the message carries. Never forwards again. No bearer token: the request is authenticated by its X-Qrelay-Seal alone, and CLUSTER_TOKEN never travels.`,
    auth: 'nodeSeal',
    headers: [
      {
        name: 'X-Qrelay-Protocol',
        in: 'header',
        required: true,
        description: `The version of this node-to-node protocol the sender speaks; this release speaks ${PROTOCOL_VERSION} only.`,
        schema: { type: 'string', enum: [PROTOCOL_VERSION] },
      },
      {
        name: 'X-Qrelay-Seal',
        in: 'header',
        required: true,
        description:
          '`v1 t=<ms>,n=<nonce>,node=<NODE_ADDR>,sig=<base64url>`: `t` the sender\'s clock (epoch ms), `n` a random nonce (16 to 64 of A-Z a-z 0-9 _ -), `node` the sender\'s NODE_ADDR, `sig` the HMAC-SHA256, keyed from CLUSTER_TOKEN, of `v1\\nMETHOD\\nTARGET\\nt\\nn\\nnode\\nHOLDER\\nSHA256(body)` (TARGET the path and query as sent, HOLDER the NODE_ADDR of the node it is sent to, the digest base64url). Refused when `t` is more than CLUSTER_SEAL_WINDOW_MS from the receiver\'s clock either way, when it was sealed for another node, or when the nonce was seen within the window.',
        schema: { type: 'string', pattern: '^v1 t=[0-9]{1,15},n=[A-Za-z0-9_-]{16,64},node=[!-+\\--~]{1,256},sig=[A-Za-z0-9_-]{43}$' },
      },
    ],
    body: 'Forward',
    answers: { 200: json('Delivery', 'Received.') },
    refusals: [
      refused(
        [...refusalCodes(channelBody, 'body'), ...JSON_BODY_CODES, 'unsupported_protocol'],
        `A malformed body, or a malformed change in an array: the code names the offending field (\`unknown_field\` for one the schema lacks; \`invalid_body\` for an empty array or one of more than ${CHANNEL_BATCH_MAX}; \`empty_body\` for no body at all). \`unsupported_protocol\`: a sealed request without \`X-Qrelay-Protocol: ${PROTOCOL_VERSION}\`, from a node that speaks another version of this protocol (checked after the seal).`,
      ),
      refused(['invalid_seal'], 'No X-Qrelay-Seal, a malformed one, one not made with this cluster\'s key over exactly this request, one outside CLUSTER_SEAL_WINDOW_MS, or one seen before. Which it was is not said.'),
      refused(['no_route'], 'Memory mode: one node has no peers, and no such route.'),
      refused(['body_timeout'], 'The body did not arrive within RECEIVE_TIMEOUT_MS; the connection is closed.'),
      tooLarge,
      notJson,
    ],
  },
  {
    listener: 'private',
    method: 'get',
    path: '/healthz',
    operationId: 'health',
    summary: 'Liveness',
    description: 'Answers without a token, so balancers can check it; it tells nothing else.',
    auth: 'none',
    answers: { 200: json('Health', 'The process runs.') },
  },
  {
    listener: 'private',
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    summary: 'Readiness: whether a balancer should send traffic here',
    auth: 'none',
    answers: { 200: json('Ready', 'The store is reachable.') },
    refusals: [
      refused(['not_ready', 'shutting_down'], 'The store is unreachable, or the node is shutting down.'),
    ],
  },
  {
    listener: 'private',
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    auth: 'internalToken',
    answers: { 200: text('text/plain', 'The Prometheus text format, version 0.0.4.') },
  },
  {
    listener: 'private',
    method: 'get',
    path: '/openapi.json',
    operationId: 'openApi',
    summary: 'This document',
    auth: 'internalToken',
    answers: { 200: json({ type: 'object' }, 'The OpenAPI 3.1 document of both listeners.') },
  },
];

const servers = {
  public: {
    url: 'http://localhost:{port}',
    description: 'The public listener (PUBLIC_PORT): browsers. In production, behind your TLS balancer.',
    variables: { port: { default: '11000' } },
  },
  private: {
    url: 'http://127.0.0.1:{port}',
    description: 'The private listener (PRIVATE_HOST, PRIVATE_PORT): app backends, the other nodes, monitoring. Never exposed to browsers. https when PRIVATE_TLS_CERT and PRIVATE_TLS_KEY are set.',
    variables: { port: { default: '11001' } },
  },
} as const;

const securitySchemes = {
  pollToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The `pollToken` POST /status/new answered. A missing one is answered 401 `missing_token`; a wrong one 404, as an unknown key is (and 429 past MAX_TOKEN_FAILURES a minute from one address).',
  },
  internalToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'INTERNAL_TOKEN: required on the private listener when it is set (it always is in cluster mode); 401 `unauthorized` without it.',
  },
  nodeSeal: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Qrelay-Seal',
    description: 'Nodes only: a seal over the request, made with a key derived from CLUSTER_TOKEN, fresh and used once (see the header\'s description). CLUSTER_TOKEN itself is never sent.',
  },
} as const;

const ref = (name: string, kind: 'schemas' | 'headers'): { $ref: string } => ({ $ref: `#/components/${kind}/${name}` });

const headers = {
  'Cache-Control': { description: 'Every answer but the browser client\'s is `no-store`.', required: true, schema: { type: 'string', const: 'no-store' } },
  'Cache-Control-File': {
    description: 'The browser client\'s files: `no-cache` (kept, and revalidated on each use), or under `?v=` naming the version served, cacheable for a year.',
    required: true,
    schema: { type: 'string', enum: ['no-cache', 'public, max-age=31536000, immutable'] },
  },
  ETag: { description: 'The file\'s version (96 bits of its SHA-256, base64url), quoted.', required: true, schema: { type: 'string', pattern: '^"[A-Za-z0-9_-]{16}"$' } },
  'Retry-After': { description: 'Seconds to wait before retrying.', required: true, schema: { type: 'integer', minimum: 1 } },
  'X-Request-Id': {
    description: 'The request\'s id in the log: the caller\'s `X-Request-Id` when it is a plain token, else a new UUID.',
    required: true,
    schema: { type: 'string' },
  },
} as const;

const requestId: Parameter = {
  name: 'X-Request-Id',
  in: 'header',
  required: false,
  description: 'An id for this request\'s log line (letters, digits, `_.:-`, at most 128), echoed back.',
  schema: { type: 'string', pattern: '^[\\w.:-]{1,128}$' },
};

function answerHeaders(listener: Listener, retryAfter = false, cached = false): Record<string, { $ref: string }> {
  const headerRefs: Record<string, { $ref: string }> = cached
    ? { 'Cache-Control': ref('Cache-Control-File', 'headers'), ETag: ref('ETag', 'headers') }
    : { 'Cache-Control': ref('Cache-Control', 'headers') };
  if (listener === 'private') headerRefs['X-Request-Id'] = ref('X-Request-Id', 'headers');
  if (retryAfter) headerRefs['Retry-After'] = ref('Retry-After', 'headers');
  return headerRefs;
}

function response(answer: Answer, listener: Listener): object {
  const described = { description: answer.description, headers: answerHeaders(listener, false, answer.kind !== 'json' && answer.cached === true) };
  switch (answer.kind) {
    case 'empty':
      return described;
    case 'text':
      return { ...described, content: { [answer.mediaType]: { schema: { type: 'string' } } } };
    case 'json': {
      const schema = typeof answer.schema === 'string' ? ref(answer.schema, 'schemas') : answer.schema;
      return { ...described, content: { 'application/json': { schema } } };
    }
  }
}

/** A refusal's status (statuses.ts's, one for all its codes) and its response. */
function refusalResponse(refusal: Refusal, listener: Listener, path: string): [number, object] {
  const statuses = new Set(refusal.codes.map((c) => httpRefusal(c).status));
  const [status] = statuses;
  if (status === undefined || statuses.size > 1) throw new Error(`${path}: the codes ${refusal.codes.join(', ')} are not answered with one status`);
  const retryAfter = refusal.codes.every((c) => httpRefusal(c).retryAfter !== undefined);
  // The shared error shape, narrowed to this refusal's codes.
  const codes = refusal.codes.map((c) => `\`${c}\``).join(', ');
  const schema = { ...ref('Error', 'schemas'), type: 'object', properties: { error: { type: 'object', properties: { code: { enum: refusal.codes } } } } };
  const description = `${codes}: ${refusal.description}`;
  return [status, { description, headers: answerHeaders(listener, retryAfter), content: { 'application/json': { schema } } }];
}

function queryParameters({ schema, descriptions }: Query<z.ZodObject>): Parameter[] {
  const converted = z.toJSONSchema(schema, { io: 'input' });
  const required = converted.required ?? [];
  return Object.entries(converted.properties ?? {}).map(([name, fieldSchema]) => ({
    name,
    in: 'query',
    required: required.includes(name),
    description: descriptions[name] ?? '',
    schema: typeof fieldSchema === 'boolean' ? {} : fieldSchema,
  }));
}

const noInternalToken = refused(['unauthorized'], 'Without `Authorization: Bearer <INTERNAL_TOKEN>` while INTERNAL_TOKEN is set.');

function operation(route: Route): object {
  const responses = new Map<number, object>();
  for (const [status, answer] of Object.entries(route.answers)) responses.set(Number(status), response(answer, route.listener));
  const refusals = [...(route.refusals ?? []), ...(route.auth === 'internalToken' ? [noInternalToken] : [])];
  for (const refusal of refusals) {
    const [status, answer] = refusalResponse(refusal, route.listener, route.path);
    if (responses.has(status)) throw new Error(`${route.path}: two descriptions of status ${status}`);
    responses.set(status, answer);
  }
  const parameters = [
    ...(route.query === undefined ? [] : queryParameters(route.query)),
    ...(route.headers ?? []),
    ...(route.listener === 'private' ? [requestId] : []),
  ];
  return {
    tags: [route.listener],
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description === undefined ? {} : { description: route.description }),
    security: route.auth === 'none' ? [] : [{ [route.auth]: [] }],
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(route.body === undefined
      ? {}
      : { requestBody: { required: true, content: { 'application/json': { schema: ref(route.body, 'schemas') } } } }),
    responses: Object.fromEntries([...responses].sort(([a], [b]) => a - b)),
  };
}

/** Converts named zod schemas, each a component; a component inside another becomes a $ref. */
function componentSchemas(schemas: Readonly<Record<string, z.ZodType>>, io: 'input' | 'output'): Record<string, Schema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const converted = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}` }).schemas;
  // Each comes as a document of its own; as a component it names neither dialect nor id.
  return Object.fromEntries(Object.entries(converted).map(([id, { $schema: _dialect, $id: _id, ...schema }]) => [id, schema]));
}

export interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly [field: string]: unknown;
}

/** Builds the document. */
export function openApiDocument(): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    paths[route.path] ??= { servers: [servers[route.listener]] };
    paths[route.path]![route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'qrelay',
      version: VERSION,
      description:
        'QR scan-login over long polling. A browser mints a session on the public listener and holds a poll; the app backend changes its status on the private listener; the poll answers at once. Every error is `{"error": {"code", "message"}}`: match on `code`. Besides the answers listed, any route may answer `500 internal_error`, a path not listed `404 no_route`, and a method not listed for a listed path `405 method_not_allowed` with an `Allow` header naming the methods it answers. The demo routes (DEMO=1) are not part of this contract.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [servers.public, servers.private],
    tags: [
      { name: 'public', description: servers.public.description },
      { name: 'private', description: servers.private.description },
    ],
    paths,
    components: {
      schemas: { ...componentSchemas(requestSchemas, 'input'), ...componentSchemas(answerSchemas, 'output') },
      headers,
      securitySchemes,
    },
  };
}

let serialized: string | undefined;

/** The document as served and as checked in: built once, on first use. */
export function openApiJson(): string {
  serialized ??= `${JSON.stringify(openApiDocument(), null, 2)}\n`;
  return serialized;
}
