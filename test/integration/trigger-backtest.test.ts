// `medic trigger backtest` against a real Prometheus (Debian's) holding a synthetic history,
// backfilled with `promtool tsdb create-blocks-from openmetrics` before it starts: the exact
// episodes of rules with `for` and `keep_firing_for`, what admission would have made of them
// (a maxExecution window, a freeze, the per-node disruptive lock and a budget refusing some),
// the peaks, and the errors a user meets.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigDir } from '../../src/config/load';
import { prometheusApi, type PrometheusApi } from '../../src/trigger/daemon';
import { runBacktest } from '../../src/trigger/backtest/backtest';
import { windowGrid } from '../../src/trigger/backtest/grid';
import { episodeKey, seriesKey } from '../../src/trigger/rule-state';
import { WORKFLOW_TYPES } from '../../src/temporal/workflow-types';
import { MEDIC } from '../helpers/medic-process';
import { startPrometheus, type RunningPrometheus } from '../helpers/prometheus';

const STEP = 15_000;
const MIN = 60_000;
/** The history's origin: a whole hour two days ago (grid points and freeze times fall on it). */
const T0 = Math.floor((Date.now() - 2 * 86_400_000) / 3_600_000) * 3_600_000;
const at = (minutes: number): number => T0 + minutes * MIN;
const iso = (minutes: number): string => new Date(at(minutes)).toISOString();

/** Each series: its labels and the [from, to) minutes (after T0) where it is 1; 0 elsewhere. */
const SERIES: Array<{ metric: string; labels: Record<string, string>; on: Array<[number, number]> }> = [
  // disk_full (for 2m, keep_firing_for 1m): two episodes of web-1, the second with a 30 s gap
  // that keep_firing_for bridges; web-2 first pending only (1.5 min < for), then two episodes.
  {
    metric: 'backtest_disk_full',
    labels: { instance: 'web-1', dc: 'dc1' },
    on: [
      [10, 20],
      [40, 45],
      [45.5, 50],
    ],
  },
  {
    metric: 'backtest_disk_full',
    labels: { instance: 'web-2', dc: 'dc1' },
    on: [
      [10, 11.5],
      [30, 40],
      [93, 110],
    ],
  },
  // node_down (for 0): rebootNode is disruptive; budget per_dc allows 2 at once per datacenter.
  {
    metric: 'backtest_node_down',
    labels: { instance: 'db-1', dc: 'dc1' },
    on: [
      [60, 62],
      [63, 64],
    ],
  },
  { metric: 'backtest_node_down', labels: { instance: 'db-2', dc: 'dc1' }, on: [[61, 70]] },
  { metric: 'backtest_node_down', labels: { instance: 'db-3', dc: 'dc2' }, on: [[61, 63]] },
  { metric: 'backtest_node_down', labels: { instance: 'db-4', dc: 'dc1' }, on: [[62, 64]] },
  { metric: 'backtest_node_down', labels: { instance: 'db-5', dc: 'dc1' }, on: [[63, 70]] },
];

/** The history as OpenMetrics: a sample every 15 s from 30 minutes before T0 to 3 hours after. */
function openMetrics(): string {
  const lines: string[] = [];
  for (const metric of [...new Set(SERIES.map((s) => s.metric))]) {
    lines.push(`# TYPE ${metric} gauge`);
    for (const s of SERIES.filter((x) => x.metric === metric)) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      for (let t = at(-30); t <= at(180); t += STEP) {
        const on = s.on.some(([a, b]) => t >= at(a) && t < at(b));
        lines.push(`${metric}{${labels}} ${on ? 1 : 0} ${t / 1000}`);
      }
    }
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

function writeConfig(dir: string, prometheus: string): void {
  fs.mkdirSync(path.join(dir, 'workflows'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'triggers'), { recursive: true });
  const wall = (minutes: number): string => iso(minutes).slice(0, 16);
  fs.writeFileSync(
    path.join(dir, 'coordinator.hcl'),
    `server_config {
  listen     = "127.0.0.1:8443"
  enable_tls = false
}
budget "per_dc" {
  per = "datacenter"
  max = 2
}
freeze "maintenance" {
  from      = "${wall(90)}"
  to        = "${wall(100)}"
  workflows = ["cleanDisk"]
}
`,
  );
  fs.writeFileSync(
    path.join(dir, 'workflows', 'cleanDisk.hcl'),
    `workflow          = "cleanDisk"
task_queue_target = "node"
constraint {
  kind   = "maxExecution"
  value  = "1"
  period = "1h"
}
`,
  );
  fs.writeFileSync(
    path.join(dir, 'workflows', 'rebootNode.hcl'),
    'workflow          = "rebootNode"\ntask_queue_target = "node"\ndisruptive        = true\n',
  );
  fs.writeFileSync(
    path.join(dir, 'triggers', 'rules.hcl'),
    `prometheus {
  address       = "${prometheus}"
  poll_interval = "15s"
}
rule "disk_full" {
  query           = "backtest_disk_full > 0"
  for             = "2m"
  keep_firing_for = "1m"
  workflow        = "cleanDisk"
  target {
    node       = "{{ $labels.instance }}"
    datacenter = "{{ $labels.dc }}"
  }
}
rule "node_down" {
  query    = "backtest_node_down > 0"
  workflow = "rebootNode"
  target {
    node       = "{{ $labels.instance }}"
    datacenter = "{{ $labels.dc }}"
  }
}
rule "oom" {
  source   = "log"
  file     = "/var/log/app.log"
  match    = "out of memory"
  count    = 1
  window   = "1m"
  workflow = "rebootNode"
  target {
    node = "{{ $node }}"
  }
}
`,
  );
}

/** A loopback port nothing listens on (one the system just gave out and took back). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function medic(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MEDIC, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** What the report says of one episode, in the JSON document's words. */
function episode(
  rule: string,
  instance: string,
  dc: string,
  activeMin: number,
  rest: {
    fired: number;
    ended: number;
    outcome: string;
    started?: number;
    refusals?: number;
    refusedBy?: string;
    stopped?: string;
  },
) {
  const labels = { __name__: rule === 'disk_full' ? 'backtest_disk_full' : 'backtest_node_down', dc, instance };
  return {
    rule,
    workflow: rule === 'disk_full' ? 'cleanDisk' : 'rebootNode',
    key: episodeKey(rule, { key: seriesKey(labels), activeSince: at(activeMin) }),
    labels,
    target: { node: instance, datacenter: dc },
    active_since: iso(activeMin),
    fired_at: iso(rest.fired),
    ended_at: iso(rest.ended),
    outcome: rest.outcome,
    ...(rest.started !== undefined && { started_at: iso(rest.started) }),
    refusals: rest.refusals ?? 0,
    ...(rest.refusedBy && { refused_by: rest.refusedBy }),
    ...(rest.stopped && { stopped_because: rest.stopped }),
  };
}

interface EpisodeJson {
  labels: Record<string, string>;
  outcome: string;
  started_at?: string;
  refusals: number;
  refused_by?: string;
}

let prometheus: RunningPrometheus;
let dir: string;

beforeAll(async () => {
  prometheus = await startPrometheus({ targets: [], backfill: openMetrics() });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-backtest-'));
  writeConfig(dir, prometheus.address);
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
});

describe('medic trigger backtest on a real Prometheus with a backfilled week', () => {
  it('reports the exact episodes of a week, and what admission would have made of each (the built CLI, --json)', async () => {
    const { code, stdout, stderr } = await medic(['trigger', 'backtest', '--config', dir, '--from', '7d', '--json']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(stdout);
    const episodes = report.episodes.map(({ message: _m, ...e }: Record<string, unknown>) => e);
    expect(episodes).toEqual([
      episode('disk_full', 'web-1', 'dc1', 10, { fired: 12, ended: 21, outcome: 'started', started: 12 }),
      episode('disk_full', 'web-2', 'dc1', 30, { fired: 32, ended: 41, outcome: 'started', started: 32 }),
      // The 30 s gap at 45m is bridged by keep_firing_for: one episode, refused by the 1/1h window of
      // web-1 (it may pass at 72m, after the episode ended at 51m).
      episode('disk_full', 'web-1', 'dc1', 40, {
        fired: 42,
        ended: 51,
        outcome: 'refused',
        refusals: 1,
        refusedBy: 'maxExecution',
        stopped: 'episode_ended',
      }),
      // Refused by the freeze (Retry-After 300 s), started when it ended.
      episode('disk_full', 'web-2', 'dc1', 93, {
        fired: 95,
        ended: 111,
        outcome: 'started',
        started: 100,
        refusals: 1,
        refusedBy: 'freeze',
      }),
      episode('node_down', 'db-1', 'dc1', 60, { fired: 60, ended: 62, outcome: 'started', started: 60 }),
      episode('node_down', 'db-2', 'dc1', 61, { fired: 61, ended: 70, outcome: 'started', started: 61 }),
      episode('node_down', 'db-3', 'dc2', 61, { fired: 61, ended: 63, outcome: 'started', started: 61 }),
      // dc1's budget is held by db-1 and db-2 (until 65m and 66m): refused every 30 s until the episode ended.
      episode('node_down', 'db-4', 'dc1', 62, {
        fired: 62,
        ended: 64,
        outcome: 'refused',
        refusals: 4,
        refusedBy: 'budget',
        stopped: 'episode_ended',
      }),
      // db-1's node is held by its first episode's execution until 65m.
      episode('node_down', 'db-1', 'dc1', 63, {
        fired: 63,
        ended: 64,
        outcome: 'refused',
        refusals: 2,
        refusedBy: 'disruptive_lock',
        stopped: 'episode_ended',
      }),
      // Started at 65m, when db-1's execution (5 min from 60m) gave its budget place back.
      episode('node_down', 'db-5', 'dc1', 63, {
        fired: 63,
        ended: 70,
        outcome: 'started',
        started: 65,
        refusals: 4,
        refusedBy: 'budget',
      }),
    ]);
    expect(report.summary).toEqual([
      {
        rule: 'disk_full',
        workflow: 'cleanDisk',
        episodes: 4,
        firing_at_from: 0,
        would_start: 3,
        started_after_refusal: 1,
        refused: { maxExecution: 1 },
        shadow: 0,
        rejected: 0,
        invalid: 0,
        coalesced: 0,
        still_firing: 0,
      },
      {
        rule: 'node_down',
        workflow: 'rebootNode',
        episodes: 6,
        firing_at_from: 0,
        would_start: 4,
        started_after_refusal: 1,
        refused: { budget: 1, disruptive_lock: 1 },
        shadow: 0,
        rejected: 0,
        invalid: 0,
        coalesced: 0,
        still_firing: 0,
      },
    ]);
    expect(report.peaks).toEqual({
      datacenters: { dc1: { peak: 2, at: iso(61) }, dc2: { peak: 1, at: iso(61) } },
      budgets: { 'per_dc|dc1': { peak: 2, at: iso(61), limit: 2 }, 'per_dc|dc2': { peak: 1, at: iso(61), limit: 2 } },
    });
    expect(report.not_backtestable).toEqual([
      { rule: 'oom', source: 'log', why: 'log lines are not kept in Prometheus: no history to replay' },
    ]);
    expect(report.step_seconds).toBe(15);
    expect(report.assumptions.duration).toBe('5m');
    expect(report.assumptions.unknown).toContain('pauses as of then are unknown: none is applied');
    // 1 + 1 + 1 + 2 (disk_full) and 1 + 1 + 1 + 4 + 2 + 5 (node_down) attempts, in time order.
    expect(report.timeline).toHaveLength(19);
    const times = report.timeline.map((t: { at: string }) => Date.parse(t.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const lockRefusal = report.timeline.find((t: { control?: string }) => t.control === 'disruptive_lock');
    expect(lockRefusal).toMatchObject({
      at: iso(63),
      scope: 'node=db-1',
      holders: [episodes[4].key],
      decision: 'refused',
      attempt: 1,
    });
  });

  it('reads the window in range queries of at most 10,000 points, on the grid of the poll interval', async () => {
    const { config } = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
    const real = prometheusApi(config.triggers.prometheus!);
    const ranges: Array<{ start: number; end: number; step: number }> = [];
    const api: PrometheusApi = {
      instant: real.instant,
      range: (query, range, signal) => {
        ranges.push(range);
        return real.range(query, range, signal);
      },
    };
    const now = Date.now();
    const grid = windowGrid(now - 7 * 86_400_000, now, STEP, 0)!;
    const report = await runBacktest(config, api, { grid, rule: 'disk_full', assumeDuration: { ms: 5 * MIN }, node: 'n' });
    // 40,320 points: one replay before the window, then five chunks.
    const points = (grid.last - grid.first) / STEP + 1;
    expect(points).toBe(40_320);
    const chunks = ranges.slice(1);
    expect(chunks.map((r) => (r.end - r.start) / r.step + 1)).toEqual([10_000, 10_000, 10_000, 10_000, 320]);
    expect(chunks[0]!.start).toBe(grid.first);
    expect(chunks.at(-1)!.end).toBe(grid.last);
    for (const r of ranges)
      expect({ start: r.start % STEP, end: r.end % STEP, step: r.step }).toEqual({ start: 0, end: 0, step: STEP });
    expect(report.rules.map((r) => [r.rule, r.episodes, r.wouldStart])).toEqual([['disk_full', 4, 3]]);
  });

  it('gives an episode firing at --from the key of the whole week, and prints a timeline (text)', async () => {
    const { code, stdout } = await medic([
      'trigger',
      'backtest',
      '--config',
      dir,
      '--from',
      iso(15).slice(0, 16), // no zone: UTC
      '--to',
      iso(60),
      '--rule',
      'disk_full',
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    const labels = { __name__: 'backtest_disk_full', dc: 'dc1', instance: 'web-1' };
    expect(
      report.episodes.map((e: Record<string, unknown>) => [e.key, e.outcome, e.active_since, e.fired_at, e.ended_at]),
    ).toEqual([
      [episodeKey('disk_full', { key: seriesKey(labels), activeSince: at(10) }), 'firing_at_from', iso(10), null, iso(21)],
      [expect.any(String), 'started', iso(30), iso(32), iso(41)],
      // Admission starts empty at --from: web-1's window holds nothing of the 12m start.
      [expect.any(String), 'started', iso(40), iso(42), iso(51)],
    ]);
    expect(report.summary[0]).toMatchObject({ episodes: 2, firing_at_from: 1, would_start: 2 });

    const text = await medic(['trigger', 'backtest', '--config', dir, '--from', '7d', '--rule', 'node_down']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      `${iso(62)}  node_down  node=db-4 datacenter=dc1 {__name__="backtest_node_down",dc="dc1",instance="db-4"}  would be refused by budget datacenter=dc1`,
    );
    expect(text.stdout).toContain('Unknown: pauses as of then are unknown: none is applied.');
    expect(text.stdout).toMatch(/^ {2}budget per_dc\|dc1: 2 of 2 at /m);
  });

  it('sizes a percentage budget by the fleet of then: fleet_size queried over the same window', async () => {
    const measured = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-backtest-'));
    writeConfig(measured, prometheus.address);
    // dc1 counts 4 nodes (50%: 2 at once), dc2 one (50%: none).
    fs.writeFileSync(
      path.join(measured, 'coordinator.hcl'),
      `server_config {
  listen     = "127.0.0.1:8443"
  enable_tls = false
}
budget "half_dc" {
  per         = "datacenter"
  max_percent = 50
}
fleet_size {
  prometheus       = "${prometheus.address}"
  query            = "count by (dc) (backtest_node_down)"
  datacenter_label = "dc"
}
`,
    );
    const { code, stdout } = await medic([
      'trigger',
      'backtest',
      '--config',
      measured,
      '--from',
      '7d',
      '--rule',
      'node_down',
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(
      report.episodes.map((e: EpisodeJson) => [
        e.labels.instance,
        e.outcome,
        e.started_at ?? null,
        e.refusals,
        e.refused_by ?? null,
      ]),
    ).toEqual([
      ['db-1', 'started', iso(60), 0, null],
      ['db-2', 'started', iso(61), 0, null],
      ['db-3', 'refused', null, 4, 'budget'],
      ['db-4', 'refused', null, 4, 'budget'],
      ['db-1', 'refused', null, 2, 'disruptive_lock'],
      ['db-5', 'started', iso(65), 4, 'budget'],
    ]);
    expect(report.summary[0]).toMatchObject({ episodes: 6, would_start: 3, refused: { budget: 2, disruptive_lock: 1 } });
    expect(report.peaks.budgets).toEqual({ 'half_dc|dc1': { peak: 2, at: iso(61), limit: 2 } });
  });

  it('names an unknown rule, an unreachable Prometheus with its URL, and a bad --from', async () => {
    const unknown = await medic(['trigger', 'backtest', '--config', dir, '--from', '7d', '--rule', 'nope']);
    expect(unknown).toEqual({
      code: 2,
      stdout: '',
      stderr: 'medic trigger backtest: no rule "nope" in triggers/*.hcl (rules: disk_full, node_down, oom)\n',
    });
    const closed = await closedPort();
    const down = await medic([
      'trigger',
      'backtest',
      '--config',
      dir,
      '--from',
      '1h',
      '--prometheus-address',
      `http://127.0.0.1:${closed}`,
    ]);
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(
      new RegExp(
        `^medic trigger backtest: cannot read the history of rule disk_full from Prometheus at http://127\\.0\\.0\\.1:${closed}: cannot reach .*ECONNREFUSED`,
      ),
    );
    const bad = await medic(['trigger', 'backtest', '--config', dir, '--from', 'last week']);
    expect(bad).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'medic trigger backtest: --from "last week" is neither "now", a duration before now (7d, 36h, 1h30m) nor a time (2026-12-01T06:00Z)\n',
    });
  });
});
