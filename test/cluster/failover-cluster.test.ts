// A Redis Cluster failover under logins: one shard's primary goes away, its replica takes over,
// and whatever qrelay acknowledged for sessions on that shard is still there, whether the replica
// was behind when the primary died or the old primary came back, still writable, after the
// promotion. Only sessions on that shard are used. Needs WAIT after every lasting change
// (REDIS_MIN_REPLICAS=1).
import { describe, expect, it } from 'vitest';
import { sessionKeys } from '../../src/cluster/redis-keys.js';
import { AuditedLogins, type Summary } from '../support/audited-logins.js';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { FAILOVER_ENV, killPrimaryBehindReplica, resumeStalePrimary, type Pair } from '../support/failovers.js';
import { clusterTopologyForTest } from '../support/redis.js';

const PER_STAGE = 6;
/**
 * Every login completes but those whose session was lost before its first change: qrelay does not
 * wait for replicas on a creation (the page mints again), so those are only counted.
 */
const allWell = (s: Summary): Summary => ({ ...s, completed: s.logins - s.mintsLost, lost: 0, handedOutTwice: 0, redeemedTwice: 0, stuck: 0, serverErrors: 0 });

async function setUp(): Promise<{ logins: AuditedLogins; pair: Pair }> {
  const topology = await clusterTopologyForTest();
  const { nodes, prefix } = await startNodes(3, { REDIS_CLUSTER_NODES: topology.nodes.join(',') }, FAILOVER_ENV);
  const [shard, untouched] = topology.shards;
  const [primary, replica] = shard!.servers;
  const slotOf = async (key: string): Promise<number> => Number(await untouched!.servers[0].command('CLUSTER', 'KEYSLOT', sessionKeys(prefix, key).session));
  return {
    logins: new AuditedLogins(nodes, { internalToken: INTERNAL_TOKEN }),
    pair: {
      primary,
      replica,
      untilPromoted: (server) => topology.untilPrimary(server),
      // It rejoins with its node id and learns that its shard has a newer primary.
      restartAsReplica: async (old) => {
        await old.start();
        await topology.untilOk();
      },
      accept: async (key) => topology.shardOf(await slotOf(key)) === shard,
    },
  };
}

describe('a Redis Cluster failover under logins', () => {
  it("a shard's primary killed while its replica is behind loses no acknowledged change and hands out or redeems nothing twice", async () => {
    const { logins, pair } = await setUp();
    const summary = await killPrimaryBehindReplica(logins, pair, { perStage: PER_STAGE, windowMs: 40_000 });
    expect(summary.logins).toBe(4 * PER_STAGE);
    expect(summary, logins.report()).toEqual(allWell(summary));
  }, 120_000);

  it("a shard's paused primary resumed after its replica was promoted loses no change acknowledged meanwhile", async () => {
    const { logins, pair } = await setUp();
    const summary = await resumeStalePrimary(logins, pair, { perStage: PER_STAGE, windowMs: 45_000, spreadMs: 3_000 });
    expect(summary.logins).toBe(4 * PER_STAGE);
    expect(summary, logins.report()).toEqual(allWell(summary));
  }, 120_000);
});
