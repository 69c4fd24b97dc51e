// What a node does, published on node:diagnostics_channel the way undici reports its requests:
// the core and the layers around it publish; metrics and the lifecycle log subscribe, and so may
// a tracer or a test, without the publishers knowing any of them. Every channel is declared here,
// with the shape of its messages.
//
// Channels are process-wide and several nodes may share a process (the tests), so every message
// names the node that published it (its Origin), and an observer of a node keeps only its own
// node's messages (observe()). A publisher checks `hasSubscribers` before it builds a message, so
// a channel nobody listens to costs one property read.
import diagnostics from 'node:diagnostics_channel';
import type { ErrorCode } from '../errors.js';
import type { PollEndReason } from './pending-polls.js';
import type { SessionStatus, TransitionRefusal } from './session.js';

let origins = 0;

/** A node as its messages name it: compared by identity; `id` tells nodes apart to a reader. */
export class Origin {
  readonly id = ++origins;
}

/** How a status change ended: applied, or the catalogued reason it was not. */
export type SetOutcome = 'ok' | 'not_found' | TransitionRefusal['code'] | 'store_unavailable';

/** The abuse limits, as Limits names them when one refuses a request. */
export type LimitName = 'sessions_per_ip' | 'qr_per_ip' | 'polls_per_ip' | 'polls_per_node' | 'token_failures';

/**
 * Why a forward failed: no answer in time, no connection, the holder's certificate refused, the
 * holder refused the seal (401: another CLUSTER_TOKEN, or clocks further apart than the window),
 * another status, or anything else.
 */
export type ForwardFailure = 'timeout' | 'refused' | 'tls' | 'seal' | 'status' | 'error';

/** The messages of each channel, by the name it has in `channels`. */
export interface Messages {
  /** A session was minted. */
  sessionCreated: { readonly key: string };
  /** A held poll ended (a poll answered at once was never held, and is not published). */
  pollEnded: { readonly reason: PollEndReason };
  /** A status change was asked for; `change` when it was applied. */
  statusSet: { readonly key: string; readonly outcome: SetOutcome; readonly change?: { readonly status: SessionStatus; readonly version: number; readonly delivered: boolean } };
  /** A set woke a held poll, `seconds` after the set arrived. */
  delivered: { readonly seconds: number; readonly via: 'local' | 'forward' };
  /** A poll presented a wrong token for an existing session, and was answered not_found (not refused by the limit). */
  tokenRejected: { readonly key: string };
  /** A final status was handed to a poll, and recorded as delivered. */
  finalHandedOut: { readonly key: string; readonly status: SessionStatus };
  /** A sent final status could not be recorded before its lease ended: it may be handed out again. */
  handOutUnrecorded: { readonly key: string; readonly cause: unknown };
  /** A request was answered with an error of the catalog, on either listener. */
  refused: { readonly code: ErrorCode };
  /** A limit refused a request. */
  limitHit: { readonly limit: LimitName };
  /** A change was handed to the relay for another node. */
  forwarded: Record<never, never>;
  /** `changes` forwards to `route` failed together (one request), for `cause`. */
  forwardFailed: { readonly cause: ForwardFailure; readonly route: string; readonly changes: number; readonly error: unknown };
  /** A lasting change was answered 503: fewer than REDIS_MIN_REPLICAS replicas acknowledged it in time. */
  replicasBehind: Record<never, never>;
  /** The Redis client reported an error (a connection lost, refused, timed out). */
  redisError: { readonly error: Error };
  /**
   * Giving something back to the store failed (a hand-out's lease, a ticket's redemption mark):
   * it lapses on its own, or stays as it is (docs of the step's caller say which).
   */
  cleanupFailed: { readonly step: 'give-back-hand-out' | 'settle-redemption'; readonly error: unknown };
}

export type Message<K extends keyof Messages> = Messages[K] & { readonly origin: Origin };

/** A diagnostics channel whose messages have one shape. */
export interface Channel<M> {
  readonly name: string | symbol;
  readonly hasSubscribers: boolean;
  publish(message: M): void;
  subscribe(onMessage: (message: M) => void): void;
  unsubscribe(onMessage: (message: M) => void): boolean;
}

const named = <K extends keyof Messages>(name: string): Channel<Message<K>> => diagnostics.channel(name) as unknown as Channel<Message<K>>;

export const channels: { readonly [K in keyof Messages]: Channel<Message<K>> } = Object.freeze({
  sessionCreated: named<'sessionCreated'>('qrelay:session.created'),
  pollEnded: named<'pollEnded'>('qrelay:poll.ended'),
  statusSet: named<'statusSet'>('qrelay:status.set'),
  delivered: named<'delivered'>('qrelay:status.delivered'),
  tokenRejected: named<'tokenRejected'>('qrelay:poll.token_rejected'),
  finalHandedOut: named<'finalHandedOut'>('qrelay:hand_out.recorded'),
  handOutUnrecorded: named<'handOutUnrecorded'>('qrelay:hand_out.unrecorded'),
  refused: named<'refused'>('qrelay:request.refused'),
  limitHit: named<'limitHit'>('qrelay:limit.hit'),
  forwarded: named<'forwarded'>('qrelay:forward.sent'),
  forwardFailed: named<'forwardFailed'>('qrelay:forward.failed'),
  replicasBehind: named<'replicasBehind'>('qrelay:redis.replicas_behind'),
  redisError: named<'redisError'>('qrelay:redis.error'),
  cleanupFailed: named<'cleanupFailed'>('qrelay:store.cleanup_failed'),
});

export type Observer = { readonly [K in keyof Messages]?: (message: Message<K>) => void };

/**
 * Subscribes `observer` to the messages `origin` publishes, each handler to its channel; returns
 * the unsubscribe, which ends every subscription made here (calls after the first do nothing).
 */
export function observe(origin: Origin, observer: Observer): () => void {
  const subscribed: Array<() => void> = [];
  for (const name of Object.keys(observer) as Array<keyof Messages>) {
    const handler = observer[name] as ((message: Message<typeof name>) => void) | undefined;
    if (handler === undefined) continue;
    const channel = channels[name] as Channel<Message<typeof name>>;
    const onMessage = (message: Message<typeof name>): void => {
      if (message.origin === origin) handler(message);
    };
    channel.subscribe(onMessage);
    subscribed.push(() => channel.unsubscribe(onMessage));
  }
  return () => {
    for (const unsubscribe of subscribed.splice(0)) unsubscribe();
  };
}
