// triggers/*.hcl: the keys of issue 17 (keep_firing_for, node_from, evaluation_delay, send limits),
// the shipped rule against the labels node_exporter really exports, and the log and health-check
// rules of issue 26 (their keys, their mistakes, the shipped examples).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDiagnostic } from '../../src/config/diagnostics';
import { loadConfigDir } from '../../src/config/load';
import { buildRequest, compileRule } from '../../src/trigger/daemon';
import { seriesKey, type SeriesState } from '../../src/trigger/rule-state';

const TYPES = new Set(['ping', 'restartService', 'rebootNode', 'cleanDisk', 'runbook']);
const WF = 'workflow = "ping"\ntask_queue_target = "node"\n';

async function load(rules: string, files: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-config-'));
  fs.mkdirSync(path.join(dir, 'workflows'));
  fs.mkdirSync(path.join(dir, 'triggers'));
  fs.writeFileSync(path.join(dir, 'workflows', 'w.hcl'), WF);
  fs.writeFileSync(path.join(dir, 'triggers', 'r.hcl'), rules);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const { config, diagnostics } = await loadConfigDir(dir, { workflowTypes: TYPES });
  const show = (severity: string) =>
    diagnostics
      .filter((d) => d.severity === severity)
      .map((d) => formatDiagnostic({ ...d, file: path.relative(dir, path.resolve(d.file)) }));
  return { triggers: config.triggers, errors: show('error'), warnings: show('warning'), dir };
}

/** A firing series of the shipped rule as Prometheus returns it for node_exporter's metrics. */
const nodeExporterSeries = (instance: string): SeriesState => {
  const labels = { device: '/dev/sda1', fstype: 'ext4', instance, job: 'node', mountpoint: '/' };
  return { key: seriesKey(labels), labels, value: '0.031', activeSince: 0, lastSeen: 0, state: 'firing' };
};

describe('trigger configuration', () => {
  it("ships a disk rule that targets the node behind node_exporter's instance label", async () => {
    const { config, diagnostics } = await loadConfigDir(path.join(__dirname, '..', '..', 'config'), { workflowTypes: TYPES });
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const rule = config.triggers.rules.find((r) => r.name === 'disk_almost_full')!;
    expect(rule).toMatchObject({ forMs: 300_000, keepFiringForMs: 300_000, target: { nodeFrom: 'instance' } });
    const request = buildRequest(compileRule(rule), nodeExporterSeries('web-1.dc1.example.com:9100'), 'k');
    expect(request.target).toEqual({ node: 'web-1.dc1.example.com' });
    expect(request.reason).toBe('root filesystem has less than 5% free (0.031)');
    expect(buildRequest(compileRule(rule), nodeExporterSeries('10.1.2.3:9100'), 'k').target.node).toBe('10.1.2.3');
  });

  it('reads keep_firing_for, node_from, evaluation_delay and the send limits; all optional', async () => {
    const { triggers, errors } = await load(`
prometheus {
  address          = "http://127.0.0.1:9090"
  poll_interval    = "10s"
  evaluation_delay = "2s"
}
coordinator {
  address       = "https://127.0.0.1:8443"
  max_in_flight = 4
  max_queue     = 100
}
rule "r" {
  query           = "up == 0"
  keep_firing_for = "2m"
  workflow        = "w"
  target { node_from = "instance" }
}
rule "today" {
  query    = "up == 0"
  workflow = "w"
  target { node = "{{ $labels.instance }}" }
}
`);
    expect(errors).toEqual([]);
    expect(triggers.prometheus).toMatchObject({ pollIntervalMs: 10_000, evaluationDelayMs: 2000 });
    expect(triggers.coordinator).toMatchObject({ maxInFlight: 4, maxQueue: 100 });
    expect(triggers.rules[0]).toMatchObject({ keepFiringForMs: 120_000, target: { nodeFrom: 'instance' } });
    expect(triggers.rules[1]).toMatchObject({ forMs: 0, keepFiringForMs: 0, target: { node: '{{ $labels.instance }}' } });
  });

  it('defaults evaluation_delay to a tenth of poll_interval, between 100 ms and 1 s', async () => {
    const delay = async (poll: string) =>
      (await load(`prometheus {\n address = "http://p:9090"\n poll_interval = "${poll}"\n}\n`)).triggers.prometheus!
        .evaluationDelayMs;
    expect([await delay('500ms'), await delay('5s'), await delay('30s')]).toEqual([100, 500, 1000]);
  });

  it('names the attribute of each mistake', async () => {
    const { errors } = await load(`
prometheus {
  address          = "http://127.0.0.1:9090"
  poll_interval    = "1s"
  evaluation_delay = "1s"
}
coordinator {
  address       = "https://127.0.0.1:8443"
  max_in_flight = 0
}
rule "both" {
  query    = "up == 0"
  workflow = "w"
  target {
    node      = "{{ $labels.host }}"
    node_from = "instance"
  }
}
rule "bad_label" {
  query           = "up == 0"
  workflow        = "w"
  keep_firing_for = "soon"
  target { node_from = "{{ $labels.instance }}" }
}
`);
    expect(errors).toEqual([
      'triggers/r.hcl: prometheus.evaluation_delay: must be shorter than poll_interval',
      'triggers/r.hcl: coordinator.max_in_flight: must be greater than 0, got 0',
      'triggers/r.hcl: rule.bad_label.keep_firing_for: "soon" is not a duration (e.g. "30s", "15m", "1h30m")',
      'triggers/r.hcl: rule.bad_label.target.node_from: "{{ $labels.instance }}" is not a label name',
      'triggers/r.hcl: rule.both.target.node_from: set either node or node_from, not both',
    ]);
  });
});

describe('log and health-check rules', () => {
  const COORDINATOR = 'coordinator {\n  address = "https://127.0.0.1:8443"\n}\n';

  it('reads both sources with their defaults; they need no prometheus block; the target defaults to this node', async () => {
    const { triggers, errors, warnings, dir } = await load(`${COORDINATOR}
node = "web-1"
rule "oom" {
  source   = "log"
  file     = "logs/error.log"
  match    = "worker process (?P<pid>[0-9]+) exited"
  window   = "1m"
  workflow = "w"
  reason   = "{{ $node }} lost worker {{ $labels.pid }}: {{ $value }}"
}
rule "journal" {
  source            = "log"
  journal_unit      = "nginx.service"
  journal_directory = "/var/log/journal/remote"
  match             = "(?P<unit>[a-z]+)\\\\.service failed"
  group_by          = ["unit"]
  count             = 3
  window            = "10m"
  keep_firing_for   = "5m"
  workflow          = "w"
  target { node = "{{ $labels.unit }}-{{ $node }}" }
}
rule "health" {
  source   = "http"
  url      = "http://127.0.0.1:8080/health"
  every    = "10s"
  workflow = "w"
}
`);
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(triggers.node).toBe('web-1');
    expect(triggers.rules).toEqual([
      expect.objectContaining({
        source: 'http',
        url: 'http://127.0.0.1:8080/health',
        everyMs: 10_000,
        timeoutMs: 5000,
        failures: 1,
        followRedirects: false,
        target: { node: '{{ $node }}' },
      }),
      expect.objectContaining({
        source: 'log',
        journalUnit: 'nginx.service',
        journalDirectory: '/var/log/journal/remote',
        count: 3,
        keepFiringForMs: 300_000,
        groupBy: ['unit'],
      }),
      expect.objectContaining({
        source: 'log',
        logFile: path.join(fs.realpathSync(dir), 'triggers', 'logs', 'error.log'),
        count: 1,
        windowMs: 60_000,
        keepFiringForMs: 0,
        groupBy: [],
        target: { node: '{{ $node }}' },
      }),
    ]);
    const oom = triggers.rules[2]!;
    const series = {
      key: '[]',
      labels: { pid: '42' },
      value: 'worker process 42 exited',
      activeSince: 0,
      lastSeen: 0,
      state: 'firing' as const,
    };
    expect(buildRequest(compileRule(oom), series, 'k', 'web-1')).toEqual({
      target: { node: 'web-1' },
      params: {},
      reason: 'web-1 lost worker 42: worker process 42 exited',
      idempotency_key: 'k',
    });
  });

  it("takes this node's name from worker.hcl when the trigger files do not name it", async () => {
    const rule = 'rule "h" {\n source = "http"\n url = "http://127.0.0.1:1/"\n every = "1s"\n workflow = "w"\n}\n';
    const { triggers } = await load(COORDINATOR + rule, {
      'worker.hcl': 'worker {\n  datacenter = "ams1"\n  node_type = "db"\n  node = "db-7"\n}\n',
    });
    expect(triggers.node).toBe('db-7');
  });

  it('names the attribute of each mistake, and says why a pattern is refused', async () => {
    const { errors } = await load(`${COORDINATOR}
node = "two words"
rule "backref" {
  source   = "log"
  file     = "/var/log/x.log"
  match    = "(a+)\\\\1"
  window   = "1m"
  workflow = "w"
}
rule "both_inputs" {
  source       = "log"
  file         = "/var/log/x.log"
  journal_unit = "x.service"
  match        = "x"
  window       = "1m"
  workflow     = "w"
}
rule "no_input" {
  source   = "log"
  match    = "(?P<pid>[0-9]+)"
  count    = 20000
  group_by = ["unit"]
  workflow = "w"
  reason   = "{{ $labels.unit }}"
  target { node_from = "host" }
}
rule "bad_unit" {
  source       = "log"
  journal_unit = "-x; rm -rf /"
  match        = "x"
  window       = "1m"
  query        = "up == 0"
  workflow     = "w"
}
rule "check" {
  source   = "http"
  url      = "ftp://127.0.0.1/health"
  every    = "1s"
  timeout  = "2s"
  failures = 0
  workflow = "w"
  target { node = "{{ $labels.instance }}" }
}
rule "secret" {
  source   = "http"
  url      = "http://user:pw@127.0.0.1/health"
  workflow = "w"
}
rule "other" {
  source   = "syslog"
  workflow = "w"
}
`);
    // Rules come in the order of their names (HCL's labelled blocks).
    expect(errors).toEqual([
      'triggers/r.hcl: rule.backref.match: not an RE2 regular expression: invalid escape sequence: `\\1` (backreferences and lookaround need backtracking, which RE2 does not do: match the plain text instead)',
      'triggers/r.hcl: rule.bad_unit.journal_unit: "-x; rm -rf /" is not a systemd unit name',
      expect.stringMatching(/^triggers\/r\.hcl: rule\.bad_unit\.query: unknown key \(known here: .*journal_unit.*\)$/),
      'triggers/r.hcl: rule.both_inputs: set either file or journal_unit',
      'triggers/r.hcl: rule.check.url: "ftp://127.0.0.1/health" must use http or https',
      'triggers/r.hcl: rule.check.timeout: must not be longer than every (checks do not overlap)',
      'triggers/r.hcl: rule.check.failures: must be greater than 0, got 0',
      'triggers/r.hcl: rule.check.target.node: {{ $labels.instance }}: an HTTP check has no label "instance"',
      'triggers/r.hcl: rule.no_input: set either file or journal_unit',
      'triggers/r.hcl: rule.no_input.count: must be at most 10000, got 20000',
      'triggers/r.hcl: rule.no_input.window: is required',
      'triggers/r.hcl: rule.no_input.group_by: match has no named capture "unit"',
      'triggers/r.hcl: rule.no_input.reason: {{ $labels.unit }}: match has no label "unit"',
      'triggers/r.hcl: rule.no_input.target.node_from: match has no label "host"',
      'triggers/r.hcl: rule.other.source: "syslog" is not one of "prometheus", "log", "http"',
      'triggers/r.hcl: rule.secret.url: must not hold credentials (they would be logged)',
      'triggers/r.hcl: rule.secret.every: is required',
      'triggers/r.hcl: node: "two words" must not contain spaces',
    ]);
  });

  it('ships an example of each source that validates against the shipped restartService', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-examples-'));
    const root = path.join(__dirname, '..', '..', 'config');
    fs.mkdirSync(path.join(dir, 'workflows'));
    fs.copyFileSync(path.join(root, 'workflows', 'restartService.hcl'), path.join(dir, 'workflows', 'restartService.hcl'));
    fs.cpSync(path.join(root, 'triggers', 'examples'), path.join(dir, 'triggers'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'triggers', 'coordinator.hcl'), COORDINATOR);
    const { config, diagnostics } = await loadConfigDir(dir, { workflowTypes: TYPES });
    expect(diagnostics.map(formatDiagnostic)).toEqual([]);
    expect(config.triggers.rules.map((r) => [r.name, r.source])).toEqual([
      ['api_health', 'http'],
      ['nginx_oom', 'log'],
      ['unit_crash_loop', 'log'],
    ]);
  });
});
