// The trigger daemon end to end: a real Prometheus scrapes an exporter this test serves, the
// built `medic trigger` polls it and asks a real coordinator (mTLS) to start a workflow on the
// run's real Temporal server.
import type { Client } from '@temporalio/client';
import { queryValue } from '../../src/naming/search-attributes';
import { startExporter, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import type { Proc } from '../helpers/medic-process';
import { metricSample } from '../helpers/metrics-text';
import { buildStack, type Stack } from '../helpers/stack';
import { connectClient, eventually, temporalAddress, unique } from '../helpers/temporal';

jest.setTimeout(180_000);

interface Execution {
  workflowId: string;
  startTime: Date;
}

async function executions(client: Client, workflow: string, node: string): Promise<Execution[]> {
  const out: Execution[] = [];
  const query = `MedicWorkflow = ${queryValue(workflow)} AND MedicNode = ${queryValue(node)}`;
  for await (const wf of client.workflow.list({ query })) out.push({ workflowId: wf.workflowId, startTime: wf.startTime });
  return out.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSample(await (await fetch(url)).text(), name, labels);
}

interface Counted {
  metricsUrl: string;
}

/** Waits until each daemon's counter `name{labels}` has grown by `n` from now (n evaluations or errors). */
async function counted(
  daemons: Counted[],
  n: number,
  name = 'medic_trigger_rule_evaluations_total',
  labels: Record<string, string> = { result: 'ok' },
): Promise<void> {
  const read = (d: Counted) => metric(d.metricsUrl, name, labels).catch(() => 0);
  const from = await Promise.all(daemons.map(read));
  await eventually(
    async () => ((await Promise.all(daemons.map(read))).every((v, i) => v >= from[i]! + n) ? true : undefined),
    30_000,
    `${n} more ${name}${JSON.stringify(labels)} on ${daemons.length} daemon(s)`,
  );
}
const evaluated = (daemons: Counted[], n: number) => counted(daemons, n);

describe('medic trigger against a real Prometheus, coordinator and Temporal', () => {
  let temporal: { client: Client; close(): Promise<void> };
  let stack: Stack | undefined;
  let prometheus: RunningPrometheus | undefined;
  let exporter: Awaited<ReturnType<typeof startExporter>> | undefined;

  beforeAll(async () => {
    temporal = await connectClient();
  });
  afterEach(async () => {
    await stack?.stop();
    await prometheus?.stop();
    await exporter?.close();
  });
  afterAll(async () => temporal.close());

  interface Daemon {
    proc: Proc;
    metricsUrl: string;
    stateFile: string;
    /** Starts (again) the daemon with the same state file (its /metrics on a new port-0 listener). */
    start(): Promise<void>;
  }

  /** A Prometheus scraping one exporter, a coordinator, and `replicas` trigger daemons on one rule. */
  async function setUp(forSeconds: number, opts: { replicas?: number; keepFiringFor?: string } = {}) {
    const node = unique('e2e-node');
    const workflow = `heal${unique('x').replace(/-/g, '')}`;
    exporter = await startExporter('medic_e2e_free_ratio', { node, dc: 'e2e' }, 0.5);
    prometheus = await startPrometheus({ targets: [exporter.target], scrapeInterval: '1s' });
    stack = await buildStack({
      temporalAddress: temporalAddress(),
      workflows: { [workflow]: 'workflow = "ping"\ntask_queue_target = "node"\n' },
      triggers: {
        rules: `prometheus {
  address       = "${prometheus.address}"
  poll_interval = "1s"
  query_timeout = "2s"
}
coordinator {
  address   = "COORDINATOR"
  cert_file = "../tls/trigger.pem"
  key_file  = "../tls/trigger-key.pem"
  ca_file   = "../tls/ca.pem"
}
rule "free_space_low" {
  query           = "medic_e2e_free_ratio{node=\\"${node}\\"} < 0.1"
  for             = "${forSeconds}s"
  keep_firing_for = "${opts.keepFiringFor ?? '0s'}"
  workflow        = "${workflow}"
  reason          = "free ratio {{ $value }}"
  target {
    node       = "{{ $labels.node }}"
    datacenter = "{{ $labels.dc }}"
  }
}
`,
      },
    });
    await stack.startCoordinator();
    const daemons: Daemon[] = [];
    for (let i = 0; i < (opts.replicas ?? 1); i++) {
      const d: Daemon = {
        proc: undefined as unknown as Proc,
        metricsUrl: '',
        stateFile: `${stack.dir}/trigger-state-${i}.json`,
        async start() {
          const started = await stack!.startTrigger(['--state-file', d.stateFile]);
          d.proc = started.proc;
          d.metricsUrl = started.metricsUrl!;
          await evaluated([d], 1);
        },
      };
      daemons.push(d);
    }
    await Promise.all(daemons.map((d) => d.start()));
    return { node, workflow, daemon: daemons[0]!.proc, metricsUrl: daemons[0]!.metricsUrl, daemons };
  }

  /**
   * Waits until every daemon has evaluated its rule `n` more times (each evaluation decides
   * whether to start), then says how many executions there are.
   */
  async function countAfter(n: number, daemons: Daemon[], workflow: string, node: string): Promise<number> {
    await evaluated(daemons, n);
    return (await executions(temporal.client, workflow, node)).length;
  }

  async function firstExecutions(workflow: string, node: string, n: number, what: string): Promise<Execution[]> {
    return eventually(
      async () => {
        const found = await executions(temporal.client, workflow, node);
        return found.length >= n ? found : undefined;
      },
      60_000,
      what,
    );
  }

  it('starts the workflow once after `for`, and again for a second episode', async () => {
    const { node, workflow, metricsUrl } = await setUp(3);
    const flipped = Date.now();
    exporter!.set(0.01);
    const [first] = await eventually(
      async () => {
        const found = await executions(temporal.client, workflow, node);
        return found.length ? found : undefined;
      },
      30_000,
      'the first execution',
    );
    // Not before the series had been bad for `for` (3 s): Prometheus saw it at the earliest at the flip.
    expect(first!.startTime.getTime()).toBeGreaterThanOrEqual(flipped + 3000 - 250);
    await evaluated([{ metricsUrl }], 4); // four more polls of a still-firing series
    expect(await executions(temporal.client, workflow, node)).toHaveLength(1);
    expect(await metric(metricsUrl, 'medic_trigger_triggers_total', { result: 'started' })).toBe(1);

    exporter!.set(0.5);
    await eventually(
      async () => ((await metric(metricsUrl, 'medic_trigger_series', { state: 'firing' })) === 0 ? true : undefined),
      15_000,
      'the series to resolve',
    );
    await eventually(
      async () => ((await metric(metricsUrl, 'medic_trigger_series', { state: 'pending' })) === 0 ? true : undefined),
      15_000,
      'no pending series',
    );
    exporter!.set(0.02);
    const both = await eventually(
      async () => {
        const found = await executions(temporal.client, workflow, node);
        return found.length >= 2 ? found : undefined;
      },
      30_000,
      'the second execution',
    );
    expect(both).toHaveLength(2);
    expect(both[0]!.workflowId).not.toBe(both[1]!.workflowId);
  });

  it('survives Prometheus being killed mid-run and resumes when it is back', async () => {
    const { node, workflow, daemon, metricsUrl } = await setUp(0);
    exporter!.set(0.01);
    await eventually(
      async () => ((await executions(temporal.client, workflow, node)).length === 1 ? true : undefined),
      30_000,
      'the first execution',
    );

    await prometheus!.kill();
    await eventually(
      async () =>
        (await metric(metricsUrl, 'medic_trigger_errors_total', { kind: 'prometheus_unreachable' })) > 0 ? true : undefined,
      15_000,
      'the daemon to notice',
    );
    await counted([{ metricsUrl }], 3, 'medic_trigger_errors_total', { kind: 'prometheus_unreachable' }); // three more polls
    expect(daemon.child.exitCode).toBeNull();
    // While Prometheus is away nothing resolves and nothing new starts.
    expect(await executions(temporal.client, workflow, node)).toHaveLength(1);

    exporter!.set(0.5);
    await prometheus!.restart();
    await eventually(
      async () => ((await metric(metricsUrl, 'medic_trigger_series', { state: 'firing' })) === 0 ? true : undefined),
      60_000,
      'the series to resolve after the restart',
    );
    exporter!.set(0.01);
    await eventually(
      async () => ((await executions(temporal.client, workflow, node)).length === 2 ? true : undefined),
      60_000,
      'the second execution after the restart',
    );
    expect(daemon.child.exitCode).toBeNull();
  });

  it('two daemons on one rule start one execution per episode, through SIGKILLs and restarts of one and of both', async () => {
    const { node, workflow, daemons } = await setUp(3, { replicas: 2 });
    const [a, b] = daemons as [Daemon, Daemon];
    exporter!.set(0.01);
    // SIGKILL one daemon while the episode is pending: it must find the same start when back.
    await eventually(
      async () => ((await metric(a.metricsUrl, 'medic_trigger_series', { state: 'pending' })) === 1 ? true : undefined),
      15_000,
      'the episode pending on the first daemon',
    );
    await a.proc.kill();
    await a.start();
    const [first] = await firstExecutions(workflow, node, 1, 'the first execution');
    expect(await countAfter(3, daemons, workflow, node)).toBe(1);

    // SIGKILL one mid-episode, after the start: restarted with its state file.
    await b.proc.kill();
    await b.start();
    expect(await countAfter(3, daemons, workflow, node)).toBe(1);

    // Both killed; one comes back without any state file at all: Prometheus' history alone.
    await Promise.all([a.proc.kill(), b.proc.kill()]);
    const fs = await import('node:fs');
    fs.rmSync(a.stateFile, { force: true });
    await Promise.all([a.start(), b.start()]);
    expect(await countAfter(4, daemons, workflow, node)).toBe(1);
    for (const d of daemons) expect(await metric(d.metricsUrl, 'medic_trigger_series', { state: 'firing' })).toBe(1);

    // The episode resolves; the next one is a new execution, started once.
    exporter!.set(0.5);
    for (const d of daemons)
      await eventually(
        async () => ((await metric(d.metricsUrl, 'medic_trigger_series', { state: 'firing' })) === 0 ? true : undefined),
        15_000,
        'the series to resolve on both daemons',
      );
    exporter!.set(0.02);
    const both = await firstExecutions(workflow, node, 2, 'the second execution');
    expect(await countAfter(5, daemons, workflow, node)).toBe(2);
    expect(both[0]!.workflowId).toBe(first!.workflowId);
    expect(both[1]!.workflowId).not.toBe(first!.workflowId);
    // Both replicas asked for the second episode: the coordinator's idempotency made it one.
    for (const d of daemons)
      await eventually(
        async () => ((await metric(d.metricsUrl, 'medic_trigger_triggers_total', { result: 'started' })) >= 1 ? true : undefined),
        15_000,
        'both daemons to have sent the second episode',
      );
    expect((await executions(temporal.client, workflow, node)).length).toBe(2);
    for (const d of daemons) expect(d.proc.child.exitCode).toBeNull();
  }, 400_000);
});
