import { afterEach, describe, expect, it, vi } from 'vitest';
import { PendingPolls, PollEnd, type Hold } from '../../src/core/pending-polls.js';
import type { SessionView } from '../../src/core/session.js';
import { TestClient } from '../support/test-client.js';

const view = (key: string, version: number): SessionView => ({ key, status: 'scanned', version, expiresAt: 0 });
const anyClient = (): TestClient => new TestClient();

/** join() then admit(): a poll whose token and route need no checking. */
function admitted(polls: PendingPolls, key: string, since: number, client: TestClient, holdMs: number, expiresInMs: number): Hold {
  const joined = polls.join(key, since, client);
  polls.admit(joined, holdMs, expiresInMs);
  return joined;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('PendingPolls', () => {
  it('a wake with a newer version ends the poll as changed and removes it', async () => {
    const polls = new PendingPolls();
    const hold = admitted(polls, 'a', 0, anyClient(), 10_000, 60_000);
    expect(polls.size).toBe(1);
    expect(polls.wake(view('a', 1))).toBe(true);
    await expect(hold.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
    expect(polls.size).toBe(0);
  });

  const endings: Array<[string, (polls: PendingPolls, client: TestClient) => unknown]> = [
    ['a wake', (polls) => polls.wake(view('a', 1))],
    ['a hang-up', (_polls, client) => client.hangUp()],
    ['a newer poll', (polls) => admitted(polls, 'a', 0, anyClient(), 10, 60_000).end(PollEnd.shutdown)],
    ['shutdown', (polls) => polls.endAll(PollEnd.shutdown)],
    ['its deadline', () => vi.advanceTimersByTime(10_000)],
  ];
  it.each(endings)('after %s, the poll leaves nothing behind: no timer, no listener, no entry', async (_name, end) => {
    vi.useFakeTimers();
    const polls = new PendingPolls();
    const client = new TestClient();
    const hold = admitted(polls, 'a', 0, client, 10_000, 60_000);
    expect(vi.getTimerCount()).toBe(1);
    expect(client.listener).toBe(hold);
    end(polls, client);
    await hold.ended;
    expect(vi.getTimerCount()).toBe(0);
    expect(client.listener).toBeUndefined();
    expect(polls.size).toBe(0);
  });

  it('a poll is ended once: a later hang-up, wake or deadline changes nothing', async () => {
    vi.useFakeTimers();
    const polls = new PendingPolls();
    const client = new TestClient();
    const hold = admitted(polls, 'a', 0, client, 20, 60_000);
    const other = admitted(polls, 'b', 0, anyClient(), 60_000, 60_000);
    expect(polls.wake(view('a', 1))).toBe(true);
    client.hangUp(); // the client leaves after its answer
    expect(polls.wake(view('a', 2))).toBe(false);
    await vi.advanceTimersByTimeAsync(40); // past the hold, too: the ending stays 'changed'
    await expect(hold.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
    expect(polls.size).toBe(1);
    expect(polls.has('b')).toBe(true);
    other.end(PollEnd.shutdown);
    await expect(other.ended).resolves.toBe(PollEnd.shutdown);
  });

  it('a wake with a version the poll already has does not end it', () => {
    const polls = new PendingPolls();
    const client = new TestClient();
    admitted(polls, 'a', 3, client, 10_000, 60_000);
    expect(polls.wake(view('a', 3))).toBe(false);
    expect(polls.size).toBe(1);
    client.hangUp();
    expect(polls.size).toBe(0);
  });

  it('the hold ends as timeout, or as expired when the session ends first', async () => {
    vi.useFakeTimers();
    const polls = new PendingPolls();
    const timed = admitted(polls, 'a', 0, anyClient(), 10, 60_000);
    const expiring = admitted(polls, 'b', 0, anyClient(), 60_000, 10);
    await vi.advanceTimersByTimeAsync(9);
    expect(polls.size).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(timed.ended).resolves.toBe(PollEnd.timeout);
    await expect(expiring.ended).resolves.toBe(PollEnd.expired);
    expect(polls.size).toBe(0);
  });

  it('a newer poll for the same key supersedes the older one; the newer stays registered', async () => {
    const polls = new PendingPolls();
    const older = admitted(polls, 'a', 0, anyClient(), 10_000, 60_000);
    const newerClient = new TestClient();
    const newer = admitted(polls, 'a', 0, newerClient, 10_000, 60_000);
    await expect(older.ended).resolves.toBe(PollEnd.superseded);
    expect(polls.size).toBe(1);
    expect(polls.has('a')).toBe(true);
    older.end(PollEnd.timeout); // a late ending of the older poll cannot remove the newer one
    expect(polls.has('a')).toBe(true);
    newerClient.hangUp();
    await expect(newer.ended).resolves.toBe(PollEnd.clientClosed);
    expect(polls.size).toBe(0);
  });

  it('a client gone before the hold never registers', async () => {
    const polls = new PendingPolls();
    const client = new TestClient();
    client.hangUp();
    const hold = admitted(polls, 'a', 0, client, 10_000, 60_000);
    expect(hold.open).toBe(false);
    await expect(hold.ended).resolves.toBe(PollEnd.clientClosed);
    expect(polls.size).toBe(0);
  });

  it('after endAll, a poll still being set up ends at once with the same reason', async () => {
    const polls = new PendingPolls();
    await polls.endAll(PollEnd.shutdown);
    await expect(admitted(polls, 'late', 0, anyClient(), 60_000, 60_000).ended).resolves.toBe(PollEnd.shutdown);
    expect(polls.size).toBe(0);
  });

  it('endAll ends every poll with the given reason, once', async () => {
    const polls = new PendingPolls();
    const holds = ['a', 'b', 'c'].map((k) => admitted(polls, k, 0, anyClient(), 10_000, 60_000));
    expect(await polls.endAll(PollEnd.shutdown)).toBe(3);
    await expect(Promise.all(holds.map((h) => h.ended))).resolves.toEqual([PollEnd.shutdown, PollEnd.shutdown, PollEnd.shutdown]);
    expect(await polls.endAll(PollEnd.shutdown)).toBe(0);
  });

  describe('joining before admission', () => {
    it('a joined poll supersedes nothing and counts as held only once admitted', async () => {
      const polls = new PendingPolls();
      const held = admitted(polls, 'a', 0, anyClient(), 10_000, 60_000);
      const joining = polls.join('a', 0, anyClient()); // its token not checked yet
      expect(polls.size).toBe(1);
      joining.end(PollEnd.answered); // a wrong token: it never held anything
      expect(held.open).toBe(true);
      expect(polls.has('a')).toBe(true);
      const next = polls.join('a', 0, anyClient());
      polls.admit(next, 10_000, 60_000);
      await expect(held.ended).resolves.toBe(PollEnd.superseded);
      expect(polls.size).toBe(1);
      expect(polls.wake(view('a', 1))).toBe(true);
      await expect(next.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
      expect(polls.size).toBe(0);
      expect(polls.has('a')).toBe(false);
    });

    it('a change that lands while a poll joins ends it, and admitting it later does nothing', async () => {
      vi.useFakeTimers();
      const polls = new PendingPolls();
      const client = new TestClient();
      const joining = polls.join('a', 0, client);
      expect(vi.getTimerCount()).toBe(0); // no deadline before admission
      expect(polls.wake(view('a', 1))).toBe(true);
      polls.admit(joining, 10_000, 60_000);
      await expect(joining.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
      expect(vi.getTimerCount()).toBe(0);
      expect(client.listener).toBeUndefined();
      expect(polls.size).toBe(0);
    });

    it('the newest admitted poll wins, whatever order admissions come in', async () => {
      const polls = new PendingPolls();
      const first = polls.join('a', 0, anyClient());
      const second = polls.join('a', 0, anyClient());
      polls.admit(second, 10_000, 60_000);
      polls.admit(first, 10_000, 60_000); // its store answer came last: too late to take over
      await expect(first.ended).resolves.toBe(PollEnd.superseded);
      expect(first.admitted).toBe(false);
      expect(second.open).toBe(true);
      expect(polls.size).toBe(1);
      polls.admit(second, 10_000, 60_000); // admitting twice changes nothing
      expect(polls.size).toBe(1);
      expect(polls.wake(view('a', 1))).toBe(true);
      await expect(second.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
      expect(polls.size).toBe(0);
    });

    it('polls of one key in any order leave nothing behind when they end', async () => {
      const polls = new PendingPolls();
      const clients = [0, 1, 2, 3].map(() => new TestClient());
      const holds = clients.map((c) => polls.join('a', 0, c));
      polls.admit(holds[1]!, 10_000, 60_000);
      polls.admit(holds[3]!, 10_000, 60_000); // supersedes 1
      await expect(holds[1]!.ended).resolves.toBe(PollEnd.superseded);
      clients[2]!.hangUp(); // from the middle of the chain
      await expect(holds[2]!.ended).resolves.toBe(PollEnd.clientClosed);
      expect(polls.size).toBe(1);
      expect(polls.wake(view('a', 1))).toBe(true); // wakes 0 (joining) and 3 (held)
      await expect(holds[0]!.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
      await expect(holds[3]!.ended).resolves.toEqual({ reason: 'changed', view: view('a', 1), claimed: false });
      expect(polls.size).toBe(0);
      expect(polls.has('a')).toBe(false);
      expect(await polls.endAll(PollEnd.shutdown)).toBe(0);
    });
  });
});
