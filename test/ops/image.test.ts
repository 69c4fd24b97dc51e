// The container image without a Docker engine: the Dockerfile is read, each stage's file set is
// built in a temporary directory from its COPY lines (context paths filtered by .dockerignore),
// the build stage's build is run there and the run stage gets a production-only install, and
// the service is started from that directory with the image's ENV, CMD and HEALTHCHECK. A COPY
// the image lacks, a file .dockerignore drops, or an import of a dev dependency fails here.
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { childEnv } from '../support/env.js';
import { freePort } from '../support/ports.js';
import { listeningLine } from '../support/process-node.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string | undefined;
  readonly base: string;
  readonly steps: Instruction[];
}

/** The Dockerfile's stages and their instructions (continuation lines joined, comments dropped). */
function stages(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  const found: Stage[] = [];
  for (const line of lines) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (m === null || line.trimStart().startsWith('#')) continue;
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === 'FROM') {
      const [base, as, name] = args.split(/\s+/);
      found.push({ base: base!, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else {
      found.at(-1)!.steps.push({ op, args });
    }
  }
  return found;
}

/** An exec-form (JSON array) argument list, as in CMD and HEALTHCHECK ... CMD. */
const execForm = (args: string): string[] => JSON.parse(args) as string[];

/** ENV lines' variables (`K=V K2=V2` or `K V`). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of stage.steps.filter((s) => s.op === 'ENV')) {
    if (!args.includes('=')) {
      const [k, ...v] = args.split(/\s+/);
      env[k!] = v.join(' ');
      continue;
    }
    for (const pair of args.split(/\s+/)) {
      const at = pair.indexOf('=');
      env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  return env;
}

/** Whether .dockerignore drops `path` (relative to the context): its plain names, `dir/x`, and `*` globs. */
function ignoredBy(patterns: readonly string[]): (path: string) => boolean {
  const regexes = patterns.map((p) => new RegExp(`^${p.replace(/^\//, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*')}(/.*)?$`));
  return (path) => regexes.some((r) => r.test(path));
}

describe('the container image (Dockerfile), built as a file set', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const all = stages(dockerfile);
  const build = all.find((s) => s.name === 'build');
  const runtime = all.at(-1)!;

  it('builds with dev dependencies, runs on a slim Node 20 as a non-root user, stops on SIGTERM, checks /healthz', () => {
    expect(build, 'a stage named build').toBeDefined();
    expect(runtime).not.toBe(build);
    expect(runtime.base).toMatch(/^node:20[\w.-]*-slim$/);
    const runs = (s: Stage) => s.steps.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs(build!).join(' && ')).toMatch(/npm ci\b(?!.*--omit=dev)/);
    expect(runs(runtime).join(' && ')).toMatch(/npm ci --omit=dev/);
    const user = runtime.steps.filter((s) => s.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.steps.find((s) => s.op === 'STOPSIGNAL')?.args).toBe('SIGTERM');
    expect(runtime.steps.find((s) => s.op === 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
  });

  it('its files, with a production-only install, start the service: /healthz, the HEALTHCHECK, a mint, a clean stop on SIGTERM', { timeout: 240_000 }, async () => {
    const root = mkdtempSync(join(tmpdir(), 'qrelay-image-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    const ignored = ignoredBy(
      readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')),
    );
    const stageDirs = new Map<string, { dir: string; workdir: string }>();

    /** Lays out one stage's files under root/<stage>, as its WORKDIR and COPY lines say. */
    const layOut = (stage: Stage, label: string): string => {
      const dir = join(root, label);
      let workdir = '/';
      for (const { op, args } of stage.steps) {
        if (op === 'WORKDIR') workdir = resolve(workdir, args);
        if (op !== 'COPY') continue;
        const words = args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = resolve(workdir, paths.pop()!);
        for (const source of paths) {
          const target = join(dir, paths.length > 1 || dest.endsWith('/') || args.trim().endsWith('/') ? join(dest, basename(source)) : dest);
          if (from === undefined) {
            expect(existsSync(join(ROOT, source)), `COPY ${source}: not in the repository`).toBe(true);
            expect(ignored(source), `COPY ${source}: .dockerignore drops it`).toBe(false);
            mkdirSync(dirname(target), { recursive: true });
            cpSync(join(ROOT, source), target, { recursive: true, filter: (src) => !ignored(relative(ROOT, src)) || src === join(ROOT, source) });
          } else {
            const other = stageDirs.get(from);
            expect(other, `COPY --from=${from}: no such stage before it`).toBeDefined();
            const copied = join(other!.dir, resolve(other!.workdir, source));
            expect(existsSync(copied), `COPY --from=${from} ${source}: the stage did not make it`).toBe(true);
            mkdirSync(dirname(target), { recursive: true });
            cpSync(copied, target, { recursive: true });
          }
        }
      }
      stageDirs.set(stage.name ?? label, { dir, workdir });
      return join(dir, workdir);
    };

    // The build stage: its `npm ci` (every dependency) is the repository's own install; its build runs for real.
    const buildApp = layOut(build!, 'build');
    symlinkSync(join(ROOT, 'node_modules'), join(buildApp, 'node_modules'), 'dir');
    await run('npm', ['run', 'build'], { cwd: buildApp, env: childEnv(), maxBuffer: 16 << 20 });

    // The run stage: a production-only install from its package.json and lock file, as its `npm ci --omit=dev`.
    const app = layOut(runtime, 'run');
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, env: childEnv(), maxBuffer: 16 << 20 });
    expect(existsSync(join(app, 'node_modules', 'vitest')), 'a dev dependency in the production install').toBe(false);

    const [command, ...args] = execForm(runtime.steps.find((s) => s.op === 'CMD')!.args);
    expect(command).toBe('node');
    const child = spawn(process.execPath, args, {
      cwd: app,
      env: childEnv({ ...envOf(runtime), PUBLIC_HOST: '127.0.0.1', PUBLIC_PORT: '0', PRIVATE_PORT: '0', DRAIN_MS: '100' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const urls = await new Promise<{ publicUrl: string; privateUrl: string }>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`the image's service did not start within 30 s:\n${out}`)), 30_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        out += `${line}\n`;
        const found = listeningLine(line);
        if (found !== undefined) {
          clearTimeout(timer);
          res(found);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        rej(new Error(`the image's service exited at start:\n${out}`));
      });
    });

    expect(await (await fetch(`${urls.privateUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const minted = await fetch(`${urls.publicUrl}/status/new`, { method: 'POST' });
    expect(minted.status).toBe(201);
    expect(await minted.json()).toMatchObject({ key: expect.any(String), pollToken: expect.any(String) });

    // The HEALTHCHECK's own command, on this node's private port, and on a port nothing answers.
    const healthcheck = runtime.steps.find((s) => s.op === 'HEALTHCHECK')!.args;
    const [checkCommand, ...checkArgs] = execForm(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim());
    expect(checkCommand).toBe('node');
    const check = (port: string) =>
      run(process.execPath, checkArgs, { cwd: app, env: childEnv({ PRIVATE_PORT: port }) }).then(() => 0, (e: { code?: number }) => e.code ?? -1);
    expect(await check(new URL(urls.privateUrl).port)).toBe(0);
    expect(await check(String(await freePort()))).toBe(1);

    child.kill('SIGTERM');
    expect(await exited, out).toBe(0);
  });
});
