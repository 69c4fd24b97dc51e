// Ports for the servers the tests start outside this process (redis-server, Sentinel, a node that
// must keep its port across a restart). The kernel picks them; a server that still cannot bind
// (another process took the port between the probe and the bind: a second copy of the suite, an
// outgoing connection) is started again on fresh ports. No fixed ranges, so copies of the suite
// can run side by side.
import net from 'node:net';

/** `count` distinct ports free on 127.0.0.1 right now: all probes are held open together. */
export async function freePorts(count: number): Promise<number[]> {
  const probes: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const probe = net.createServer();
      probes.push(probe);
      await new Promise<void>((resolve, reject) => {
        probe.once('error', reject);
        probe.listen(0, '127.0.0.1', resolve);
      });
    }
    return probes.map((p) => (p.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(probes.map((p) => new Promise((r) => (p.listening ? p.close(r) : r(undefined)))));
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** Whether `port` (one given, not picked) can be bound on 127.0.0.1 right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** An error meaning "the port was taken": Node's EADDRINUSE, or a child that said so and exited. */
export class PortClash extends Error {
  readonly code = 'EADDRINUSE';
}

const isPortClash = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'EADDRINUSE';

/**
 * Runs `start` on `count` fresh free ports, again on fresh ones while it fails with a port clash.
 * `start` must release whatever it started before it throws.
 */
export async function onFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePorts(count));
    } catch (err) {
      if (!isPortClash(err) || attempt >= attempts) throw err;
    }
  }
}
