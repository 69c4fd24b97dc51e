// compose.yaml against the code and the nginx files it mounts: every node's variables (its own and
// .env.example's) are settings src/config.ts accepts; nginx mounts the shipped configuration, and
// its node lists name the compose nodes in the same order, on the listeners' ports.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, SETTING_NAMES } from '../../src/config.js';

const file = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

interface ComposeService {
  environment?: Record<string, string>;
  env_file?: string;
  volumes?: string[];
  ports?: string[];
}
const compose = parse(file('compose.yaml'), { merge: true }) as { services: Record<string, ComposeService> };
const nodes = Object.entries(compose.services).filter(([name]) => /^node\d+$/.test(name));

/** .env.example's variables. */
const example = Object.fromEntries(
  file('.env.example')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

describe('compose.yaml', () => {
  it('runs three nodes whose variables, with .env.example\'s, are settings config.ts accepts', () => {
    expect(nodes.map(([name]) => name)).toEqual(['node1', 'node2', 'node3']);
    for (const name of Object.keys(example)) expect(SETTING_NAMES, `.env.example: ${name}`).toContain(name);
    for (const [name, service] of nodes) {
      expect(service.env_file).toBe('.env');
      const env = { ...example, ...service.environment };
      for (const variable of Object.keys(service.environment ?? {})) expect(SETTING_NAMES, `${name}: ${variable}`).toContain(variable);
      const config = loadConfig(env);
      expect(config.redisUrl, name).toBeDefined();
      expect(config.nodeAddr, name).toBe(`http://${name}:${config.privatePort}`);
    }
  });

  it('mounts the shipped nginx configuration, whose node lists are these nodes, in one order, on their ports', () => {
    const nginx = compose.services['nginx']!;
    const mounts = Object.fromEntries((nginx.volumes ?? []).map((v) => v.split(':') as [string, string]));
    expect(mounts['./deploy/nginx/qrelay.conf']).toBe('/etc/nginx/conf.d/default.conf');
    expect(mounts['./deploy/nginx/qrelay']).toBe('/etc/nginx/qrelay');
    const defaults = loadConfig({});
    const listed = (name: string): string[] => [...file(`deploy/nginx/qrelay/${name}`).matchAll(/^server\s+(\S+)/gm)].map((m) => m[1]!);
    expect(listed('public-nodes.conf')).toEqual(nodes.map(([name]) => `${name}:${defaults.publicPort}`));
    expect(listed('private-nodes.conf')).toEqual(nodes.map(([name]) => `${name}:${defaults.privatePort}`));
    // nginx listens where compose publishes it; the private port on this machine only.
    const listen = (name: string): string => /^listen\s+(\d+);/m.exec(file(`deploy/nginx/qrelay/${name}`))![1]!;
    expect(nginx.ports).toEqual([`${listen('public-listen.conf')}:${listen('public-listen.conf')}`, `127.0.0.1:${listen('private-listen.conf')}:${listen('private-listen.conf')}`]);
  });
});
