// The two failovers the chaos tests and the soak put logins through, on any topology that can
// name a shard's primary and replica, promote one, and bring the old primary back as a replica.
//
// In each, logins at every stage (only minted; confirmed; handed out; from the mint on) go on
// while the failover happens, so every kind of acknowledged change (a set, a hand-out, a
// redemption; and a mint, counted apart) is made in the window where a Redis without WAIT loses it.
// If the failover itself fails, the logins are given up at once rather than left running.
import { AuditedLogins, type Flow, type Login, type Summary } from './audited-logins.js';
import { holdBack, untilInStep, type RedisProcess } from './redis.js';

/**
 * What qrelay runs with under failovers: one replica must hold each lasting change before it is
 * acknowledged. Sessions and tickets outlive the run, so that the audit after it (minutes after
 * the first logins, in the soak) finds nothing lapsed.
 */
export const FAILOVER_ENV: Record<string, string> = { REDIS_MIN_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '500', SESSION_TTL_MS: '1800000', TICKET_TTL_MS: '1800000' };

/** One primary and its replica in a topology, and how the topology moves between them. */
export interface Pair {
  readonly primary: RedisProcess;
  readonly replica: RedisProcess;
  /** Waits until `server` is the primary the clients are told about. */
  untilPromoted(server: RedisProcess): Promise<void>;
  /** Starts the stopped `old` primary again, as a replica of `primary`. */
  restartAsReplica(old: RedisProcess, primary: RedisProcess): Promise<void>;
  /** Whether a session key lands on this pair (a Redis Cluster has other shards). */
  accept?: (key: string) => Promise<boolean>;
}

export interface FailoverOptions {
  /** Logins at each of the four stages. */
  perStage: number;
  /** How long the logins may take from the failover's start, ms. */
  windowMs: number;
  /**
   * The logins set off one after another over this long, ms, so that whenever the topology
   * changes some request is on its way (retries of the first ones come in step otherwise).
   */
  spreadMs?: number;
}

/** Mints logins and takes them to each stage the failover will find them at. */
async function stages(logins: AuditedLogins, pair: Pair, perStage: number): Promise<Login[]> {
  const [minted, confirmed, handedOut] = await Promise.all([
    logins.prepare(perStage, 'minted', pair.accept),
    logins.prepare(perStage, 'confirmed', pair.accept),
    logins.prepare(perStage, 'handedOut', pair.accept),
  ]);
  return [...minted, ...confirmed, ...handedOut];
}

/** Drives the staged logins, and as many fresh ones, to their redemption, setting off over `spreadMs`. */
function finish(logins: AuditedLogins, pair: Pair, staged: Login[], fresh: number, spreadMs = 0): Flow[] {
  const all: Array<Login | undefined> = [...staged, ...Array.from({ length: fresh }, () => undefined)];
  // Every stage comes as a block of `fresh` logins: taken in turns, each spreads over the whole time.
  const order = all.map((_, i) => i).sort((a, b) => (a % fresh) - (b % fresh) || a - b);
  const delay = new Map(order.map((i, rank) => [i, (rank * spreadMs) / all.length]));
  return all.map((login, i) => logins.start('redeemed', login, login === undefined ? pair.accept : undefined, delay.get(i)));
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits for `failover`; if it fails, the logins give up at once (their next try is past the deadline). */
async function givingUp(logins: AuditedLogins, failover: Promise<void>): Promise<void> {
  try {
    await failover;
  } catch (err) {
    logins.deadline = 0;
    throw err;
  }
}

async function settle(logins: AuditedLogins, flows: Flow[]): Promise<Summary> {
  await Promise.all(flows.map((f) => f.done));
  logins.deadline = Date.now() + 30_000;
  return logins.audit();
}

/**
 * Holds the replica back (paused, its link cut), runs `during`, kills the primary and resumes the
 * replica, which is promoted without what it missed; the old primary comes back as its replica.
 */
export async function killPrimaryBehind(pair: Pair, during: () => Promise<void>): Promise<void> {
  const { primary, replica } = pair;
  await untilInStep(replica, primary);
  await holdBack(replica, primary);
  await during();
  await primary.stop(true);
  replica.resume();
  await pair.untilPromoted(replica);
  await pair.restartAsReplica(primary, replica);
  await untilInStep(primary, replica);
}

/**
 * Pauses the primary, runs `during`, and once the replica is promoted resumes the old primary,
 * still a primary in its own eyes, until the topology makes it a replica of the new one (a
 * Sentinel does so some seconds later; a cluster node as soon as it hears of the newer epoch).
 */
export async function resumePrimaryAfterPromotion(pair: Pair, during: () => Promise<void>, timeoutMs = 60_000): Promise<void> {
  const { primary, replica } = pair;
  await untilInStep(replica, primary);
  primary.pause();
  await during();
  await pair.untilPromoted(replica);
  primary.resume();
  await untilInStep(primary, replica, timeoutMs);
}

/**
 * killPrimaryBehind with logins at every stage going on meanwhile: the primary dies once each
 * of them has finished or been refused.
 */
export async function killPrimaryBehindReplica(logins: AuditedLogins, pair: Pair, options: FailoverOptions): Promise<Summary> {
  const staged = await stages(logins, pair, options.perStage);
  let flows: Flow[] = [];
  await givingUp(
    logins,
    killPrimaryBehind(pair, async () => {
      logins.deadline = Date.now() + options.windowMs;
      flows = finish(logins, pair, staged, options.perStage, options.spreadMs);
      // With WAIT nothing is acknowledged now: each login gets refused.
      await waitUntil(() => flows.every((f) => f.settled || f.refusals > 0), options.windowMs, 'every login to finish or be refused');
    }),
  );
  return settle(logins, flows);
}

/** resumePrimaryAfterPromotion with logins at every stage going on from the pause. */
export async function resumeStalePrimary(logins: AuditedLogins, pair: Pair, options: FailoverOptions): Promise<Summary> {
  const staged = await stages(logins, pair, options.perStage);
  let flows: Flow[] = [];
  await givingUp(
    logins,
    resumePrimaryAfterPromotion(
      pair,
      async () => {
        logins.deadline = Date.now() + options.windowMs;
        flows = finish(logins, pair, staged, options.perStage, options.spreadMs);
      },
      options.windowMs,
    ),
  );
  return settle(logins, flows);
}
