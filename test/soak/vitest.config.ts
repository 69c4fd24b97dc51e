import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The soaks: long runs, kept out of `npm test` (whose config includes only *.test.ts).
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/soak/**/*.soak.ts'],
    globalSetup: ['test/support/global-redis.ts'],
    testTimeout: 30 * 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
