// The node's channels (src/core/channels.ts) as its observers see them: two nodes in one process
// publish on the same process-wide channels, and each node's metrics count its own messages only;
// a closed node leaves no subscriber behind.
import { describe, expect, it } from 'vitest';
import { channels } from '../../src/core/channels.js';
import type { Qrelay } from '../../src/app.js';
import { mint, startNode } from '../support/node.js';

const created = async (node: Qrelay): Promise<number> =>
  (await node.metrics.registry.getSingleMetric('qrelay_sessions_created_total')?.get())?.values[0]?.value ?? 0;

describe('channels', () => {
  it("two nodes in one process: each node's metrics count its own node's messages, not the other's", async () => {
    const [a, b] = [await startNode(), await startNode()];
    await mint(a);
    await mint(a);
    await mint(b);
    expect([await created(a), await created(b)]).toEqual([2, 1]);
  });

  it('a closed node unsubscribes its metrics and its lifecycle log', async () => {
    expect(channels.sessionCreated.hasSubscribers).toBe(false);
    const node = await startNode();
    expect(channels.sessionCreated.hasSubscribers).toBe(true);
    await node.close();
    expect(channels.sessionCreated.hasSubscribers).toBe(false);
  });
});
