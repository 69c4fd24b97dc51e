// A lasting change's script may run twice with the same arguments: a Redis Cluster pipeline is sent
// again whole after its connection drops, and the first run may have been applied. The second run
// is the same change, not a new one: the same redemption attempt is not refused as redeemed (which
// would leave the ticket marked by an attempt nobody answered), and the same hand-out lease is not
// refused as busy. Another attempt, or another lease, still is.
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { F, luaScript, T, V } from '../../src/cluster/redis-keys.js';
import { uniquePrefix } from '../support/cluster.js';

const script = (name: string): string => luaScript(readFileSync(new URL(`../../src/cluster/scripts/${name}.lua`, import.meta.url), 'utf8'));

function redis(): Redis {
  const client = new Redis(inject('redisUrl'));
  onTestFinished(() => client.disconnect());
  return client;
}

describe('a lasting change run twice', () => {
  it('the same redemption attempt is the same redemption; another attempt is told it was redeemed', async () => {
    const client = redis();
    const ticket = `${uniquePrefix()}:ticket`;
    await client.hset(ticket, T.hash, 'the-hash', F.actor, 'ann', F.confirmedAt, '1');
    const redeem = (attempt: string) => client.eval(script('redeem-ticket'), 1, ticket, 'the-hash', attempt) as Promise<string[]>;
    const first = await redeem('attempt-1');
    expect(first[0]).toBe(V.ok);
    const again = await redeem('attempt-1');
    expect(again[0]).toBe(V.ok);
    expect(again.slice(again.indexOf(F.actor), again.indexOf(F.actor) + 2)).toEqual([F.actor, 'ann']); // the login's copy, again
    expect(await redeem('attempt-2')).toEqual([V.redeemed]);
    expect(await redeem('')).toEqual([V.redeemed]);
  });

  it('the same hand-out lease is the same hand-out; another lease finds it busy', async () => {
    const client = redis();
    const session = `${uniquePrefix()}:session`;
    const now = Date.now();
    await client.hset(session, F.status, 'cancelled', F.version, '2', F.expiresAt, String(now + 60_000));
    const begin = (lease: string) => client.eval(script('begin-hand-out'), 2, session, `${session}:ticket`, now, 5_000, 'cancelled', 2, lease, '', 0) as Promise<Array<string | number>>;
    expect(await begin('lease-1')).toEqual([V.ok, '']);
    expect(await begin('lease-1')).toEqual([V.ok, '']);
    expect((await begin('lease-2'))[0]).toBe(V.busy);
  });
});
