// npm run bench:fleet: a simulated fleet on the production-shaped cluster (PostgreSQL, mTLS;
// MEDIC_BENCH_TARGET=dev for the dev server). FLEET_NODES (200) nodes over 4 datacenters and 3
// node types, each an activity-only node worker on its own node queue, FLEET_PROCESSES (4)
// processes sharing one connection each; one general worker per datacenter runs the
// workflows. Failures go through the trigger path: an exporter's gauge flips to 0, a real
// Prometheus scrapes it, `medic trigger` fires, the coordinator admits rebootNode, the node's
// (simulated) reboot heals it. Reports failure->healed p50/p99, admissions/s in a correlated
// burst, Temporal actions per remediation and memory per simulated node.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { packageRoot } from '../../src/paths';
import { queryValue } from '../../src/naming/search-attributes';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import type { ActivitySettings } from '../../activities';
import { testSettings } from '../helpers/activity-settings';
import { startTrigger } from '../helpers/medic-process';
import { startPrometheus } from '../helpers/prometheus';
import { sdkTls } from '../helpers/cluster';
import type { ClientTlsFiles } from '../setup/cluster/cluster';
import { benchCertificates, benchDir, benchTemporal, percentile, startCoordinatorProcess, writeConfig } from './fixture';

const NODES = Number(process.env.FLEET_NODES ?? 200);
const PROCESSES = Number(process.env.FLEET_PROCESSES ?? 4);
const STAGGERED_PCT = Number(process.env.FLEET_FAIL_PCT ?? 4);
const BURST_PCT = Number(process.env.FLEET_BURST_PCT ?? 10);
const DATACENTERS = ['dc1', 'dc2', 'dc3', 'dc4'];
const NODE_TYPES = ['web', 'db', 'cache'];
const WORKFLOW = 'fleetReboot';

interface SimNode {
  node: string;
  dc: string;
  role: string;
}
interface Conn {
  address: string;
  namespace: string;
  tls?: ClientTlsFiles;
}

function settings(n: SimNode): ActivitySettings {
  // The load balancer and pager of a real fleet; here a process that succeeds.
  const hook = { kind: 'command' as const, argv: ['/usr/bin/true'], timeoutMs: 10_000 };
  return testSettings(n.node, n.dc, n.role, { hooks: { drain: hook, undrain: hook, notify: hook } });
}

function connect(c: Conn): Promise<NativeConnection> {
  return NativeConnection.connect({ address: c.address, ...(c.tls && { tls: sdkTls(c.tls) }) });
}

/** A child process: activity-only node workers for its share of the fleet, on one connection. */
async function nodesProcess(): Promise<void> {
  const { conn, nodes } = JSON.parse(process.argv[3]!) as { conn: Conn; nodes: SimNode[] };
  // ERROR: activity-only workers warn, once per queue, that they poll no workflow tasks.
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const connection = await connect(conn);
  const base = process.memoryUsage().rss;
  const workers: Worker[] = [];
  for (const n of nodes) {
    const real = createActivities({ settings: settings(n) });
    workers.push(
      await Worker.create({
        connection,
        namespace: conn.namespace,
        taskQueue: nodeQueue(n.node),
        identity: `fleet-${n.node}`,
        activities: {
          ...real,
          // The simulated reboot heals the node: the parent flips its gauge back to 1.
          reboot: async () => {
            const r = await real.reboot();
            process.send!({ type: 'rebooted', node: n.node });
            return r;
          },
        },
        maxConcurrentActivityTaskExecutions: 2,
        maxConcurrentActivityTaskPolls: 1,
      }),
    );
  }
  const runs = workers.map((w) => w.run());
  // Let every poller settle before measuring.
  await new Promise((r) => setTimeout(r, 5_000));
  process.send!({ type: 'ready', base, rss: process.memoryUsage().rss, nodes: nodes.length });
  process.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    process.send!({ type: 'final', rss: process.memoryUsage().rss });
    for (const w of workers) w.shutdown();
  });
  await Promise.all(runs);
  await connection.close();
}

function fleet(): SimNode[] {
  return Array.from({ length: NODES }, (_, i) => ({
    node: `fleet-${DATACENTERS[i % DATACENTERS.length]}-${NODE_TYPES[Math.floor(i / DATACENTERS.length) % NODE_TYPES.length]}-${i}`,
    dc: DATACENTERS[i % DATACENTERS.length]!,
    role: NODE_TYPES[Math.floor(i / DATACENTERS.length) % NODE_TYPES.length]!,
  }));
}

const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(2)} MB`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/** The exporter Prometheus scrapes: one gauge per node, 1 healthy, 0 failed. */
async function startExporter(nodes: SimNode[], healthy: Map<string, number>): Promise<{ target: string; close(): void }> {
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      '# TYPE medic_fleet_node_healthy gauge\n' +
        nodes
          .map((n) => `medic_fleet_node_healthy{instance="${n.node}",dc="${n.dc}",role="${n.role}"} ${healthy.get(n.node) ?? 1}`)
          .join('\n') +
        '\n',
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { target: `127.0.0.1:${(server.address() as { port: number }).port}`, close: () => server.close() };
}

const WORKFLOW_HCL = `workflow = "rebootNode"
task_queue_target = "general"
params = {
  settle      = "0s"
  probe_every = "1s"
}
constraint {
  kind   = "concurrency"
  value  = "1"
  period = "15m"
}
`;

async function main(): Promise<void> {
  process.env.MEDIC_BENCH_TARGET ??= 'cluster';
  const dir = benchDir('bench-fleet');
  const temporal = await benchTemporal();
  const conn: Conn = { address: temporal.address, namespace: temporal.namespace, tls: temporal.tls };
  const nodes = fleet();
  const healthy = new Map<string, number>();
  const children: ChildProcess[] = [];
  const generals: Worker[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];
  const failedAt = new Map<string, number>();
  const healedSignal = new Map<string, number>();
  try {
    // The simulated nodes, PROCESSES processes.
    const perProcess = Math.ceil(NODES / PROCESSES);
    const ready: Array<{ base: number; rss: number; nodes: number }> = [];
    const finals: number[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      const share = nodes.slice(i * perProcess, (i + 1) * perProcess);
      const child = fork(__filename, ['nodes', JSON.stringify({ conn, nodes: share })], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.on('message', (m: { type: string; node?: string; base?: number; rss?: number; nodes?: number }) => {
        if (m.type === 'ready') ready.push({ base: m.base!, rss: m.rss!, nodes: m.nodes! });
        if (m.type === 'final') finals.push(m.rss!);
        if (m.type === 'rebooted') {
          healthy.set(m.node!, 1);
          healedSignal.set(m.node!, Date.now());
        }
      });
      children.push(child);
    }
    cleanups.push(async () => {
      for (const c of children) c.send({ type: 'stop' });
      // Pollers may sit in a long poll; a bench does not wait a minute for them.
      const kill = setTimeout(() => children.forEach((c) => c.kill('SIGKILL')), 15_000);
      await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
      clearTimeout(kill);
    });

    // General workers: one per datacenter, running the workflows.
    Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });
    const generalConnection = await connect(conn);
    for (const dc of DATACENTERS) {
      const w = await Worker.create({
        connection: generalConnection,
        namespace: conn.namespace,
        taskQueue: generalQueue(dc),
        identity: `fleet-general-${dc}`,
        workflowBundle: { codePath: path.join(packageRoot(), 'dist', 'workflow-bundle.js') },
        activities: createActivities({ settings: settings({ node: `general-${dc}`, dc, role: 'general' }) }),
      });
      generals.push(w);
      void w.run();
    }
    cleanups.push(async () => {
      for (const w of generals) w.shutdown();
      await new Promise((r) => setTimeout(r, 500));
      await generalConnection.close().catch(() => {});
    });

    // Coordinator, exporter, Prometheus, trigger daemon.
    const certs = benchCertificates(dir);
    const config = writeConfig(dir, certs, temporal, { [WORKFLOW]: WORKFLOW_HCL });
    const coordinator = await startCoordinatorProcess(config);
    cleanups.push(() => coordinator.stop());
    const exporter = await startExporter(nodes, healthy);
    cleanups.push(() => exporter.close());
    const prometheus = await startPrometheus({ targets: [exporter.target], scrapeInterval: '1s' });
    cleanups.push(() => prometheus.stop());
    const caller = certs.clients.caller!;
    fs.mkdirSync(path.join(config, 'triggers'), { recursive: true });
    fs.writeFileSync(
      path.join(config, 'triggers', 'fleet.hcl'),
      `prometheus {
  address       = "${prometheus.address}"
  poll_interval = "1s"
}
coordinator {
  address   = "${coordinator.url}"
  cert_file = "${caller.certFile}"
  key_file  = "${caller.keyFile}"
  ca_file   = "${certs.caFile}"
}
rule "node_down" {
  query    = "medic_fleet_node_healthy == 0"
  workflow = "${WORKFLOW}"
  target {
    node       = "{{ $labels.instance }}"
    datacenter = "{{ $labels.dc }}"
    node_type  = "{{ $labels.role }}"
  }
}
`,
    );
    const { proc: trigger } = await startTrigger(config, [
      '--metrics-listen',
      'off',
      '--state-file',
      path.join(dir, 'trigger-state.json'),
    ]);
    cleanups.push(() => trigger.stop());

    const deadline = Date.now() + 120_000;
    while (ready.length < PROCESSES) {
      if (Date.now() > deadline) throw new Error(`only ${ready.length}/${PROCESSES} node processes ready`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const perNode = ready.reduce((a, r) => a + (r.rss - r.base), 0) / NODES;
    const perProc = ready.reduce((a, r) => a + r.rss, 0) / ready.length;
    process.stdout.write(
      `fleet: ${NODES} nodes (${DATACENTERS.length} datacenters x ${NODE_TYPES.length} node types), ${PROCESSES} node processes, ` +
        `${DATACENTERS.length} general workers; ${temporal.label} at ${temporal.address}\n` +
        `memory: ${mb(perNode)} per simulated node (worker on its own queue, marginal RSS), ${mb(perProc)} RSS per node process of ${perProcess} nodes\n`,
    );

    const connection = await temporal.connect();
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: conn.namespace });

    async function phase(name: string, victims: SimNode[], staggerMs: number): Promise<void> {
      const t0 = Date.now();
      for (const [i, v] of victims.entries()) {
        const at = t0 + i * staggerMs;
        while (Date.now() < at) await new Promise((r) => setTimeout(r, 20));
        healthy.set(v.node, 0);
        failedAt.set(v.node, Date.now());
      }
      const closed = new Map<string, { start: number; close: number; workflowId: string; runId: string }>();
      const until = Date.now() + 300_000;
      while (closed.size < victims.length) {
        if (Date.now() > until) {
          // What Temporal and the trigger say of each node that did not heal.
          const lines: string[] = [];
          for (const v of victims.filter((x) => !closed.has(x.node))) {
            lines.push(`${v.node} failed at ${new Date(failedAt.get(v.node)!).toISOString()}:`);
            for await (const wf of client.workflow.list({ query: `MedicNode = ${queryValue(v.node)}` }))
              lines.push(
                `  ${wf.workflowId} ${wf.status.name} start ${wf.startTime.toISOString()} close ${wf.closeTime?.toISOString() ?? '-'}`,
              );
            lines.push(
              ...trigger
                .stderr()
                .split('\n')
                .filter((l) => l.includes(`"${v.node}"`))
                .slice(-6)
                .map((l) => `  ${l}`),
            );
          }
          throw new Error(`phase ${name}: ${closed.size}/${victims.length} healed in 5 min\n${lines.join('\n')}`);
        }
        for (const v of victims) {
          if (closed.has(v.node)) continue;
          for await (const wf of client.workflow.list({
            query: `MedicWorkflow = ${queryValue(WORKFLOW)} AND MedicNode = ${queryValue(v.node)}`,
          })) {
            if (wf.closeTime && wf.startTime.getTime() >= failedAt.get(v.node)! - 1000)
              closed.set(v.node, {
                start: wf.startTime.getTime(),
                close: wf.closeTime.getTime(),
                workflowId: wf.workflowId,
                runId: wf.runId,
              });
          }
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      const heal = victims.map((v) => closed.get(v.node)!.close - failedAt.get(v.node)!).sort((a, b) => a - b);
      const starts = [...closed.values()].map((c) => c.start).sort((a, b) => a - b);
      const spread = (starts[starts.length - 1]! - starts[0]!) / 1000;
      // Temporal actions (as Temporal Cloud bills them) of each remediation, from its history.
      let actions = 0;
      for (const c of closed.values()) {
        const events = (await client.workflow.getHandle(c.workflowId, c.runId).fetchHistory()).events ?? [];
        actions +=
          1 +
          events.filter(
            (e) =>
              e.activityTaskScheduledEventAttributes ||
              e.timerStartedEventAttributes ||
              e.workflowExecutionSignaledEventAttributes ||
              e.upsertWorkflowSearchAttributesEventAttributes ||
              e.markerRecordedEventAttributes ||
              e.startChildWorkflowExecutionInitiatedEventAttributes,
          ).length;
      }
      const leases = (
        await client.workflow.count(
          `WorkflowType = 'medicAdmissionLease' AND StartTime >= '${new Date(t0 - 1000).toISOString()}'`,
        )
      ).count;
      process.stdout.write(
        `phase ${name}: ${victims.length} failures; failure->healed p50 ${sec(percentile(heal, 50))} p99 ${sec(percentile(heal, 99))}; ` +
          `admissions ${starts.length} in ${spread.toFixed(1)} s (${spread > 0 ? (starts.length / spread).toFixed(1) : 'n/a'}/s); ` +
          `temporal actions per remediation ${((actions + leases) / victims.length).toFixed(1)} ` +
          `(workflow ${(actions / victims.length).toFixed(1)} + admission leases ${(leases / victims.length).toFixed(1)})\n`,
      );
    }

    const shuffled = [...nodes].sort((a, b) => (a.node < b.node ? -1 : 1)).filter((_, i) => i % 7 === 3);
    const staggered = shuffled.slice(0, Math.max(1, Math.round((NODES * STAGGERED_PCT) / 100)));
    await phase(`staggered (${STAGGERED_PCT}% of nodes, one every 2 s)`, staggered, 2000);
    const rest = nodes.filter((n) => !staggered.includes(n));
    const burst = rest.filter((_, i) => i % 5 === 1).slice(0, Math.max(1, Math.round((NODES * BURST_PCT) / 100)));
    await phase(`burst (${BURST_PCT}% of nodes at once)`, burst, 0);
    void finals;
  } finally {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Both exit explicitly: the SDK's native runtime keeps the event loop alive after the work is done.
if (process.argv[2] === 'nodes') {
  nodesProcess().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`fleet node process failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`bench:fleet failed: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}
