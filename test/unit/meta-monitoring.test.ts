// medic's own alert rules and Grafana dashboard (deploy/): promtool checks and tests the rules,
// every dashboard panel has a query, and the PromQL metric-name reader used by the e2e test (which
// checks those names against what medic really exports) reads names and nothing else.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dashboardExprs, exportedNames, metricNames } from '../helpers/promql-metrics';

const ROOT = path.resolve(__dirname, '../..');
const RULES_DIR = path.join(ROOT, 'deploy/prometheus');
const PROMTOOL = process.env.MEDIC_PROMTOOL_BIN ?? '/usr/bin/promtool';

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(PROMTOOL, args, { cwd: RULES_DIR }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

describe("medic's alert rules", () => {
  beforeAll(() => {
    if (!fs.existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} is missing: install Debian's prometheus (npm run provision:e2e)`);
  });

  it('pass promtool check rules', async () => {
    const r = await promtool(['check', 'rules', 'medic-rules.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('pass their promtool unit tests (each alert fires on its condition, none on a healthy medic)', async () => {
    const r = await promtool(['test', 'rules', 'medic-rules.test.yml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('cover escalations, refusals, coordinator down, trigger not evaluating and Temporal unreachable', () => {
    const text = fs.readFileSync(path.join(RULES_DIR, 'medic-rules.yml'), 'utf8');
    for (const alert of [
      'MedicEscalationRate',
      'MedicConstraintRefusals',
      'MedicCoordinatorDown',
      'MedicTriggerNotEvaluating',
      'MedicTemporalUnreachable',
    ]) {
      expect(text).toContain(`alert: ${alert}`);
    }
  });
});

describe("medic's Grafana dashboard", () => {
  it('is JSON whose every panel has a query naming medic metrics', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThanOrEqual(8);
    for (const e of exprs) expect(metricNames(e).length).toBeGreaterThan(0);
  });
});

describe('metricNames', () => {
  it.each([
    ['sum by (result) (rate(medic_coordinator_triggers_total[$__rate_interval]))', ['medic_coordinator_triggers_total']],
    ['up{job="medic-coordinator"} == 0', ['up']],
    ['a_total{x="rate(b)"} or b_total offset 5m', ['a_total', 'b_total']],
    ['histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))', ['x_bucket']],
    ['sum by (instance) (rate(e_total{result="ok"}[5m])) * 900 > 5', ['e_total']],
    ['increase(temporal_workflow_failed[1h]) > 3', ['temporal_workflow_failed']],
  ])('reads the metric names of %s', (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });
});

describe('exportedNames', () => {
  it('reads samples and declared metrics, with the series of a histogram', () => {
    const text = [
      '# HELP a_total counts',
      '# TYPE a_total counter',
      '# TYPE d_seconds histogram',
      'd_seconds_bucket{le="1"} 0',
      'b_gauge{x="1"} 3',
      'c 1',
    ].join('\n');
    expect([...exportedNames(text)].sort()).toEqual(
      ['a_total', 'b_gauge', 'c', 'd_seconds', 'd_seconds_bucket', 'd_seconds_count', 'd_seconds_sum'].sort(),
    );
  });
});
