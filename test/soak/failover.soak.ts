// Soak: logins through repeated failovers of both kinds, on Sentinel and on Redis Cluster. Not
// part of `npm test`; run it with
//
//   npm run build && npx vitest run --config test/soak/vitest.config.ts
//
// SOAK_LOGINS logins per topology (300), started at a steady pace, and SOAK_FAILOVERS of each kind
// (2), one every SOAK_EVERY_MS (12 s), taking turns: the primary killed while its replica is half
// a second behind (then restarted as a replica), and the primary paused until its replica is
// promoted, then resumed. On Redis Cluster the failovers go round the shards. Each topology prints one line of figures:
// completed, lost, handed out twice, redeemed twice, and a set's time retries included (p50, p99,
// max: what a failover makes a login wait). It fails on a lost acknowledged change, a second
// hand-out or redemption, or a 5xx other than 503; logins that could not complete are counted.
import { describe, expect, it } from 'vitest';
import { AuditedLogins, type Endpoint, type Flow } from '../support/audited-logins.js';
import { INTERNAL_TOKEN, startNodes, type RedisEnv } from '../support/cluster.js';
import { FAILOVER_ENV, killPrimaryBehind, resumePrimaryAfterPromotion, type Pair } from '../support/failovers.js';
import { clusterTopologyForTest, sentinelTopologyForTest } from '../support/redis.js';

const LOGINS = Number(process.env['SOAK_LOGINS'] ?? 300);
const FAILOVERS = Number(process.env['SOAK_FAILOVERS'] ?? 2);
/** A failover every this often, ms (and the logins spread over one period more than that). */
const EVERY_MS = Number(process.env['SOAK_EVERY_MS'] ?? 12_000);

/** How long the replica stays behind before its primary is killed, ms. */
const BEHIND_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function soak(topology: string, nodes: readonly Endpoint[], pairFor: (failover: number) => Promise<Pair>): Promise<void> {
  const logins = new AuditedLogins(nodes, { internalToken: INTERNAL_TOKEN });
  const rounds = 2 * FAILOVERS;
  const runMs = (rounds + 1) * EVERY_MS;
  const began = Date.now();
  logins.deadline = began + runMs + 120_000;
  // The logins start at a steady pace over the whole run, whatever the failovers are doing.
  const flows: Flow[] = [];
  const starting = (async () => {
    for (let i = 0; i < LOGINS; i++) {
      await sleep(began + (i * runMs) / LOGINS - Date.now());
      flows.push(logins.start('redeemed'));
    }
  })();
  const failovers: string[] = [];
  for (let i = 0; i < rounds; i++) {
    await sleep(began + (i + 1) * EVERY_MS - Date.now());
    const pair = await pairFor(i);
    const start = performance.now();
    if (i % 2 === 0) await killPrimaryBehind(pair, () => sleep(BEHIND_MS));
    else await resumePrimaryAfterPromotion(pair, async () => {});
    failovers.push(`${i % 2 === 0 ? 'killed-behind' : 'paused-resumed'} ${pair.primary.addr} ${Math.round(performance.now() - start)} ms`);
  }
  await starting;
  await Promise.all(flows.map((f) => f.done));
  logins.deadline = Date.now() + 60_000;
  const summary = await logins.audit();
  const times = [...logins.setTimes].sort((a, b) => a - b);
  const figures = {
    topology,
    ...summary,
    failovers,
    setMs: { p50: Math.round(percentile(times, 50)), p99: Math.round(percentile(times, 99)), max: Math.round(times.at(-1) ?? 0) },
  };
  console.log(JSON.stringify(figures));
  if (logins.anomalies.length > 0) console.log(logins.report());
  // Safety is asserted; completion is measured (a page whose session was lost before its first
  // change mints another; a redemption whose give-back a failover lost answers 410, never 200).
  expect({ lost: summary.lost, handedOutTwice: summary.handedOutTwice, redeemedTwice: summary.redeemedTwice, serverErrors: summary.serverErrors }, logins.report()).toEqual({
    lost: 0,
    handedOutTwice: 0,
    redeemedTwice: 0,
    serverErrors: 0,
  });
}

async function nodesOn(redis: RedisEnv): Promise<Endpoint[]> {
  return (await startNodes(3, redis, FAILOVER_ENV)).nodes;
}

describe('logins through failovers', () => {
  it('on Sentinel', async () => {
    const topology = await sentinelTopologyForTest();
    const nodes = await nodesOn({ REDIS_SENTINELS: topology.sentinels.join(','), REDIS_SENTINEL_NAME: topology.name });
    await soak('sentinel', nodes, async () => {
      const primary = await topology.primary();
      if (primary === undefined) throw new Error('the Sentinels name no primary');
      const replica = topology.other(primary);
      return {
        primary,
        replica,
        untilPromoted: (server) => topology.untilPrimary(server),
        restartAsReplica: (old, now) => old.start(['--replicaof', '127.0.0.1', String(now.port)]),
      };
    });
  });

  it('on Redis Cluster', async () => {
    const topology = await clusterTopologyForTest();
    const nodes = await nodesOn({ REDIS_CLUSTER_NODES: topology.nodes.join(',') });
    await soak('cluster', nodes, async (failover) => {
      const shard = topology.shards[failover % topology.shards.length]!;
      const primary = await shard.primary();
      if (primary === undefined) throw new Error('the shard has no primary');
      return {
        primary,
        replica: shard.other(primary),
        untilPromoted: (server) => topology.untilPrimary(server),
        restartAsReplica: async (old) => {
          await old.start();
          await topology.untilOk();
        },
      };
    });
  });
});
