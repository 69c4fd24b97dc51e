// Random interleavings of polls, sets, hang-ups and stale forwards across three nodes. Afterwards:
// every client saw every version in order, no poll sat out its hold while a newer version existed,
// and nothing leaked (no held polls, no Redis keys beyond the live sessions).
import { describe, expect, inject, it } from 'vitest';
import { CLUSTER_TOKEN, sessionKeysUnder, inspector, INTERNAL_TOKEN, startNodes, type RedisEnv } from '../support/cluster.js';
import { waitFor } from '../support/node.js';
import { useRedisCluster } from '../support/redis.js';

const redisCluster = useRedisCluster();

interface Client {
  key: string;
  token: string;
  seen: number[];
  /** When each version's set was answered, and when the client saw it (ms). */
  setAt: Map<number, number>;
  sawAt: Map<number, number>;
  current: AbortController | undefined;
  /** Set once the final status may be in flight; see chaos(). */
  finalInFlight: boolean;
  polls: number;
  done: boolean;
}

// Generous bounds: this test runs every node and every client in one process on a 2-core machine,
// beside other test files. "Seen within half the hold" still proves no poll sat out its hold.
const HOLD_MS = 8_000;
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const jitter = (max: number): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * max));

async function runRace(redis: RedisEnv, sessions: number): Promise<void> {
  const { nodes, prefix } = await startNodes(3, redis, { HOLD_MS: String(HOLD_MS), FORWARD_TIMEOUT_MS: '3000' });
  const auth = { authorization: `Bearer ${INTERNAL_TOKEN}`, 'content-type': 'application/json' };
  const peerAuth = { authorization: `Bearer ${CLUSTER_TOKEN}`, 'content-type': 'application/json' };

  const clients: Client[] = await Promise.all(
    Array.from({ length: sessions }, async () => {
      const res = await fetch(`${pick(nodes).publicUrl}/status/new`, { method: 'POST' });
      const body = (await res.json()) as { key: string; pollToken: string };
      return { key: body.key, token: body.pollToken, seen: [], setAt: new Map(), sawAt: new Map(), current: undefined, finalInFlight: false, polls: 0, done: false };
    }),
  );

  // The PC side: poll on a random node with the since cursor until the final status.
  const pollLoop = async (c: Client): Promise<void> => {
    while (!c.done) {
      const since = c.seen.at(-1) ?? 0;
      const controller = new AbortController();
      c.current = controller;
      c.polls++;
      let res: Response;
      let view: { version: number; status: string };
      try {
        res = await fetch(`${pick(nodes).publicUrl}/status/get?key=${c.key}&since=${since}`, {
          headers: { authorization: `Bearer ${c.token}` },
          signal: controller.signal,
        });
        if (res.status === 204) {
          await res.arrayBuffer();
          continue;
        }
        expect(res.status).toBe(200);
        view = (await res.json()) as typeof view;
      } catch (err) {
        if (controller.signal.aborted) continue; // we hung up on purpose (a client moving to another node)
        throw err;
      }
      expect(view.version).toBeGreaterThan(since);
      c.seen.push(view.version);
      c.sawAt.set(view.version, Date.now());
      if (view.status === 'confirmed') c.done = true;
    }
    c.current = undefined;
  };

  // The phone side: scan, then confirm, each on a random node, each only after the PC saw the last.
  const phone = async (c: Client): Promise<void> => {
    for (const [version, status] of [[1, 'scanned'], [2, 'confirmed']] as const) {
      await jitter(30);
      if (status === 'confirmed') c.finalInFlight = true;
      const res = await fetch(`${pick(nodes).privateUrl}/status/set`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ key: c.key, status, actor: 'phone', ifVersion: version - 1 }),
      });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      c.setAt.set(version, Date.now());
      await waitFor(() => c.seen.includes(version), HOLD_MS, `session ${c.key} to see version ${version}`);
    }
  };

  // Chaos: hang-ups (the PC re-polls elsewhere) and stale forwards to random nodes. Hang-ups stop
  // once a session's final status may be in flight: a final status is handed out once, so a client
  // that drops the response after the server wrote it has lost it by contract (the server takes a
  // hand-out back only when it can tell the response never went out; a test covers that).
  let chaosRounds = 0;
  const chaos = async (): Promise<void> => {
    while (clients.some((c) => !c.done)) {
      chaosRounds++;
      const c = pick(clients);
      if (Math.random() < 0.6) {
        if (!c.finalInFlight) c.current?.abort();
      } else {
        const stale = { key: c.key, status: 'pending', version: 0, expiresAt: Date.now() + 60_000 };
        const res = await fetch(`${pick(nodes).privateUrl}/channel/set`, { method: 'POST', headers: peerAuth, body: JSON.stringify(stale) });
        expect(((await res.json()) as { delivered: boolean }).delivered).toBe(false);
      }
      await jitter(3);
    }
  };

  await Promise.all([...clients.map(pollLoop), ...clients.map(phone), chaos(), chaos()]);

  const totalPolls = clients.reduce((n, c) => n + c.polls, 0);
  const sets = sessions * 2;
  // Thousands of rounds in all: every session polled at least once per version, plus the chaos.
  expect(clients.every((c) => c.polls >= 2)).toBe(true);
  expect(totalPolls + sets + chaosRounds).toBeGreaterThan(sessions * 4);
  for (const c of clients) {
    expect(c.seen).toEqual([1, 2]);
    for (const v of [1, 2]) {
      // Seen well before any hold could have run out: no poll waited while a newer version existed.
      expect(c.sawAt.get(v)! - c.setAt.get(v)!).toBeLessThan(HOLD_MS / 2);
    }
  }
  await waitFor(() => nodes.every((n) => n.polls.size === 0), 2_000, 'held polls to drain');
  const keys = await sessionKeysUnder(inspector(redis), prefix);
  const sessionKeys = keys.filter((k) => k.endsWith(':s'));
  expect(sessionKeys).toHaveLength(sessions);
  expect(keys.length).toBeLessThanOrEqual(sessions * 2);
}

describe('the race', () => {
  it('on one Redis: 400 sessions with polls, sets, hang-ups and stale forwards interleaved', async () => {
    await runRace({ REDIS_URL: inject('redisUrl') }, 400);
  }, 120_000);

  it('on a Redis Cluster: 200 sessions', async () => {
    await runRace({ REDIS_CLUSTER_NODES: redisCluster().nodes.join(',') }, 200);
  }, 120_000);
});
