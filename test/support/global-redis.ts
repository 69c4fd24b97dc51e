// Vitest global setup: one Redis for the whole run. REDIS_URL when given (keys are isolated by a
// random prefix per node group), otherwise a redis-server started here on a free port.
import type { TestProject } from 'vitest/node';
import { startRedisServer } from './redis.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env['REDIS_URL'];
  if (given !== undefined && given !== '') {
    project.provide('redisUrl', given);
    return async () => {};
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
