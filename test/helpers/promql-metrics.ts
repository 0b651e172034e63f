// Metric names a PromQL expression reads (for checking that dashboards and alert rules name
// metrics medic really exports), the queries of deploy/, and the metric names of an exposition.
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const RULES_DIR = path.join(ROOT, 'deploy/prometheus');

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'inf', 'nan']);

/** Every metric name selected by `expr` (not functions, labels, keywords or durations). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // strings
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$__\w+/g, ' '); // Grafana variables
  const names = new Set<string>();
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (/^\d/.test(bare.slice(m.index! - 1, m.index!))) continue; // the unit of a number like 1h
    names.add(m[0]);
  }
  return [...names];
}

/**
 * Names of the metrics in a Prometheus text exposition: its samples, and every declared metric
 * (`# TYPE`) even before its first sample (a labelled counter that has not counted yet), with the
 * series names a histogram or summary has.
 */
export function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const typed = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (typed) {
      const [, name, kind] = typed;
      names.add(name!);
      if (kind === 'histogram') ['_bucket', '_sum', '_count'].forEach((s) => names.add(name + s));
      if (kind === 'summary') ['_sum', '_count'].forEach((s) => names.add(name + s));
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

/** Every `expr:` of the rule file (one line each). */
export function ruleExprs(): string[] {
  const text = fs.readFileSync(path.join(RULES_DIR, 'medic-rules.yml'), 'utf8');
  return [...text.matchAll(/^\s+expr:\s*(.+)$/gm)].map((m) => m[1]!.trim());
}

export function dashboardExprs(): string[] {
  const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/grafana/medic.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr?: string }> }>;
  };
  return dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
}
