// Node-to-node delivery: a set that lands on one node hands the change to the node holding the
// poll with POST /channel/set on that node's private listener.
//
// Changes for the same holder that come out of one callback of the event loop go in one request:
// forward() queues the change, and the queue is sent at process.nextTick, once the callback and the
// promise continuations it set off are done. Sets whose transitions come back in one read from
// Redis (auto-pipelined, or replies that arrived together) reach it in one callback; waiting longer
// (setImmediate, after all the I/O of the loop's turn) delays every wake-up, and did not do better
// in the cluster benchmark (docs/performance.md). The queue goes as one change or as an array of
// them, answered with one `delivered` per change in the same order. A batch stays within the
// holder's limits (channel-protocol.ts: at most CHANNEL_BATCH_MAX changes and
// CHANNEL_BODY_LIMIT_BYTES of body), and one seal covers its whole body. Every request names the
// protocol version it speaks (X-Qrelay-Protocol); a holder of another version refuses it with 400
// and the forward fails, as any other refusal does.
//
// Each request bears its own seal (change-seal.ts): over the method, path, time, a nonce, this node,
// the holder and the body, so the holder can tell it comes from a node of this cluster, for it, now,
// once. No secret travels: CLUSTER_TOKEN only keys the seal. With CLUSTER_CA, a holder reached over https must
// show a certificate that CA signed; a forward to one that does not fails (cause `tls`).
//
// One undici Agent keeps a pool of kept-alive connections per peer. Every request is bounded by
// undici's connect, headers and body timeouts, and a forward never throws: the new state is
// already in Redis, so a forward that fails only means the poll learns of it on its next request
// instead of at once. Failures are published by cause, per change (qrelay:forward.failed), for
// the operators.
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import { channels, Origin, type ForwardFailure } from '../core/channels.js';
import type { Relay } from '../core/session-service.js';
import type { SessionView } from '../core/session.js';
import { defaults } from '../defaults.js';
import { SEAL_HEADER, type ChangeSeal } from './change-seal.js';
import { CHANNEL_BATCH_MAX, CHANNEL_BODY_LIMIT_BYTES, CHANNEL_PATH, PROTOCOL_HEADER, PROTOCOL_VERSION } from './channel-protocol.js';

export interface HttpRelayOptions {
  /** Seals every request, so the holder knows it comes from a node of this cluster. */
  seal: ChangeSeal;
  /** CLUSTER_CA: the only CA whose certificates a holder reached over https may show. */
  ca?: Buffer | undefined;
  /** Bound on each forward as a whole, and on each of its phases (connect, headers, body), ms. */
  timeoutMs: number;
  /** What a holder accepts in one request: changes, and bytes of body (the protocol's limits by default). */
  batch?: { readonly maxChanges: number; readonly maxBytes: number } | undefined;
  /** The node its messages name (channels.ts). */
  origin?: Origin | undefined;
}

function classify(err: unknown): ForwardFailure {
  if (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof ForwardDeadlineError
  ) {
    return 'timeout';
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH') return 'refused';
  if (typeof code === 'string' && TLS_REFUSALS.test(code)) return 'tls';
  return 'error';
}

/** Node's and OpenSSL's codes for a peer certificate refused or a TLS handshake that failed. */
const TLS_REFUSALS = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|CERT_|HOSTNAME_MISMATCH)/;

/** A holder's answer to one request. */
interface Answer {
  readonly status: number;
  readonly text: string;
}

/** A forward not answered in full within its deadline (FORWARD_TIMEOUT_MS). */
class ForwardDeadlineError extends Error {
  constructor(ms: number) {
    super(`no full answer within ${ms} ms`);
    this.name = 'ForwardDeadlineError';
  }
}

/**
 * Reads an answer into a string, within a deadline for the whole request. request() would wrap
 * each answer in a Readable stream and an AsyncResource, which cost more than the small JSON they
 * carry; a dispatch handler is undici's plain interface underneath it. undici's own timeouts bound
 * each phase (connecting, the headers, each gap in the body), not the whole: a peer trickling its
 * answer, or a request waiting for a free connection, would hold the set that waits on it. So one
 * timer per request ends it at the deadline, once, whichever comes first.
 */
class AnswerReader implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: Answer) => void;
  readonly #reject: (err: Error) => void;
  readonly #timer: NodeJS.Timeout;
  #controller: Dispatcher.DispatchController | undefined;
  #done = false;
  #status = 0;
  readonly #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(resolve: (answer: Answer) => void, reject: (err: Error) => void, deadlineMs: number) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#timer = setTimeout(expire, deadlineMs, this, deadlineMs);
  }

  // undici tells this interface from its older one by this method, so it exists even where the
  // request has not been sent yet (then the deadline may have passed already: it ends at once).
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#done) controller.abort(new Error('the forward ended before it was sent'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number): void {
    this.#status = status;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // A holder answers a few bytes per change; a peer that sends more is not read to the end.
    this.#bytes += chunk.length;
    if (this.#bytes > defaults.forwardAnswerLimitBytes) controller.abort(new Error(`the answer is larger than ${defaults.forwardAnswerLimitBytes} bytes`));
    else this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    if (!this.#finish()) return;
    const text = this.#chunks.length === 1 ? this.#chunks[0]!.toString('utf8') : Buffer.concat(this.#chunks).toString('utf8');
    this.#resolve({ status: this.#status, text });
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#finish()) this.#reject(err);
  }

  /** The deadline passed: the request ends, and its caller hears so now, not when undici is done. */
  expire(ms: number): void {
    if (!this.#finish()) return;
    const err = new ForwardDeadlineError(ms);
    this.#controller?.abort(err);
    this.#reject(err);
  }

  /** True the first time: the one ending of this request. */
  #finish(): boolean {
    if (this.#done) return false;
    this.#done = true;
    clearTimeout(this.#timer);
    return true;
  }
}

function expire(reader: AnswerReader, ms: number): void {
  reader.expire(ms);
}

/** One change waiting for its request: its JSON, its size, and who waits for its answer. */
interface Queued {
  readonly text: string;
  readonly bytes: number;
  readonly settle: (delivered: boolean) => void;
}

export class HttpRelay implements Relay {
  readonly #agent: Agent;
  readonly #seal: ChangeSeal;
  readonly #maxChanges: number;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #origin: Origin;
  /** This callback's changes, by holder; sent, and emptied, at process.nextTick. */
  #queued = new Map<string, Queued[]>();
  #flushing = false;

  constructor(options: HttpRelayOptions) {
    this.#seal = options.seal;
    this.#maxChanges = options.batch?.maxChanges ?? CHANNEL_BATCH_MAX;
    this.#maxBytes = options.batch?.maxBytes ?? CHANNEL_BODY_LIMIT_BYTES;
    this.#timeoutMs = options.timeoutMs;
    this.#origin = options.origin ?? new Origin();
    this.#agent = new Agent({
      connect: { timeout: options.timeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: defaults.relayKeepAliveMs,
      connections: defaults.relayConnections,
    });
  }

  forward(route: string, view: SessionView): Promise<boolean> {
    if (channels.forwarded.hasSubscribers) channels.forwarded.publish({ origin: this.#origin });
    const text = JSON.stringify(view);
    return new Promise((settle) => {
      const queue = this.#queued.get(route);
      const change = { text, bytes: Buffer.byteLength(text), settle };
      if (queue === undefined) this.#queued.set(route, [change]);
      else queue.push(change);
      if (!this.#flushing) {
        this.#flushing = true;
        process.nextTick(() => this.#flush());
      }
    });
  }

  /** Sends what is queued, lets in-flight forwards finish, then closes the pools. */
  close(): Promise<void> {
    this.#flush();
    return this.#agent.close();
  }

  /** Cuts every connection now. */
  destroy(): Promise<void> {
    return this.#agent.destroy();
  }

  /** Sends the queued changes: one request per holder, more only past a batch's limits. */
  #flush(): void {
    const queued = this.#queued;
    this.#queued = new Map();
    this.#flushing = false;
    for (const [route, changes] of queued) {
      let batch: Queued[] = [];
      let bytes = 1; // the array's brackets and commas: one byte per change, and one
      for (const change of changes) {
        if (batch.length > 0 && (batch.length === this.#maxChanges || bytes + change.bytes + 1 > this.#maxBytes)) {
          void this.#send(route, batch);
          batch = [];
          bytes = 1;
        }
        batch.push(change);
        bytes += change.bytes + 1;
      }
      void this.#send(route, batch);
    }
  }

  async #send(route: string, batch: readonly Queued[]): Promise<void> {
    const single = batch.length === 1;
    const body = single ? batch[0]!.text : `[${batch.map((c) => c.text).join(',')}]`;
    let delivered: readonly boolean[];
    try {
      const res = await new Promise<Answer>((resolve, reject) => {
        this.#agent.dispatch(
          {
            origin: route,
            path: CHANNEL_PATH,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              [PROTOCOL_HEADER]: PROTOCOL_VERSION,
              [SEAL_HEADER]: this.#seal.seal('POST', CHANNEL_PATH, route, body),
            },
            body,
          },
          new AnswerReader(resolve, reject, this.#timeoutMs),
        );
      });
      if (res.status !== 200) {
        this.#failed(res.status === 401 ? 'seal' : 'status', route, batch, new Error(`HTTP ${res.status}`));
        return;
      }
      const answer = (JSON.parse(res.text) as { delivered?: unknown }).delivered;
      if (single) {
        delivered = [answer === true];
      } else if (Array.isArray(answer) && answer.length === batch.length) {
        delivered = answer.map((d) => d === true);
      } else {
        this.#failed('error', route, batch, new Error('the answer does not match the batch'));
        return;
      }
    } catch (err) {
      this.#failed(classify(err), route, batch, err);
      return;
    }
    for (let i = 0; i < batch.length; i++) batch[i]!.settle(delivered[i]!);
  }

  #failed(cause: ForwardFailure, route: string, batch: readonly Queued[], err: unknown): void {
    for (const change of batch) change.settle(false); // first: the sets waiting on them answer
    if (channels.forwardFailed.hasSubscribers) channels.forwardFailed.publish({ origin: this.#origin, cause, route, changes: batch.length, error: err });
  }
}
