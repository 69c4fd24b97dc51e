// The environment of every process the tests start (qrelay nodes, redis-server, the browser,
// helper commands): exactly what the test gives it, plus PATH and HOME so programs are found and
// have a home. Nothing else comes from the shell that runs the suite, so its REDIS_URL,
// INTERNAL_TOKEN, LOG_LEVEL or ports cannot change what a spawned node does.
export function childEnv(vars: Record<string, string> = {}): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of ['PATH', 'HOME']) {
    const value = process.env[name];
    if (value !== undefined) inherited[name] = value;
  }
  return { ...inherited, ...vars };
}
