// Prometheus metrics (prom-client), one registry per node so several nodes can share a process
// (tests). Served on the private listener at GET /metrics.
//
// The counters of events on every wake count in plain fields (Tally) and hand their counts to
// prom-client when it collects (a scrape, or a test reading the metric): prom-client's inc()
// builds and hashes a label string on every call.
import client from 'prom-client';
import type { ForwardFailure } from '../cluster/http-relay.js';
import type { PollEndReason } from '../core/pending-polls.js';
import type { ServiceEvents, SetOutcome } from '../core/service-events.js';

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

export class Metrics implements ServiceEvents {
  readonly registry = new client.Registry();
  readonly #pollEndings: Tally<PollEndReason>;
  #sessionsCreated = 0;
  readonly #sets: Tally<SetOutcome>;
  /** The delivery histogram's children by `via`, bound once. */
  readonly #delivery: Readonly<Record<'local' | 'forward', { observe(seconds: number): void }>>;
  readonly #forwards: client.Counter;
  readonly #forwardFailures: client.Counter<'cause'>;
  readonly #redisErrors: client.Counter;
  readonly #replicasBehind: client.Counter;
  readonly #tokenRejections: client.Counter;
  readonly #rateLimited: client.Counter<'limit'>;
  readonly #unrecorded: client.Counter;

  constructor(heldPolls: () => number) {
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
    this.#pollEndings = new Tally({
      name: 'qrelay_poll_endings_total',
      help: 'Held polls ended, by reason (changed, timeout, superseded, client-closed, expired, destroyed, shutdown).',
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
      help: 'Forwards that failed, by cause (timeout, refused, status, error).',
      labelNames: ['cause'],
      registers,
    });
    this.#redisErrors = new client.Counter({ name: 'qrelay_redis_errors_total', help: 'Redis connection errors.', registers });
    this.#replicasBehind = new client.Counter({
      name: 'qrelay_redis_replicas_behind_total',
      help: 'Changes answered 503 because fewer than REDIS_MIN_REPLICAS replicas acknowledged them within REDIS_REPLICA_WAIT_MS.',
      registers,
    });
    this.#tokenRejections = new client.Counter({ name: 'qrelay_token_rejections_total', help: 'Polls with a wrong token for an existing session.', registers });
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
  }

  sessionCreated(): void {
    this.#sessionsCreated++;
  }
  pollEnded(reason: PollEndReason): void {
    this.#pollEndings.add(reason);
  }
  statusSet(_key: string, outcome: SetOutcome): void {
    this.#sets.add(outcome);
  }
  delivered(seconds: number, via: 'local' | 'forward'): void {
    this.#delivery[via].observe(seconds);
  }
  tokenRejected(): void {
    this.#tokenRejections.inc();
  }
  finalHandedOut(): void {}
  handOutUnrecorded(): void {
    this.#unrecorded.inc();
  }

  forwarded(): void {
    this.#forwards.inc();
  }
  forwardFailed(cause: ForwardFailure, changes = 1): void {
    this.#forwardFailures.inc({ cause }, changes);
  }
  redisError(): void {
    this.#redisErrors.inc();
  }
  replicasBehind(): void {
    this.#replicasBehind.inc();
  }
  rateLimited(limit: string): void {
    this.#rateLimited.inc({ limit });
  }
}
