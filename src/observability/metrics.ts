// Prometheus metrics (prom-client), one registry per node so several nodes can share a process
// (tests). Served on the private listener at GET /metrics.
//
// The counters of events on every wake count in plain fields (Tally) and hand their counts to
// prom-client when it collects (a scrape, or a test reading the metric): prom-client's inc()
// builds and hashes a label string on every call.
//
// The counts come from the node's channels (core/channels.ts): the metrics subscribe to their
// node's messages when made, and unsubscribe at close().
import client from 'prom-client';
import { observe, type Origin, type SetOutcome } from '../core/channels.js';
import type { ErrorCode } from '../errors.js';
import type { PollEndReason } from '../core/pending-polls.js';
import type { SessionStatus } from '../core/session.js';

/** Counts by label value, reported to a prom-client Counter when it collects. */
class Tally<V extends string> {
  readonly #pending = new Map<V, number>();

  constructor(config: { name: string; help: string; labelName: string; registers: client.Registry[] }) {
    const pending = this.#pending;
    const { labelName } = config;
    new client.Counter({
      name: config.name,
      help: config.help,
      labelNames: [labelName],
      registers: config.registers,
      collect() {
        for (const [value, n] of pending) this.inc({ [labelName]: value }, n);
        pending.clear();
      },
    });
  }

  add(value: V): void {
    this.#pending.set(value, (this.#pending.get(value) ?? 0) + 1);
  }
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly #pollEndings: Tally<PollEndReason>;
  #sessionsCreated = 0;
  readonly #sets: Tally<SetOutcome>;
  readonly #handOuts: Tally<SessionStatus>;
  readonly #errors: Tally<ErrorCode>;
  /** The delivery histogram's children by `via`, bound once. */
  readonly #delivery: Readonly<Record<'local' | 'forward', { observe(seconds: number): void }>>;
  readonly #forwards: client.Counter;
  readonly #forwardFailures: client.Counter<'cause'>;
  readonly #redisErrors: client.Counter;
  readonly #replicasBehind: client.Counter;
  readonly #tokenRejections: client.Counter;
  readonly #rateLimited: client.Counter<'limit'>;
  readonly #unrecorded: client.Counter;
  readonly #unsubscribe: () => void;

  /** Counts what `origin` publishes until close(). */
  constructor(origin: Origin, heldPolls: () => number, draining: () => boolean = () => false) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'qrelay_' });
    new client.Gauge({
      name: 'qrelay_held_polls',
      help: 'Polls held on this node right now.',
      registers,
      collect() {
        this.set(heldPolls());
      },
    });
    new client.Gauge({
      name: 'qrelay_draining',
      help: '1 while this node drains (shutting down: /readyz fails, new polls are refused), else 0.',
      registers,
      collect() {
        this.set(draining() ? 1 : 0);
      },
    });
    this.#pollEndings = new Tally({
      name: 'qrelay_poll_endings_total',
      help: 'Held polls ended, by reason (changed, timeout, superseded, client-closed, expired, shutdown).',
      labelName: 'reason',
      registers,
    });
    const metrics = this;
    new client.Counter({
      name: 'qrelay_sessions_created_total',
      help: 'Sessions minted.',
      registers,
      collect() {
        this.inc(metrics.#sessionsCreated);
        metrics.#sessionsCreated = 0;
      },
    });
    this.#sets = new Tally({
      name: 'qrelay_sets_total',
      help: 'Status changes asked for, by outcome (ok or the refusal code).',
      labelName: 'outcome',
      registers,
    });
    this.#handOuts = new Tally({
      name: 'qrelay_hand_outs_total',
      help: 'Final statuses handed to a poll, by status (confirmed, cancelled, expired).',
      labelName: 'status',
      registers,
    });
    this.#errors = new Tally({
      name: 'qrelay_errors_total',
      help: 'Requests answered with an error, by its catalog code, on both listeners.',
      labelName: 'code',
      registers,
    });
    const delivery = new client.Histogram({
      name: 'qrelay_set_to_delivery_seconds',
      help: 'From a set arriving to the held poll being woken (locally or through a forward).',
      labelNames: ['via'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#delivery = { local: delivery.labels('local'), forward: delivery.labels('forward') };
    this.#forwards = new client.Counter({ name: 'qrelay_forwards_total', help: 'Changes forwarded to the node holding the poll.', registers });
    this.#forwardFailures = new client.Counter({
      name: 'qrelay_forward_failures_total',
      help: 'Forwards that failed, by cause (timeout, refused, tls, seal, status, error).',
      labelNames: ['cause'],
      registers,
    });
    this.#redisErrors = new client.Counter({ name: 'qrelay_redis_errors_total', help: 'Redis connection errors.', registers });
    this.#replicasBehind = new client.Counter({
      name: 'qrelay_redis_replicas_behind_total',
      help: 'Changes answered 503 because fewer than REDIS_MIN_REPLICAS replicas acknowledged them within REDIS_REPLICA_WAIT_MS.',
      registers,
    });
    this.#tokenRejections = new client.Counter({ name: 'qrelay_token_rejections_total', help: 'Polls with a wrong token for an existing session, answered 404 (past MAX_TOKEN_FAILURES they count in qrelay_rate_limited_total instead).', registers });
    this.#unrecorded = new client.Counter({
      name: 'qrelay_hand_outs_unrecorded_total',
      help: 'Final statuses sent whose delivery could not be recorded before their lease ended (they may be handed out again).',
      registers,
    });
    this.#rateLimited = new client.Counter({
      name: 'qrelay_rate_limited_total',
      help: 'Requests refused by a limit, by limit.',
      labelNames: ['limit'],
      registers,
    });
    this.#unsubscribe = observe(origin, {
      sessionCreated: () => {
        this.#sessionsCreated++;
      },
      pollEnded: (m) => this.#pollEndings.add(m.reason),
      statusSet: (m) => this.#sets.add(m.outcome),
      delivered: (m) => this.#delivery[m.via].observe(m.seconds),
      tokenRejected: () => this.#tokenRejections.inc(),
      finalHandedOut: (m) => this.#handOuts.add(m.status),
      handOutUnrecorded: () => this.#unrecorded.inc(),
      refused: (m) => this.#errors.add(m.code),
      limitHit: (m) => this.#rateLimited.inc({ limit: m.limit }),
      forwarded: () => this.#forwards.inc(),
      forwardFailed: (m) => this.#forwardFailures.inc({ cause: m.cause }, m.changes),
      replicasBehind: () => this.#replicasBehind.inc(),
      redisError: () => this.#redisErrors.inc(),
    });
  }

  /** Stops counting (the registry keeps what it counted). */
  close(): void {
    this.#unsubscribe();
  }
}
