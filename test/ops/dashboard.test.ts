// The Grafana dashboard (deploy/grafana/qrelay.json) and the alert rules
// (deploy/prometheus/alerts.yml) name only metrics and labels qrelay exports: every PromQL
// expression in them is read for metric names (identifiers followed by `{` or used bare, a
// histogram's _bucket/_sum/_count included) and label names (matchers, by/without/on lists), and
// each is looked up in what live nodes serve on GET /metrics, in memory mode and in Redis mode.
import { readFileSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import type { Qrelay } from '../../src/app.js';
import { INTERNAL_TOKEN, startNodes } from '../support/cluster.js';
import { mint, poll, setStatus, startNode } from '../support/node.js';

const file = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** What Prometheus adds itself: `up` per target, and the target's labels. */
const PROMETHEUS_METRICS = new Set(['up']);
const TARGET_LABELS = new Set(['job', 'instance']);

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;

/** The metric and label names a PromQL expression uses. */
function promqlNames(expr: string): { metrics: string[]; labels: string[] } {
  const metrics = new Set<string>();
  const labels = new Set<string>();
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""') // string literals
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\$\{?\w+\}?/g, ' '); // Grafana's variables
  for (const [, matchers] of s.matchAll(/\{([^}]*)\}/g)) {
    for (const [, label] of matchers!.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)) labels.add(label!);
  }
  s = s.replace(/\{[^}]*\}/g, ' ');
  for (const [, list] of s.matchAll(GROUPING)) for (const label of list!.split(',').map((l) => l.trim()).filter(Boolean)) labels.add(label);
  s = s.replace(GROUPING, ' ');
  for (const m of s.matchAll(/(?<![\w.:])[A-Za-z_:][\w:]*/g)) {
    const rest = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(m[0].toLowerCase())) continue; // a function or aggregation, or a keyword
    metrics.add(m[0]);
  }
  return { metrics: [...metrics].sort(), labels: [...labels].sort() };
}

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; definition?: string; query?: string | { query: string } }[] };
}

/** Every expression of the dashboard (panels' targets, templating queries) and of the rules, with where it is. */
function expressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(file('deploy/grafana/qrelay.json')) as Dashboard;
  const found: { where: string; expr: string }[] = [];
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) found.push({ where: `dashboard panel "${p.title}"`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const v of dashboard.templating.list) {
    const query = typeof v.query === 'object' ? v.query.query : v.definition;
    const labelValues = /^label_values\(\s*([\w:]+)\s*,\s*(\w+)\s*\)$/.exec(query ?? '');
    if (labelValues !== null) found.push({ where: `dashboard variable ${v.name}`, expr: `${labelValues[1]}{${labelValues[2]}=""}` });
  }
  const rules = parse(file('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  for (const rule of rules.groups.flatMap((g) => g.rules)) found.push({ where: `alert ${rule.alert}`, expr: rule.expr });
  return found;
}

/** The metric names and label names a node exports: its /metrics text, and its registry's label names. */
async function exported(node: Qrelay): Promise<{ metrics: Set<string>; labels: Set<string> }> {
  const res = await fetch(`${node.privateUrl}/metrics`, { headers: { authorization: `Bearer ${INTERNAL_TOKEN}` } });
  expect(res.status).toBe(200);
  const text = await res.text();
  const metrics = new Set<string>();
  const labels = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    metrics.add(name!);
    const [suffixes, label] = type === 'histogram' ? [['_bucket', '_sum', '_count'], 'le'] : type === 'summary' ? [['_sum', '_count'], 'quantile'] : [[], undefined];
    for (const suffix of suffixes) metrics.add(name! + suffix);
    if (label !== undefined) labels.add(label);
  }
  for (const [, sample] of text.matchAll(/^[\w:]+\{([^}]*)\}/gm)) for (const [, label] of sample!.matchAll(/(\w+)="/g)) labels.add(label!);
  // Series of a labelled metric appear once something was counted; its label names are known before.
  for (const metric of node.metrics.registry.getMetricsAsArray() as unknown as { labelNames?: readonly string[] }[]) {
    for (const label of metric.labelNames ?? []) labels.add(label);
  }
  return { metrics, labels };
}

describe('the dashboard and the alert rules', () => {
  it('every alert points to its own section of the runbook (docs/operations.md, "When an alert fires")', () => {
    const runbook = file('docs/operations.md');
    const alerts = runbook.slice(runbook.indexOf('## When an alert fires'));
    const rules = parse(file('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert: string; annotations: { runbook: string } }[] }[] };
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      expect(alerts, `a "### ${rule.alert}" section`).toContain(`\n### ${rule.alert}\n`);
      expect(rule.annotations.runbook).toBe(`docs/operations.md#${rule.alert.toLowerCase()}`);
    }
  });

  it('PromQL names are read as metrics and labels', () => {
    expect(promqlNames('histogram_quantile(0.99, sum by (le, via) (rate(qrelay_set_to_delivery_seconds_bucket{instance=~"$instance"}[$__rate_interval])))')).toEqual({
      metrics: ['qrelay_set_to_delivery_seconds_bucket'],
      labels: ['instance', 'le', 'via'],
    });
    expect(promqlNames('sum(rate(a_total{code="x"}[5m])) / sum(rate(b[10m])) > 0.1 or up == 0 unless on(job) c offset 5m')).toEqual({
      metrics: ['a_total', 'b', 'c', 'up'],
      labels: ['code', 'job'],
    });
  });

  it('name only metrics and labels that live nodes export (memory mode and Redis mode)', async () => {
    const memory = await startNode({ INTERNAL_TOKEN });
    const { nodes: [clustered] } = await startNodes(1, { REDIS_URL: inject('redisUrl') });
    const known = { metrics: new Set(PROMETHEUS_METRICS), labels: new Set(TARGET_LABELS) };
    for (const node of [memory, clustered!]) {
      // Some traffic, so labelled series exist in the text too.
      const s = await mint(node);
      await setStatus(node, { key: s.key, status: 'cancelled' }, INTERNAL_TOKEN).expect(200);
      await poll(node, s).expect(200);
      const { metrics, labels } = await exported(node);
      metrics.forEach((m) => known.metrics.add(m));
      labels.forEach((l) => known.labels.add(l));
    }
    const all = expressions();
    expect(all.filter((e) => e.where.startsWith('dashboard')).length).toBeGreaterThan(10);
    expect(all.filter((e) => e.where.startsWith('alert')).length).toBeGreaterThan(5);
    const unknown: string[] = [];
    for (const { where, expr } of all) {
      const { metrics, labels } = promqlNames(expr);
      expect(metrics.length, `${where}: no metric found in ${expr}`).toBeGreaterThan(0);
      for (const m of metrics) if (!known.metrics.has(m)) unknown.push(`${where}: metric ${m}`);
      for (const l of labels) if (!known.labels.has(l)) unknown.push(`${where}: label ${l}`);
    }
    expect(unknown).toEqual([]);
  });
});
