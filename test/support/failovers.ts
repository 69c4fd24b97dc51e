// The two failovers the chaos tests and the soak put logins through, on any topology that can
// name a shard's primary and replica, promote one, and bring the old primary back as a replica.
//
// In each, logins at every stage (only minted; confirmed; handed out; from the mint on) go on
// while the failover happens, so every kind of acknowledged change (a set, a hand-out, a
// redemption, a mint) is made in the window where a Redis without WAIT loses it.
import { AuditedLogins, type Flow, type Login, type Summary } from './audited-logins.js';
import { holdBack, untilInStep, type RedisProcess } from './redis.js';

/** What qrelay runs with under failovers: one replica must hold each lasting change before it is acknowledged. */
export const DURABLE_ENV: Record<string, string> = { REDIS_MIN_REPLICAS: '1', REDIS_REPLICA_WAIT_MS: '500' };

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
}

/** Mints logins and takes them to each stage the failover will find them at. */
async function stages(logins: AuditedLogins, pair: Pair, perStage: number): Promise<Login[]> {
  const [minted, confirmed, handedOut] = await Promise.all([
    logins.prepare(perStage, 'minted', pair.accept),
    logins.prepare(perStage, 'confirmed', pair.accept),
    logins.prepare(perStage, 'handedOut', pair.accept),
  ]);
  return [...minted!, ...confirmed!, ...handedOut!];
}

/** Drives the staged logins, and as many fresh ones, to their redemption. */
function finish(logins: AuditedLogins, pair: Pair, staged: Login[], fresh: number): Flow[] {
  return [...staged.map((l) => logins.start('redeemed', l)), ...Array.from({ length: fresh }, () => logins.start('redeemed', undefined, pair.accept))];
}

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function settle(logins: AuditedLogins, flows: Flow[]): Promise<Summary> {
  await Promise.all(flows.map((f) => f.done));
  logins.deadline = Date.now() + 30_000;
  return logins.audit();
}

/**
 * The replica falls behind (paused, its link cut) while logins go on; once each login has been
 * answered or refused, the primary is killed and the replica, resumed, is promoted without what
 * it missed. The old primary comes back as its replica.
 */
export async function killPrimaryBehindReplica(logins: AuditedLogins, pair: Pair, options: FailoverOptions): Promise<Summary> {
  const { primary, replica } = pair;
  const staged = await stages(logins, pair, options.perStage);
  await untilInStep(replica, primary);
  await holdBack(replica, primary);
  logins.deadline = Date.now() + options.windowMs;
  const flows = finish(logins, pair, staged, options.perStage);
  // Each login has either finished or been refused (with WAIT, nothing is acknowledged now).
  await waitUntil(() => flows.every((f) => f.settled || f.refusals > 0), options.windowMs, 'every login to finish or be refused');
  await primary.stop(true);
  replica.resume();
  await pair.untilPromoted(replica);
  await pair.restartAsReplica(primary, replica);
  await untilInStep(primary, replica);
  return settle(logins, flows);
}

/**
 * The primary is paused while logins go on; once the replica is promoted the old primary
 * resumes, still a primary in its own eyes, until the topology makes it a replica of the new one
 * (a Sentinel does so some seconds later; a cluster node as soon as it hears of the newer epoch).
 */
export async function resumeStalePrimary(logins: AuditedLogins, pair: Pair, options: FailoverOptions): Promise<Summary> {
  const { primary, replica } = pair;
  const staged = await stages(logins, pair, options.perStage);
  await untilInStep(replica, primary);
  primary.pause();
  logins.deadline = Date.now() + options.windowMs;
  const flows = finish(logins, pair, staged, options.perStage);
  await pair.untilPromoted(replica);
  primary.resume();
  await untilInStep(primary, replica, options.windowMs);
  return settle(logins, flows);
}
