import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { PendingPolls, PollEnd } from '../../src/core/pending-polls.js';
import type { SessionView } from '../../src/core/session.js';

const view = (key: string, version: number): SessionView => ({ key, status: 'scanned', version, expiresAt: 0 });

describe('PendingPolls', () => {
  it('a wake with a newer version ends the poll as changed and removes it', async () => {
    const polls = new PendingPolls();
    const held = polls.hold('a', 0, new AbortController(), 10_000, 60_000);
    expect(polls.size).toBe(1);
    expect(polls.wake(view('a', 1))).toBe(true);
    await expect(held).resolves.toEqual({ reason: 'changed', view: view('a', 1) });
    expect(polls.size).toBe(0);
  });

  it('a woken poll is settled once: its timer is cleared, and a later hang-up or wake changes nothing', async () => {
    vi.useFakeTimers();
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const polls = new PendingPolls();
    const c = new AbortController();
    const held = polls.hold('a', 0, c, 20, 60_000);
    const newer = polls.hold('b', 0, new AbortController(), 60_000, 60_000);
    expect(vi.getTimerCount()).toBe(2);
    expect(polls.wake(view('a', 1))).toBe(true);
    expect(vi.getTimerCount()).toBe(1); // a's timer is gone; b's is left
    c.abort(PollEnd.clientClosed); // the client leaves after its answer
    expect(polls.wake(view('a', 2))).toBe(false);
    vi.advanceTimersByTime(40); // past a's hold, too: the ending stays 'changed'
    await expect(held).resolves.toEqual({ reason: 'changed', view: view('a', 1) });
    expect(polls.size).toBe(1);
    expect(polls.has('b')).toBe(true);
    polls.end('b', PollEnd.shutdown);
    await expect(newer).resolves.toBe(PollEnd.shutdown);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a wake with a version the poll already has does not end it', () => {
    const polls = new PendingPolls();
    const c = new AbortController();
    void polls.hold('a', 3, c, 10_000, 60_000);
    expect(polls.wake(view('a', 3))).toBe(false);
    expect(polls.size).toBe(1);
    c.abort(PollEnd.clientClosed);
    expect(polls.size).toBe(0);
  });

  it('the hold ends as timeout, or as expired when the session ends first', async () => {
    const polls = new PendingPolls();
    await expect(polls.hold('a', 0, new AbortController(), 10, 60_000)).resolves.toBe(PollEnd.timeout);
    await expect(polls.hold('b', 0, new AbortController(), 60_000, 10)).resolves.toBe(PollEnd.expired);
    expect(polls.size).toBe(0);
  });

  it('a newer poll for the same key supersedes the older one; the newer stays registered', async () => {
    const polls = new PendingPolls();
    const older = polls.hold('a', 0, new AbortController(), 10_000, 60_000);
    const newerController = new AbortController();
    const newer = polls.hold('a', 0, newerController, 10_000, 60_000);
    await expect(older).resolves.toBe(PollEnd.superseded);
    expect(polls.size).toBe(1);
    expect(polls.has('a')).toBe(true);
    newerController.abort(PollEnd.clientClosed);
    await expect(newer).resolves.toBe(PollEnd.clientClosed);
    expect(polls.size).toBe(0);
  });

  it('an abort with a foreign reason counts as the client going away', async () => {
    const polls = new PendingPolls();
    const c = new AbortController();
    const held = polls.hold('a', 0, c, 10_000, 60_000);
    c.abort(new Error('socket reset'));
    await expect(held).resolves.toBe(PollEnd.clientClosed);
  });

  it('a controller aborted before the hold never registers', async () => {
    const polls = new PendingPolls();
    const c = new AbortController();
    c.abort(PollEnd.clientClosed);
    await expect(polls.hold('a', 0, c, 10_000, 60_000)).resolves.toBe(PollEnd.clientClosed);
    expect(polls.size).toBe(0);
  });

  it('after endAll, a poll still being set up ends at once with the same reason', async () => {
    const polls = new PendingPolls();
    await polls.endAll(PollEnd.shutdown);
    await expect(polls.hold('late', 0, new AbortController(), 60_000, 60_000)).resolves.toBe(PollEnd.shutdown);
    expect(polls.size).toBe(0);
  });

  it('endAll ends every poll with the given reason, once', async () => {
    const polls = new PendingPolls();
    const helds = ['a', 'b', 'c'].map((k) => polls.hold(k, 0, new AbortController(), 10_000, 60_000));
    expect(await polls.endAll(PollEnd.shutdown)).toBe(3);
    await expect(Promise.all(helds)).resolves.toEqual([PollEnd.shutdown, PollEnd.shutdown, PollEnd.shutdown]);
    expect(await polls.endAll(PollEnd.shutdown)).toBe(0);
  });
});
