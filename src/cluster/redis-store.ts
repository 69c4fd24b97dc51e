// The Redis store: sessions shared by every node (single Redis, Sentinel or Redis Cluster).
//
// Each session is one hash that Redis expires at expiresAt + grace, so nothing needs a sweeper.
// Every write is one atomic step: a Lua script (src/cluster/scripts) for creation, a transition, a
// poll's route claim and each step of a hand-out. Nothing is read-then-written from here.
//
// Commands sent in one turn of the event loop go out in one write (see WriteBatch), and Redis
// answers them in one write too.
//
// A lasting change (a status change, each step of a hand-out's record, a redemption) is answered
// only once REDIS_MIN_REPLICAS replicas hold it: a WAIT leaves right behind its script, in the
// same write on the same connection (on a Redis Cluster, in one pipeline to the key's shard), so
// its reply comes right behind the script's and costs only the replicas' acknowledgement; the
// lasting changes of one turn share one WAIT. They have a connection of their own, since Redis
// holds a connection's later commands while its WAIT waits. When
// fewer acknowledge within REDIS_REPLICA_WAIT_MS the call fails with ReplicasBehind (503): the
// change is on the primary but may not survive a failover, so nobody has been told of it, and a
// retry is safe (docs/delivery.md: a repeated status change is answered as applied; a redemption
// is given back; a hand-out is given back by its owner, HandOuts). A session's creation, a poll's
// route claim, a counter, a give-back and a destroy do not wait: losing them costs a retry at most.
//
// A connection that is answered READONLY is talking to a primary that was demoted to a replica:
// it is dropped and ioredis reconnects, through the sentinels to the current primary. With
// Sentinel, the client also listens for the sentinels' +switch-master and reconnects at once.
//
// The client runs without an offline queue: while Redis is unreachable, commands fail at once
// (the service answers 503 store_unavailable) instead of piling up, and ioredis keeps reconnecting
// on its own, so the node recovers without a restart.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { channels, Origin } from '../core/channels.js';
import { UNKNOWN_SESSION, WRONG_TOKEN, type HandOutStart, type PollRead, type RedeemOutcome, type SessionStore, type TicketGrant, type TransitionOutcome } from '../core/session-store.js';
import { changeDigest, REFUSAL_CODES, refusal, type JsonObject, type RefusalCode, type SessionStatus, type StatusChange, type StoredSession } from '../core/session.js';
import type { CounterFactory } from '../limits/counters.js';
import { redisCounters } from './redis-counters.js';
import { F, luaScript, sessionKeys, V } from './redis-keys.js';
import { defaults } from '../defaults.js';

const script = (name: string): string => luaScript(readFileSync(new URL(`./scripts/${name}.lua`, import.meta.url), 'utf8'));

type Reply = Array<string | number | null>;

/** The scripted commands defineCommand adds to the client. */
interface Scripts {
  qrelayCreate(session: string, expireAt: number, ...fields: Array<string | number>): Promise<number>;
  qrelayTransition(session: string, route: string, ...argv: string[]): Promise<Reply>;
  qrelayPoll(session: string, route: string, tokenHash: string, since: number, holder: string, ttlMs: number, now: number): Promise<string[]>;
  qrelayBeginHandOut(
    session: string,
    ticket: string,
    now: number,
    leaseMs: number,
    status: string,
    version: number,
    leaseId: string,
    ticketHash: string,
    ticketTtlMs: number,
  ): Promise<Reply>;
  qrelayAbandonHandOut(session: string, leaseId: string): Promise<number>;
  qrelayCompleteHandOut(session: string): Promise<number>;
  qrelayRedeemTicket(ticket: string, hash: string, attempt: string): Promise<Reply>;
  qrelaySettleRedemption(ticket: string, attempt: string, outcome: typeof V.final | typeof V.back): Promise<number>;
}
type Client = (Redis | Cluster) & Scripts;

/** A lasting change that fewer than REDIS_MIN_REPLICAS replicas acknowledged in time. */
export class ReplicasBehind extends Error {
  override readonly name = 'ReplicasBehind';

  constructor(acknowledged: number, wanted: number, waitMs: number) {
    super(`${acknowledged} of ${wanted} replicas acknowledged the change within ${waitMs} ms`);
  }
}

export type RedisTarget =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly string[] }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly string[]; readonly name: string };

export interface RedisStoreOptions {
  target: RedisTarget;
  /**
   * TLS to Redis with this CA (REDIS_TLS_CA): to the server of a rediss:// URL, to every node of a
   * Redis Cluster, to the Sentinels and the master they name. A rediss:// URL without it uses
   * the system's CAs.
   */
  tls?: { readonly ca: Buffer } | undefined;
  prefix: string;
  /** How long after expiry a session is kept, ms. */
  graceMs: number;
  /** A command not answered within this is failed (Redis hung or partitioned), ms. */
  commandTimeoutMs?: number;
  /** Replicas that must hold a lasting change before it resolves; 0 (the default) sends no WAIT. */
  minReplicas?: number;
  /** How long a lasting change waits for them, ms (below commandTimeoutMs). */
  replicaWaitMs?: number;
  /** The node its messages name (channels.ts): redis errors, replicas behind, failed clean-ups. */
  origin?: Origin | undefined;
  onError?: (err: Error) => void;
  onReady?: () => void;
}

const hostPort = (s: string): { host: string; port: number } => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

const reconnectWaitMs = (times: number): number => Math.min(defaults.redisReconnectStepMs * times, defaults.redisReconnectMaxMs);

const DEMOTED = /\bREADONLY\b|WAIT cannot be used with replica/;
const MOVED_OR_DEMOTED = /^(MOVED|ASK) |\bREADONLY\b|WAIT cannot be used with replica/;

function connect(target: RedisTarget, commandTimeoutMs: number, tls: RedisStoreOptions['tls']): Redis | Cluster {
  const options: RedisOptions = {
    ...(tls === undefined ? {} : { tls: { ca: tls.ca } }),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: defaults.redisConnectTimeoutMs,
    retryStrategy: reconnectWaitMs,
    // A demoted primary (a write, or a WAIT, refused by a replica): drop the connection (the
    // command fails, 503) and reconnect to the primary.
    reconnectOnError: (err) => DEMOTED.test(err.message),
    // A command in flight when its connection drops fails (503; the caller retries) rather than
    // being sent again on the next connection: a WAIT sent again there would count the replicas
    // of another primary, which never had the write it was to vouch for.
    autoResendUnfulfilledCommands: false,
    connectionName: 'qrelay',
  };
  switch (target.kind) {
    case 'url':
      return new Redis(target.url, options);
    case 'sentinel':
      // failoverDetector: the sentinels' +switch-master makes the client reconnect at once, instead
      // of writing to the old primary until something breaks its connection.
      return new Redis({
        ...options,
        ...(tls === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: { ca: tls.ca } }),
        sentinels: target.sentinels.map(hostPort),
        name: target.name,
        failoverDetector: true,
      });
    case 'cluster':
      return new Cluster(target.nodes.map(hostPort), {
        enableOfflineQueue: false,
        redisOptions: options,
        clusterRetryStrategy: reconnectWaitMs,
      });
  }
}

/**
 * Holds a single Redis connection's writes until the current turn of the event loop is over
 * (setImmediate), so the commands of one turn leave in one write and Redis answers them in one:
 * what ioredis's auto-pipelining does, without a Pipeline object, an extra promise and a
 * process.nextTick per command. The commands stay ordinary ones: each is queued, answered and
 * timed out on its own. Not on a Redis Cluster (many connections; none is corked).
 */
class WriteBatch {
  readonly #client: Redis | Cluster;
  #held: Socket | undefined;
  /** This turn's WAIT, shared by its lasting changes, and what sends it at the turn's end. */
  #ack: Promise<number> | undefined;
  #sendAck: (() => void) | undefined;
  readonly #release = (): void => {
    const socket = this.#held;
    const sendAck = this.#sendAck;
    this.#held = undefined;
    this.#ack = undefined;
    this.#sendAck = undefined;
    sendAck?.(); // still corked: the WAIT leaves in the same write, behind everything of the turn
    socket?.uncork();
  };

  constructor(client: Redis | Cluster) {
    this.#client = client;
  }

  /** Holds the connection's writes from now until this turn's end, unless already held. */
  hold(): void {
    if (this.#held !== undefined || this.#client instanceof Cluster) return;
    const socket = this.#client.stream as Socket | undefined;
    if (socket === undefined || !socket.writable) return; // not connected: the command fails at once
    socket.cork();
    this.#held = socket;
    setImmediate(this.#release);
  }

  /**
   * How many replicas hold every write sent so far: one WAIT at this turn's end, shared by every
   * command of the turn that asks (a WAIT waits for all of its connection's writes before it).
   */
  replicaAck(replicas: number, timeoutMs: number): Promise<number> {
    if (this.#held === undefined) return this.#client.wait(replicas, timeoutMs); // the writes left already
    this.#ack ??= new Promise<number>((resolve, reject) => {
      this.#sendAck = () => void this.#client.wait(replicas, timeoutMs).then(resolve, reject);
    });
    return this.#ack;
  }
}

function defineScripts(client: Redis | Cluster): Client {
  client.defineCommand('qrelayCreate', { numberOfKeys: 1, lua: script('create') });
  client.defineCommand('qrelayTransition', { numberOfKeys: 2, lua: script('transition') });
  client.defineCommand('qrelayPoll', { numberOfKeys: 2, lua: script('poll') });
  client.defineCommand('qrelayBeginHandOut', { numberOfKeys: 2, lua: script('begin-hand-out') });
  client.defineCommand('qrelayAbandonHandOut', { numberOfKeys: 1, lua: script('abandon-hand-out') });
  client.defineCommand('qrelayCompleteHandOut', { numberOfKeys: 1, lua: script('complete-hand-out') });
  client.defineCommand('qrelayRedeemTicket', { numberOfKeys: 1, lua: script('redeem-ticket') });
  client.defineCommand('qrelaySettleRedemption', { numberOfKeys: 1, lua: script('settle-redemption') });
  return client as Client;
}

/** A connection and its WriteBatch. */
interface Connection {
  readonly client: Client;
  readonly writes: WriteBatch;
}

export class RedisStore implements SessionStore {
  readonly #client: Client;
  readonly #writes: WriteBatch;
  /**
   * With minReplicas, the lasting changes and their WAITs go on a connection of their own: Redis
   * holds a connection's later commands while a WAIT waits, and polls must not queue behind a
   * lagging replica.
   */
  readonly #durable: Connection | undefined;
  readonly #prefix: string;
  readonly #graceMs: number;
  readonly #minReplicas: number;
  readonly #replicaWaitMs: number;
  readonly #origin: Origin;

  constructor(options: RedisStoreOptions) {
    const origin = options.origin ?? new Origin();
    this.#origin = origin;
    const open = (): Client => {
      const client = defineScripts(connect(options.target, options.commandTimeoutMs ?? defaults.redisCommandTimeoutMs, options.tls));
      client.on('error', (error: Error) => {
        if (channels.redisError.hasSubscribers) channels.redisError.publish({ origin, error });
        options.onError?.(error);
      });
      return client;
    };
    this.#client = open();
    if (options.onReady !== undefined) this.#client.on('ready', options.onReady);
    this.#writes = new WriteBatch(this.#client);
    this.#minReplicas = options.minReplicas ?? 0;
    if (this.#minReplicas > 0) {
      const client = open();
      this.#durable = { client, writes: new WriteBatch(client) };
    }
    this.#prefix = options.prefix;
    this.#graceMs = options.graceMs;
    this.#replicaWaitMs = options.replicaWaitMs ?? defaults.redisReplicaWaitMs;
  }

  /**
   * Runs script `name` for a lasting change: with minReplicas, a WAIT goes right behind it on the
   * same connection, and the reply is given only once that many replicas hold the change (and
   * every write this connection made before it); ReplicasBehind otherwise, whatever the script
   * answered (a refusal may rest on a state that is not safely stored either).
   */
  async #lasting<K extends keyof Scripts>(name: K, ...args: Parameters<Scripts[K]>): Promise<Awaited<ReturnType<Scripts[K]>>> {
    type Answer = Awaited<ReturnType<Scripts[K]>>;
    const durable = this.#durable;
    if (durable === undefined) {
      const batched = this.#batched();
      return (batched[name] as unknown as (...a: Parameters<Scripts[K]>) => Promise<Answer>).apply(batched, args);
    }
    const { client, writes } = durable;
    const wanted = this.#minReplicas;
    if (client instanceof Cluster) {
      // A pipeline would wait, unbounded, for a cluster that is not ready; a command fails at once.
      if (client.status !== 'ready') throw new Error("Cluster isn't ready and enableOfflineQueue options is false");
      // A keyless WAIT alone would go to a random node; a pipeline goes, whole, to the node
      // serving its keyed commands.
      const batch = client.pipeline();
      // ioredis adds the defined scripts to pipelines too; its types do not say so.
      const add = (batch as unknown as Record<K, (...a: Parameters<Scripts[K]>) => ChainableCommander>)[name];
      add.apply(batch, args);
      batch.wait(wanted, this.#replicaWaitMs);
      const [script, wait] = (await batch.exec()) ?? [];
      const failed = script?.[0] ?? wait?.[0];
      if (failed) {
        // A pipeline's commands are bound to their node: a slot that moved, or a primary that was
        // demoted, is not learned from their errors. Ask the cluster again, for the retry.
        if (MOVED_OR_DEMOTED.test(failed.message)) client.refreshSlotsCache();
        throw failed;
      }
      if (Number(wait?.[1]) < wanted) throw this.#behind(Number(wait?.[1]));
      return script?.[1] as Answer;
    }
    writes.hold();
    const reply = (client[name] as unknown as (...a: Parameters<Scripts[K]>) => Promise<Answer>).apply(client, args);
    const [answer, acknowledged] = await Promise.all([reply, writes.replicaAck(wanted, this.#replicaWaitMs)]);
    if (acknowledged < wanted) throw this.#behind(acknowledged);
    return answer;
  }

  #behind(acknowledged: number): ReplicasBehind {
    if (channels.replicasBehind.hasSubscribers) channels.replicasBehind.publish({ origin: this.#origin });
    return new ReplicasBehind(acknowledged, this.#minReplicas, this.#replicaWaitMs);
  }

  /** The client, its writes held to the end of this turn (WriteBatch): for every command sent. */
  #batched(): Client {
    this.#writes.hold();
    return this.#client;
  }

  /** Waits until the client is ready, at most `timeoutMs`; returns whether it is. */
  async ready(timeoutMs: number): Promise<boolean> {
    // Not events.once: it would give up at the first connection error, while ioredis retries.
    const deadline = Date.now() + timeoutMs;
    while (this.#client.status !== 'ready' || (this.#durable !== undefined && this.#durable.client.status !== 'ready')) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, defaults.redisReadyCheckMs));
    }
    return true;
  }

  async create(s: StoredSession): Promise<void> {
    const { session } = sessionKeys(this.#prefix, s.key);
    await this.#batched().qrelayCreate(
      session,
      s.expiresAt + this.#graceMs,
      F.tokenHash,
      s.tokenHash,
      F.status,
      s.status,
      F.version,
      s.version,
      F.expiresAt,
      s.expiresAt,
      F.ip,
      s.client.ip,
      F.userAgent,
      s.client.userAgent,
      F.acceptLanguage,
      s.client.acceptLanguage,
      F.createdAt,
      s.client.createdAt,
    );
  }

  async get(key: string): Promise<StoredSession | undefined> {
    return fromHash(key, await this.#batched().hgetall(sessionKeys(this.#prefix, key).session));
  }

  async poll(key: string, tokenHash: string, since: number, holder: string | undefined, ttlMs: number, now: number): Promise<PollRead> {
    const k = sessionKeys(this.#prefix, key);
    const reply = await this.#batched().qrelayPoll(k.session, k.route, tokenHash, since, holder ?? '', Math.ceil(ttlMs), now);
    if (reply.length < 2) return reply.length === 0 ? UNKNOWN_SESSION : WRONG_TOKEN;
    const session = fromHash(key, pairs(reply));
    return session === undefined ? UNKNOWN_SESSION : { found: true, session };
  }

  async transition(key: string, change: StatusChange, now: number): Promise<TransitionOutcome> {
    const k = sessionKeys(this.#prefix, key);
    const reply = await this.#lasting(
      'qrelayTransition',
      k.session,
      k.route,
      String(now),
      change.status,
      change.actor ?? '',
      change.data === undefined ? '' : JSON.stringify(change.data),
      change.ifVersion === undefined ? '' : String(change.ifVersion),
      changeDigest(change),
    );
    const [verdict, detail] = reply;
    if (verdict === V.missing) return undefined;
    if (verdict === V.ok) {
      const session = fromHash(key, pairs(reply.slice(2)));
      if (session === undefined) throw new Error('transition script returned no session');
      return { ok: true, session, holders: detail === '' || detail == null ? [] : String(detail).split(' ') };
    }
    if (!isRefusalCode(verdict)) throw new Error(`transition script answered ${String(verdict)}`);
    return { ok: false, refusal: refusal(verdict, detail, change) };
  }

  async beginHandOut(
    key: string,
    now: number,
    leaseMs: number,
    sending: { status: SessionStatus; version: number },
    leaseId: string,
    ticket?: TicketGrant,
  ): Promise<HandOutStart> {
    const k = sessionKeys(this.#prefix, key);
    const [verdict, detail] = await this.#lasting(
      'qrelayBeginHandOut',
      k.session,
      k.ticket,
      now,
      leaseMs,
      sending.status,
      sending.version,
      leaseId,
      ticket?.hash ?? '',
      Math.ceil(ticket?.ttlMs ?? 0),
    );
    switch (verdict) {
      case V.ok: {
        return { ok: true, data: detail === '' || detail == null ? undefined : (JSON.parse(String(detail)) as JsonObject) };
      }
      case V.delivered:
        return { ok: false, delivered: true };
      case V.changed:
        return { ok: false, changed: true };
      case V.busy:
        return { ok: false, delivered: false, busyMs: Number(detail) };
      default:
        throw new Error(`hand-out script answered ${String(verdict)}`);
    }
  }

  /**
   * With minReplicas, the redemption is marked with this attempt's id and made final only once the
   * replicas hold the mark; if they do not (or anything fails), the mark is given back before the
   * caller hears 503, so its retry can still have the one 200. A give-back lost in a failover
   * leaves the ticket redeemed (410): a login lost, never a second 200.
   */
  async redeemTicket(key: string, hash: string): Promise<RedeemOutcome> {
    const ticket = sessionKeys(this.#prefix, key).ticket;
    const attempt = this.#minReplicas === 0 ? '' : randomUUID();
    // Settled on the connection that marked it, so the settlement runs after the mark.
    const settle = (outcome: typeof V.final | typeof V.back): Promise<boolean> => {
      const durable = this.#durable;
      if (durable === undefined) return Promise.resolve(true);
      durable.writes.hold();
      return durable.client.qrelaySettleRedemption(ticket, attempt, outcome).then(
        () => true,
        (error: unknown) => {
          if (channels.cleanupFailed.hasSubscribers) channels.cleanupFailed.publish({ origin: this.#origin, step: 'settle-redemption', error });
          return false;
        },
      );
    };
    let reply: Reply;
    try {
      reply = await this.#lasting('qrelayRedeemTicket', ticket, hash, attempt);
    } catch (err) {
      // Given back, retried while it fails (a reconnect, say): a mark left behind would make the
      // ticket answer 410 to the retry of a redemption nobody was answered 200 for.
      if (attempt !== '') {
        for (const waitMs of defaults.handOutRecordBackoffMs) {
          if (await settle(V.back)) break;
          await new Promise((resolve) => setTimeout(resolve, waitMs));
        }
      }
      throw err;
    }
    // Losing this to a failover leaves the acknowledged mark: the ticket still answers 410.
    if (attempt !== '' && reply[0] === V.ok) void settle(V.final);
    if (reply[0] === V.unknown) return { ok: false, reason: 'unknown' };
    if (reply[0] === V.redeemed) return { ok: false, reason: 'redeemed' };
    const h = pairs(reply.slice(1));
    const data = h[F.data];
    return {
      ok: true,
      redemption: {
        key,
        actor: h[F.actor],
        data: data === undefined ? undefined : (JSON.parse(data) as JsonObject),
        client: { ip: h[F.ip] ?? '', userAgent: h[F.userAgent] ?? '', acceptLanguage: h[F.acceptLanguage] ?? '', createdAt: Number(h[F.createdAt]) },
        confirmedAt: Number(h[F.confirmedAt]),
      },
    };
  }

  async completeHandOut(key: string): Promise<void> {
    await this.#lasting('qrelayCompleteHandOut', sessionKeys(this.#prefix, key).session);
  }

  async abandonHandOut(key: string, leaseId: string): Promise<void> {
    // On the connection that took the lease (with minReplicas, the lasting changes' own), so the
    // give-back is run after the take it undoes, never before it.
    const durable = this.#durable;
    if (durable !== undefined) durable.writes.hold();
    await (durable?.client ?? this.#batched()).qrelayAbandonHandOut(sessionKeys(this.#prefix, key).session, leaseId);
  }

  /** The limits' counters, in this Redis (one connection for sessions and counters). */
  counters(): CounterFactory {
    return redisCounters(this.#client, this.#prefix, () => this.#writes.hold());
  }

  async ping(): Promise<void> {
    await this.#batched().ping();
  }

  /**
   * The primaries with fewer connected replicas than minReplicas (host:port and how many they
   * have): every lasting change on such a primary answers 503 until enough replicas connect.
   */
  async primariesShortOfReplicas(): Promise<Array<{ readonly primary: string; readonly replicas: number }>> {
    if (this.#minReplicas === 0) return [];
    const client = this.#client;
    const primaries: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
    const short = [];
    for (const node of primaries) {
      const replicas = Number(/^connected_slaves:(\d+)/m.exec(await node.info('replication'))?.[1] ?? 0);
      if (replicas < this.#minReplicas) short.push({ primary: `${node.options.host ?? ''}:${node.options.port ?? ''}`, replicas });
    }
    return short;
  }

  async close(): Promise<void> {
    const quit = async (client: Client): Promise<void> => {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    };
    await Promise.all([quit(this.#client), this.#durable === undefined ? undefined : quit(this.#durable.client)]);
  }
}

function pairs(flat: ReadonlyArray<string | number | null>): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

function fromHash(key: string, h: Record<string, string>): StoredSession | undefined {
  const status = h[F.status];
  if (status === undefined) return undefined;
  const data = h[F.data];
  const dl = h[F.delivered];
  const leased = dl !== undefined && dl !== '1';
  return {
    key,
    tokenHash: h[F.tokenHash] ?? '',
    status: status as SessionStatus,
    version: Number(h[F.version]),
    expiresAt: Number(h[F.expiresAt]),
    client: {
      ip: h[F.ip] ?? '',
      userAgent: h[F.userAgent] ?? '',
      acceptLanguage: h[F.acceptLanguage] ?? '',
      createdAt: Number(h[F.createdAt]),
    },
    actor: h[F.actor],
    data: data === undefined ? undefined : (JSON.parse(data) as StoredSession['data']),
    delivered: dl === '1',
    leasedUntil: leased ? Number(dl) : undefined,
    leasedBy: leased ? h[F.leasedBy] : undefined,
    confirmedAt: h[F.confirmedAt] === undefined ? undefined : Number(h[F.confirmedAt]),
    changeDigest: h[F.changeDigest],
  };
}

const isRefusalCode = (verdict: unknown): verdict is RefusalCode => (REFUSAL_CODES as readonly unknown[]).includes(verdict);
