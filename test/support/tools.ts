// External programs some suites need beyond redis-server (nginx, promtool): found on PATH or in
// the sbin directories Debian installs daemons to (often not on a user's PATH). On a developer's
// machine a missing one skips its suite, and says so in the suite's name and on the console;
// under CI (CI=true, as .ci/run installs them) a missing one fails the suite instead.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The path of the executable `name`, or undefined. */
export function findTool(name: string): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...SBIN]) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface Tool {
  /** Its path; undefined only when the suite is skipped. */
  readonly path: string | undefined;
  /** Whether the suite is skipped: the tool is missing and this is not CI. */
  readonly skip: boolean;
  /** The suite's name, with why it is skipped when it is. */
  readonly title: string;
  /** The tool's path; throws (failing the test) when it is missing, as it may be under CI. */
  require(): string;
}

/** `name` for a suite titled `title`; `install` says how to get it. */
export function tool(name: string, title: string, install: string): Tool {
  const path = findTool(name);
  const skip = path === undefined && process.env['CI'] !== 'true';
  if (skip) console.warn(`SKIPPED "${title}": ${name} not found (${install})`);
  return {
    path,
    skip,
    title: skip ? `${title} [SKIPPED: ${name} not found; ${install}]` : title,
    require: () => {
      if (path === undefined) throw new Error(`${name} not found, and CI=true: .ci/run installs it (${install})`);
      return path;
    },
  };
}
