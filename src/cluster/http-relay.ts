// Node-to-node delivery: a set that lands on one node hands the change to the node holding the
// poll with POST /channel/set on that node's private listener.
//
// One undici Agent keeps a pool of kept-alive connections per peer. Every forward is bounded
// (connect, headers and body timeouts, plus an overall deadline), and never throws: the new state
// is already in Redis, so a forward that fails only means the poll learns of it on its next
// request instead of at once. Failures are counted by cause for the operators.
import { Agent, errors as undiciErrors } from 'undici';
import type { Relay } from '../core/session-service.js';
import type { SessionView } from '../core/session.js';

export type ForwardFailure = 'timeout' | 'refused' | 'status' | 'error';

export interface HttpRelayOptions {
  /** What this node presents to its peers (CLUSTER_TOKEN). */
  clusterToken: string;
  /** Bound on each phase and on the whole forward, ms. */
  timeoutMs: number;
  onFailure?: (cause: ForwardFailure, route: string, err?: unknown) => void;
  onForward?: () => void;
}

function classify(err: unknown): ForwardFailure {
  if (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    (err instanceof DOMException && err.name === 'TimeoutError')
  ) {
    return 'timeout';
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EHOSTUNREACH') return 'refused';
  return 'error';
}

export class HttpRelay implements Relay {
  readonly #agent: Agent;
  readonly #authorization: string;
  readonly #timeoutMs: number;
  readonly #onFailure: NonNullable<HttpRelayOptions['onFailure']>;
  readonly #onForward: () => void;

  constructor(options: HttpRelayOptions) {
    this.#timeoutMs = options.timeoutMs;
    this.#authorization = `Bearer ${options.clusterToken}`;
    this.#onFailure = options.onFailure ?? (() => {});
    this.#onForward = options.onForward ?? (() => {});
    this.#agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 60_000,
      connections: 128,
    });
  }

  async forward(route: string, view: SessionView): Promise<boolean> {
    this.#onForward();
    try {
      const res = await this.#agent.request({
        origin: route,
        path: '/channel/set',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: this.#authorization },
        body: JSON.stringify(view),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        this.#onFailure('status', route, new Error(`HTTP ${res.statusCode}`));
        return false;
      }
      const answer = (await res.body.json()) as { delivered?: unknown };
      return answer.delivered === true;
    } catch (err) {
      this.#onFailure(classify(err), route, err);
      return false;
    }
  }

  /** Lets in-flight forwards finish, then closes the pools. */
  close(): Promise<void> {
    return this.#agent.close();
  }

  /** Cuts every connection now. */
  destroy(): Promise<void> {
    return this.#agent.destroy();
  }
}
