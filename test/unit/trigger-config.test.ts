// triggers/*.hcl: the keys of issue 17 (keep_firing_for, node_from, evaluation_delay, send limits)
// and the shipped rule against the labels node_exporter really exports.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDiagnostic } from '../../src/config/diagnostics';
import { loadConfigDir } from '../../src/config/load';
import { buildRequest, compileRule } from '../../src/trigger/daemon';
import { seriesKey, type SeriesState } from '../../src/trigger/rule-state';

const TYPES = new Set(['ping', 'restartService', 'rebootNode', 'cleanDisk', 'runbook']);
const WF = 'workflow = "ping"\ntask_queue_target = "node"\n';

async function load(rules: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-config-'));
  fs.mkdirSync(path.join(dir, 'workflows'));
  fs.mkdirSync(path.join(dir, 'triggers'));
  fs.writeFileSync(path.join(dir, 'workflows', 'w.hcl'), WF);
  fs.writeFileSync(path.join(dir, 'triggers', 'r.hcl'), rules);
  const { config, diagnostics } = await loadConfigDir(dir, { workflowTypes: TYPES });
  const errors = diagnostics
    .filter((d) => d.severity === 'error')
    .map((d) => formatDiagnostic({ ...d, file: path.relative(dir, path.resolve(d.file)) }));
  return { triggers: config.triggers, errors };
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
