// The alert rules' unit tests (deploy/prometheus/alerts.test.yml) run by promtool, Prometheus's
// own checker: the rules parse, and each alert fires when and only when its tests say.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { childEnv } from '../support/env.js';
import { tool } from '../support/tools.js';

const promtool = tool('promtool', 'the alert rules (promtool)', "apt-get install prometheus: promtool comes with it");
const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const run = promisify(execFile);

/** promtool's exit code and output. */
const promtoolRun = (args: string[]): Promise<{ code: number; output: string }> =>
  run(promtool.require(), args, { cwd: DIR, env: childEnv() }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );

describe.skipIf(promtool.skip)(promtool.title, () => {
  it('alerts.yml passes promtool check rules', async () => {
    const { code, output } = await promtoolRun(['check', 'rules', 'alerts.yml']);
    expect(code, output).toBe(0);
  });

  it('alerts.test.yml passes promtool test rules', async () => {
    const { code, output } = await promtoolRun(['test', 'rules', 'alerts.test.yml']);
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });
});
