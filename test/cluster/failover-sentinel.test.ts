// A Sentinel failover under logins: whatever qrelay acknowledged before the primary went away is
// there after its replica took over, whether the replica was behind when the primary died or the
// old primary came back, still writable, after the promotion. Needs WAIT after every lasting
// change (REDIS_MIN_REPLICAS=1): without it the promoted replica lacks acknowledged changes.
import { describe, expect, it } from 'vitest';
import { AuditedLogins, type Summary } from '../support/audited-logins.js';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { FAILOVER_ENV, killPrimaryBehindReplica, resumeStalePrimary, type Pair } from '../support/failovers.js';
import { sentinelTopologyForTest } from '../support/redis.js';

const PER_STAGE = 6;
/**
 * Every login completes but those whose session was lost before its first change: qrelay does not
 * wait for replicas on a creation (the page mints again), so those are only counted.
 */
const allWell = (s: Summary): Summary => ({ ...s, completed: s.logins - s.mintsLost, lost: 0, handedOutTwice: 0, redeemedTwice: 0, stuck: 0, serverErrors: 0 });

async function setUp(): Promise<{ logins: AuditedLogins; pair: Pair }> {
  const topology = await sentinelTopologyForTest();
  const { nodes } = await startNodes(3, { REDIS_SENTINELS: topology.sentinels.join(','), REDIS_SENTINEL_NAME: topology.name }, FAILOVER_ENV);
  const [primary, replica] = topology.servers;
  return {
    logins: new AuditedLogins(nodes, { internalToken: INTERNAL_TOKEN }),
    pair: {
      primary,
      replica,
      untilPromoted: (server) => topology.untilPrimary(server),
      restartAsReplica: (old, now) => old.start(['--replicaof', '127.0.0.1', String(now.port)]),
    },
  };
}

describe('a Sentinel failover under logins', () => {
  it('a primary killed while its replica is behind loses no acknowledged change and hands out or redeems nothing twice', async () => {
    const { logins, pair } = await setUp();
    const summary = await killPrimaryBehindReplica(logins, pair, { perStage: PER_STAGE, windowMs: 40_000 });
    expect(summary.logins).toBe(4 * PER_STAGE);
    expect(summary, logins.report()).toEqual(allWell(summary));
  }, 120_000);

  it('a paused primary resumed after its replica was promoted loses no change acknowledged meanwhile', async () => {
    const { logins, pair } = await setUp();
    const summary = await resumeStalePrimary(logins, pair, { perStage: PER_STAGE, windowMs: 45_000, spreadMs: 3_000 });
    expect(summary.logins).toBe(4 * PER_STAGE);
    expect(summary, logins.report()).toEqual(allWell(summary));
  }, 120_000);
});
