// `npm start` builds first (prestart), so the build must cost next to nothing when no source
// changed, and still pick up a change (a `git pull`). Run on a copy of the sources in a temporary
// directory, so the suite's own dist/ is never rewritten under the tests that read it.
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { childEnv } from '../support/env.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

describe('npm run build (prestart)', () => {
  it('rewrites nothing when no source changed, and rebuilds what a changed source affects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qrelay-build-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    for (const name of ['package.json', 'tsconfig.json', 'src', 'scripts']) cpSync(join(ROOT, name), join(dir, name), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const build = () => run('npm', ['run', 'build', '--silent'], { cwd: dir, env: childEnv() });
    const mtime = (file: string) => statSync(join(dir, 'dist', file)).mtimeMs;
    const outputs = ['main.js', 'errors.js', 'client/qrelay-login.js'];

    await build();
    const first = outputs.map(mtime);
    await build();
    expect(outputs.map(mtime), 'a build with nothing changed rewrote its outputs').toEqual(first);

    // As a pull brings it: a source newer than the last build (a second later, whatever the
    // file system's timestamp resolution).
    const changed = join(dir, 'src', 'errors.ts');
    appendFileSync(changed, '// a change pulled in\n');
    const later = Date.now() / 1000 + 1;
    utimesSync(changed, later, later);
    await build();
    expect(readFileSync(join(dir, 'dist', 'errors.js'), 'utf8')).toContain('// a change pulled in');
    expect(mtime('client/qrelay-login.js'), 'the client, whose source did not change, was rebuilt').toBe(first[2]);

    // The client is bundled from several modules: a change in any of them reaches the one file.
    const strings = join(dir, 'src', 'client', 'strings.ts');
    const text = readFileSync(strings, 'utf8');
    expect(text).toContain("'Get a new QR code'");
    writeFileSync(strings, text.replace("'Get a new QR code'", "'Get another QR code'"));
    utimesSync(strings, later + 1, later + 1);
    await build();
    expect(readFileSync(join(dir, 'dist', 'client', 'qrelay-login.js'), 'utf8')).toContain('Get another QR code');
  }, 240_000);
});
