// The Lua scripts and the TypeScript store share one list of Redis field names (redis-keys.ts),
// and the scripts get the session's rules (core/session.ts) generated, never spelled by hand.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { F, luaScript, ROUTE_SINCE_SUFFIX, T, TICKET_COPY, V } from '../../src/cluster/redis-keys.js';
import { ACTOR_RULE, FINAL_STATUSES, SESSION_STATUSES, TRANSITIONS } from '../../src/core/session.js';
import { inspector } from '../support/cluster.js';

const dir = new URL('../../src/cluster/scripts/', import.meta.url);
const scripts = readdirSync(dir).filter((f) => f.endsWith('.lua'));

describe('field names in the Lua scripts', () => {
  it('come from F and T: @name and @T.name are replaced by the field', () => {
    expect(luaScript("redis.call('HGET', KEYS[1], '@status', '@T.hash')")).toBe(`redis.call('HGET', KEYS[1], '${F.status}', '${T.hash}')`);
  });

  it('an unknown name stops the script from loading', () => {
    expect(() => luaScript("redis.call('HGET', KEYS[1], '@stauts')")).toThrow(/unknown field '@stauts'/);
    expect(() => luaScript("redis.call('HGET', KEYS[1], '@T.status')")).toThrow(/unknown field/);
  });

  it.each(scripts)('%s names no field by its stored name, only through F and T', (file) => {
    const code = readFileSync(new URL(file, dir), 'utf8')
      .split('\n')
      .filter((line) => !line.trimStart().startsWith('--'))
      .join('\n');
    const stored = new Set<string>([...Object.values(F), ...Object.values(T)]);
    const literals = [...code.matchAll(/'([^'@]*)'/g)].map((m) => m[1]!);
    expect(literals.filter((l) => stored.has(l))).toEqual([]);
    expect(() => luaScript(code)).not.toThrow();
  });
});

/** A script's code without its comments. */
const code = (file: string): string =>
  readFileSync(new URL(file, dir), 'utf8')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');

describe('the session rules in the Lua scripts', () => {
  it('statuses and replies come from core/session.ts and V: @S.name and @V.name are replaced by them', () => {
    expect(luaScript("return {'@V.version_mismatch', '@S.expired', '@V.ok'}")).toBe("return {'version_mismatch', 'expired', 'ok'}");
    expect(() => luaScript("return '@S.expird'")).toThrow(/unknown name '@S.expird'/);
    expect(() => luaScript("return '@V.toString'")).toThrow(/unknown name/);
  });

  it.each(scripts)('%s spells no status, reply, refusal or route suffix by hand', (file) => {
    const names = new Set<string>([...SESSION_STATUSES, ...Object.values(V)]);
    const source = code(file);
    const literals = [...source.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]!);
    expect(literals.filter((l) => names.has(l) || l.includes(ROUTE_SINCE_SUFFIX.trim()))).toEqual([]);
    // A suffix matched by its length: string.sub(x, -6).
    expect(source).not.toMatch(/string\.sub\([^)]*-\d/);
  });

  it('--@rules becomes the transition table, the final statuses, the actor rule and the ticket\'s copy, as Redis runs them', async () => {
    const redis = inspector({ REDIS_URL: inject('redisUrl') });
    const lua = luaScript(`--@rules
local out = {final = {}, allowed = {}, recorded = ACTOR_RECORDED_LEAVING, checked = ACTOR_CHECKED_LEAVING, since = SINCE, copy = TICKET_COPY}
for status in pairs(FINAL) do out.final[#out.final + 1] = status end
for from, tos in pairs(ALLOWED) do
  out.allowed[from] = {}
  for to in pairs(tos) do out.allowed[from][#out.allowed[from] + 1] = to end
end
return cjson.encode(out)`);
    const rules = JSON.parse(String(await redis.eval(lua, 0))) as {
      final: string[];
      allowed: Record<string, string[] | Record<string, never>>;
      recorded: string;
      checked: string;
      since: string;
      copy: string[];
    };
    expect(rules.final.sort()).toEqual([...FINAL_STATUSES].sort());
    // cjson encodes an empty Lua table as {}.
    const allowed = Object.fromEntries(Object.entries(rules.allowed).map(([from, tos]) => [from, Array.isArray(tos) ? tos.sort() : []]));
    expect(allowed).toEqual(Object.fromEntries(SESSION_STATUSES.map((s) => [s, [...TRANSITIONS[s]].sort()])));
    expect([rules.recorded, rules.checked, rules.since]).toEqual([ACTOR_RULE.recordedLeaving, ACTOR_RULE.checkedLeaving, ROUTE_SINCE_SUFFIX]);
    expect(rules.copy).toEqual(TICKET_COPY);
  });
});
