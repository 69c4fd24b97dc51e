// The Kubernetes manifests (deploy/kubernetes/) against the code: every variable they set is a
// setting src/config.ts reads, and their values pass its validation; ports and probe paths are
// the listeners' and routes'; the grace period covers preStop, the drain and a held poll; the
// Services, the disruption budget and the Secret fit the Deployment.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig, SETTING_NAMES } from '../../src/config.js';
import { openApiDocument } from '../../src/http/openapi.js';

const DIR = new URL('../../deploy/kubernetes/', import.meta.url);

interface Resource {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly [field: string]: unknown;
}

const resources: Resource[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) =>
    parseAllDocuments(readFileSync(new URL(f, DIR), 'utf8')).map((doc) => {
      expect(doc.errors, f).toEqual([]);
      return doc.toJS() as Resource;
    }),
  );
const one = <T>(kind: string): T & Resource => {
  const found = resources.filter((r) => r.kind === kind);
  expect(found.length, `one ${kind}`).toBe(1);
  return found[0] as T & Resource;
};

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  ports: { name: string; containerPort: number }[];
  env: EnvVar[];
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle: { preStop: { exec: { command: string[] } } };
}
interface Deployment {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { terminationGracePeriodSeconds: number; containers: Container[] } };
  };
}
interface Service {
  spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] };
}

const deployment = one<Deployment>('Deployment');
const pod = deployment.spec.template;
const [container] = pod.spec.containers;
const secret = one<{ stringData: Record<string, string> }>('Secret');
const POD_IP = '10.1.2.3';

/** The container's environment as the kubelet builds it: secrets, the pod's IP, $(VAR) references. */
function environment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of container!.env) {
    const { secretKeyRef, fieldRef } = v.valueFrom ?? {};
    if (secretKeyRef !== undefined) {
      expect(secretKeyRef.name, v.name).toBe(secret.metadata.name);
      expect(Object.keys(secret.stringData), `${v.name}: the Secret's keys`).toContain(secretKeyRef.key);
      env[v.name] = secret.stringData[secretKeyRef.key]!;
    } else if (fieldRef !== undefined) {
      expect(fieldRef.fieldPath).toBe('status.podIP');
      env[v.name] = POD_IP;
    } else {
      env[v.name] = (v.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (_, name: string) => {
        expect(env, `$(${name}) in ${v.name} refers to a variable set above it`).toHaveProperty(name);
        return env[name]!;
      });
    }
  }
  return env;
}

describe('deploy/kubernetes', () => {
  it('sets only settings src/config.ts reads, with values it accepts (cluster mode, tokens from the Secret)', () => {
    const env = environment();
    for (const name of Object.keys(env)) expect(SETTING_NAMES, `${name} is not a qrelay setting`).toContain(name);
    for (const key of Object.keys(secret.stringData)) expect(SETTING_NAMES, `the Secret's ${key}`).toContain(key);
    const config = loadConfig(env);
    expect(config.redisUrl).toBeDefined();
    expect(config.privateHost).toBe(POD_IP);
    expect(config.nodeAddr).toBe(`http://${POD_IP}:${config.privatePort}`);
  });

  it('names the listeners\' ports, and probes /readyz and /healthz on the private one', () => {
    const config = loadConfig(environment());
    const ports = Object.fromEntries(container!.ports.map((p) => [p.name, p.containerPort]));
    expect(ports).toEqual({ public: config.publicPort, private: config.privatePort });
    const portOf = (p: string | number): number => (typeof p === 'number' ? p : ports[p]!);
    const doc = openApiDocument();
    for (const [probe, path] of [[container!.readinessProbe, '/readyz'], [container!.livenessProbe, '/healthz']] as const) {
      expect(probe.httpGet.path).toBe(path);
      expect(portOf(probe.httpGet.port)).toBe(config.privatePort);
      const route = doc.paths[path]?.['get'] as { tags: string[]; security: unknown[] };
      expect(route.tags).toEqual(['private']);
      expect(route.security, `${path} answers without a token`).toEqual([]);
    }
  });

  it('gives a stopping pod time for preStop, the drain, a held poll and the shutdown watchdog', () => {
    const config = loadConfig(environment());
    const [command, seconds] = container!.lifecycle.preStop.exec.command;
    expect(command).toBe('sleep');
    const preStopMs = Number(seconds) * 1000;
    expect(preStopMs).toBeGreaterThan(0);
    const graceMs = pod.spec.terminationGracePeriodSeconds * 1000;
    const margin = 5_000;
    expect(graceMs).toBeGreaterThanOrEqual(preStopMs + config.drainMs + config.holdMs + margin);
    // src/main.ts's watchdog forces the exit after DRAIN_MS + SHUTDOWN_TIMEOUT_MS + 3 s.
    expect(graceMs).toBeGreaterThanOrEqual(preStopMs + config.drainMs + config.shutdownTimeoutMs + 3_000 + margin);
  });

  it('Services reach the public and private ports of these pods; the disruption budget leaves nodes serving', () => {
    const labels = pod.metadata.labels;
    expect(deployment.spec.selector.matchLabels).toEqual(labels);
    const services = resources.filter((r) => r.kind === 'Service') as unknown as (Service & Resource)[];
    const targets = services.flatMap((s) => {
      for (const [k, v] of Object.entries(s.spec.selector)) expect(labels[k], `${s.metadata.name} selects these pods`).toBe(v);
      return s.spec.ports.map((p) => p.targetPort);
    });
    expect(targets.sort()).toEqual(['private', 'public']);
    const pdb = one<{ spec: { maxUnavailable?: number; minAvailable?: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(labels);
    const unavailable = pdb.spec.maxUnavailable ?? deployment.spec.replicas - (pdb.spec.minAvailable ?? deployment.spec.replicas);
    expect(unavailable).toBeGreaterThanOrEqual(1);
    expect(unavailable).toBeLessThan(deployment.spec.replicas);
  });

  it('kustomization.yaml lists every manifest', () => {
    const kustomization = parseAllDocuments(readFileSync(new URL('kustomization.yaml', DIR), 'utf8'))[0]!.toJS() as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual(readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });
});
