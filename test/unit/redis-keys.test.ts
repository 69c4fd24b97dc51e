// The Lua scripts and the TypeScript store share one list of Redis field names (redis-keys.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { F, luaScript, T } from '../../src/cluster/redis-keys.js';

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
