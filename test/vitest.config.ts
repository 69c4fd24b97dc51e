import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The project root, so test paths and artifacts resolve from there.
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-redis.ts'],
    // Generous: a test waits for conditions, so a loaded machine only makes it slower (browser flows
    // take many steps); a test that truly hangs still fails.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Integration tests boot real listeners and (in cluster suites) share Redis servers; files
    // run in parallel, tests inside a file one after another.
    fileParallelism: true,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
