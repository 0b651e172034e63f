// `npm run bench:worker`: the footprint of built `medic worker` processes against a local
// Temporal dev server, one after the other.
// 1. Idle: a per-server worker (role node, activity-only) and a role "both" worker with workflow
//    threads. Start-up to first poll (from spawn to the server listing the process as a poller on
//    all its queues), RSS and CPU after BENCH_IDLE_MS idle, SIGTERM to exit. Targets (role node):
//    start-up <= 1 s, idle RSS <= 70 MB.
// 2. Loaded: one general worker (role general, workflow threads) with BENCH_WORKFLOWS (1000)
//    runbook executions running at once, each waiting on a 2 h timer (a runbook `wait` step):
//    its RSS, and workflow-task latency (scheduled -> completed, from the histories of the starts)
//    and query round trips (a workflow task each, on an evicted workflow a replay) under that load.
// Every figure is printed with the 1-minute load average when it was taken.
import type { ChildProcess } from 'node:child_process';
import { startProcess } from '../helpers/medic-process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ensureTemporalBinary } from '../../src/temporal/binary';
import { startDevServer } from '../../src/temporal/dev-server';
import { generalQueue, nodeQueue, nodeTypeQueue, workerQueues } from '../../src/naming/task-queues';
import type { WorkflowInput } from '../../workflows/shared/input';

const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 60_000);
const WORKFLOWS = Number(process.env.BENCH_WORKFLOWS ?? 1000);
/** Query round trips timed under load, and how many at once. */
const QUERIES = Number(process.env.BENCH_QUERIES ?? 300);
const QUERY_CONCURRENCY = 10;
const CLK_TCK = 100; // Linux USER_HZ

/** CPU ticks of the process; with `children`, also of its children that have exited (the config loader). */
function cpuTicks(pid: number, children = false): number {
  // Fields after the command name: state is field 3; utime, stime, cutime, cstime are fields 14 to 17.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]) + (children ? Number(rest[13]) + Number(rest[14]) : 0);
}

function statusMb(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

const rssMb = (pid: number): number => statusMb(pid, 'VmRSS');

/** RSS with its split: private (anonymous) memory and file pages (node, the SDK's native library), shared with the page cache. */
function rssSplit(pid: number): string {
  return `${rssMb(pid).toFixed(1)} MB = ${statusMb(pid, 'RssAnon').toFixed(1)} anon + ${statusMb(pid, 'RssFile').toFixed(1)} file`;
}

const load = (): string => `load ${os.loadavg()[0]!.toFixed(2)}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function spread(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const f = (p: number) => percentile(s, p).toFixed(0);
  return `p50 ${f(50)} ms, p90 ${f(90)} ms, p99 ${f(99)} ms, max ${f(100)} ms (n=${s.length})`;
}

const TYPE = temporal.api.enums.v1.TaskQueueType;

interface Spawned {
  child: ChildProcess;
  startupMs: number;
  /** CPU time until the first poll, the config loader child's included: start-up on an idle machine. */
  startupCpuMs: number;
  log: () => string;
  /** SIGTERM; resolves with the time to exit and the exit code. */
  stop(): Promise<{ stopMs: number; code: number | string }>;
}

/**
 * Writes a worker.hcl for `role` into `dir`, spawns `medic worker` on it, and waits until the
 * server lists this process as a poller on each of its queues.
 */
async function spawnWorker(
  medic: string[],
  server: { address: string },
  connection: Connection,
  dir: string,
  opts: { role: 'node' | 'general' | 'both'; node: string; threads: boolean },
): Promise<Spawned> {
  const [dc, type] = ['bench-dc', 'bench'];
  fs.writeFileSync(
    path.join(dir, 'worker.hcl'),
    `worker {\n  datacenter = "${dc}"\n  node_type = "${type}"\n  node = "${opts.node}"\n  reboot_dry_run = true\n  role = "${opts.role}"\n  workflow_threads = ${opts.threads}\n}\ntemporal {\n  address = "${server.address}"\n}\n`,
  );
  // Which poller proves the queue is served: activities on the machine queues, workflows on the general one.
  const polled: Array<[string, temporal.api.enums.v1.TaskQueueType]> =
    opts.role === 'node'
      ? [nodeTypeQueue(dc, type), nodeQueue(opts.node)].map((q) => [q, TYPE.TASK_QUEUE_TYPE_ACTIVITY])
      : opts.role === 'general'
        ? [[generalQueue(dc), TYPE.TASK_QUEUE_TYPE_WORKFLOW]]
        : workerQueues(dc, type, opts.node).map((q) => [q, TYPE.TASK_QUEUE_TYPE_ACTIVITY]);
  const started = process.hrtime.bigint();
  const [command, ...prefix] = medic;
  const proc = startProcess(command!, [...prefix, 'worker', '--config', dir]);
  const { child } = proc;
  const exited = proc.exited;
  const identity = `${child.pid}@${opts.node}`;
  const polling = new Set<string>();
  while (polling.size < polled.length) {
    if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}:\n${proc.output()}`);
    for (const [name, taskQueueType] of polled) {
      if (polling.has(name)) continue;
      const r = await connection.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType,
      });
      if (r.pollers?.some((p) => p.identity === identity)) polling.add(name);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const startupMs = Number(process.hrtime.bigint() - started) / 1e6;
  const startupCpuMs = (cpuTicks(child.pid!, true) * 1000) / CLK_TCK;
  return {
    child,
    startupMs,
    startupCpuMs,
    log: () => proc.output(),
    async stop() {
      const stopAt = Date.now();
      child.kill('SIGTERM');
      const code = await exited;
      return { stopMs: Date.now() - stopAt, code };
    },
  };
}

interface Footprint {
  startupMs: number;
  startupCpuMs: number;
  rssAtStart: number;
  rss: string;
  cpuSeconds: number;
  idleSeconds: number;
  stopMs: number;
  code: number | string;
  load: string;
}

async function measureIdle(
  medic: string[],
  server: { address: string },
  connection: Connection,
  role: 'node' | 'both',
  threads: boolean,
): Promise<Footprint> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-bench-'));
  try {
    const node = `bench-${role}-${threads ? 'threads' : 'main'}-${process.pid}`;
    const w = await spawnWorker(medic, server, connection, dir, { role, node, threads });
    const pid = w.child.pid!;
    const rssAtStart = rssMb(pid);
    const ticksBefore = cpuTicks(pid);
    const idleFrom = Date.now();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const cpuSeconds = (cpuTicks(pid) - ticksBefore) / CLK_TCK;
    const idleSeconds = (Date.now() - idleFrom) / 1000;
    const rss = rssSplit(pid);
    const loadNow = load();
    const { stopMs, code } = await w.stop();
    return {
      startupMs: w.startupMs,
      startupCpuMs: w.startupCpuMs,
      rssAtStart,
      rss,
      cpuSeconds,
      idleSeconds,
      stopMs,
      code,
      load: loadNow,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** Workflow-task latencies of one history: scheduled -> started, started -> completed, scheduled -> completed. */
function workflowTaskTimes(history: temporal.api.history.v1.IHistory): Array<{ wait: number; run: number; total: number }> {
  const events = history.events ?? [];
  const byId = new Map(events.map((e) => [Number(e.eventId), e]));
  return events.flatMap((e) => {
    const done = e.workflowTaskCompletedEventAttributes;
    if (!done) return [];
    const scheduled = byId.get(Number(done.scheduledEventId));
    const started = byId.get(Number(done.startedEventId));
    if (!scheduled || !started) return [];
    const [s, t, c] = [ms(scheduled.eventTime), ms(started.eventTime), ms(e.eventTime)];
    return [{ wait: t - s, run: c - t, total: c - s }];
  });
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface Loaded {
  startupMs: number;
  rssIdle: number;
  rssIdleSplit: string;
  rssIdleLoad: string;
  startSeconds: number;
  rss: number;
  rssSplit: string;
  rssLoad: string;
  /** Per workflow task of the starts. */
  tasks: Array<{ wait: number; run: number; total: number }>;
  tasksLoad: string;
  queries: number[];
  queryFailures: number;
  queriesLoad: string;
  stopMs: number;
  code: number | string;
}

async function measureLoaded(medic: string[], server: { address: string }, connection: Connection): Promise<Loaded> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-bench-'));
  const client = new Client({ connection });
  const ids = Array.from({ length: WORKFLOWS }, (_, i) => `bench-hold-${process.pid}-${i}`);
  try {
    const node = `bench-general-${process.pid}`;
    const w = await spawnWorker(medic, server, connection, dir, { role: 'general', node, threads: true });
    const pid = w.child.pid!;
    await new Promise((r) => setTimeout(r, 5000));
    const [rssIdle, rssIdleSplit, rssIdleLoad] = [rssMb(pid), rssSplit(pid), load()];

    // Runbooks that start and then wait: the realistic shape of a long remediation (a `wait` step),
    // holding a timer each. Their machine steps would go to a node queue nobody polls; none runs.
    const input: WorkflowInput = {
      workflow: 'benchHold',
      target: { node: 'bench-nobody', datacenter: 'bench-dc' },
      params: {},
      steps: [{ name: 'hold', kind: 'wait', durationMs: 2 * 3600_000 }],
      activityQueue: nodeQueue('bench-nobody'),
    };
    const startFrom = Date.now();
    await pool(ids, 20, async (workflowId) => {
      await client.workflow.start('runbook', {
        taskQueue: generalQueue('bench-dc'),
        workflowId,
        args: [input],
        workflowExecutionTimeout: '3h',
      });
    });
    // Running means the first workflow task is done (the timer is started); wait for all.
    const tasks: Loaded['tasks'] = [];
    let pending = ids;
    while (pending.length) {
      const still: string[] = [];
      await pool(pending, 20, async (id) => {
        const times = workflowTaskTimes(await client.workflow.getHandle(id).fetchHistory());
        if (times.length) tasks.push(...times);
        else still.push(id);
      });
      pending = still;
      if (pending.length) await new Promise((r) => setTimeout(r, 1000));
      if (w.child.exitCode !== null) throw new Error(`general worker exited ${w.child.exitCode}:\n${w.log()}`);
    }
    const startSeconds = (Date.now() - startFrom) / 1000;
    const tasksLoad = load();
    await new Promise((r) => setTimeout(r, 10_000));
    const [rss, rssSplitNow, rssLoad] = [rssMb(pid), rssSplit(pid), load()];

    // Query round trips on random running workflows: each is a workflow task on the general worker.
    const queries: number[] = [];
    let queryFailures = 0;
    const picks = Array.from({ length: QUERIES }, () => ids[Math.floor(Math.random() * ids.length)]!);
    await pool(picks, QUERY_CONCURRENCY, async (id) => {
      const t = process.hrtime.bigint();
      try {
        await client.workflow.getHandle(id).query('progress');
        queries.push(Number(process.hrtime.bigint() - t) / 1e6);
      } catch {
        queryFailures += 1;
      }
    });
    const queriesLoad = load();
    const { stopMs, code } = await w.stop();
    return {
      startupMs: w.startupMs,
      rssIdle,
      rssIdleSplit,
      rssIdleLoad,
      startSeconds,
      rss,
      rssSplit: rssSplitNow,
      rssLoad,
      tasks,
      tasksLoad,
      queries,
      queryFailures,
      queriesLoad,
      stopMs,
      code,
    };
  } finally {
    await pool(ids, 20, async (id) => {
      await client.workflow
        .getHandle(id)
        .terminate('bench done')
        .catch(() => undefined);
    });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const script = path.join(__dirname, '..', '..', 'dist', 'cmd', 'medic.js');
  if (!fs.existsSync(script)) throw new Error('run npm run build first (npm run bench:worker does)');
  const medic = [process.execPath, script];
  // The packaged executable (npm run package), measured too when it has been built.
  const executable = path.join(__dirname, '..', '..', 'dist', 'sea', 'medic');
  const server = await startDevServer({ binary: await ensureTemporalBinary() });
  const connection = await Connection.connect({ address: server.address });
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const columns: Array<[string, Footprint]> = [
      ['role node (per server)', await measureIdle(medic, server, connection, 'node', false)],
      ...(fs.existsSync(executable)
        ? [
            ['role node, dist/sea/medic', await measureIdle([executable], server, connection, 'node', false)] as [
              string,
              Footprint,
            ],
          ]
        : []),
      ['role both + workflow threads', await measureIdle(medic, server, connection, 'both', true)],
    ];
    const runs = columns.map(([, f]) => f);
    const row = (k: string, cells: string[]) => out(`${k.padEnd(26)}${cells.map((c) => c.padEnd(40)).join('')}`);
    out(`\nmedic worker footprint (Node ${process.versions.node}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''})`);
    row(
      '',
      columns.map(([name]) => name),
    );
    row(
      'start-up to first poll',
      runs.map((f) => `${f.startupMs.toFixed(0)} ms (CPU ${f.startupCpuMs.toFixed(0)} ms)`),
    );
    row(
      'RSS when polling starts',
      runs.map((f) => `${f.rssAtStart.toFixed(1)} MB`),
    );
    row(
      `RSS after ${runs[0]!.idleSeconds.toFixed(0)} s idle`,
      runs.map((f) => f.rss),
    );
    row(
      '  (load when measured)',
      runs.map((f) => f.load),
    );
    row(
      `CPU over the idle period`,
      runs.map((f) => `${((f.cpuSeconds / f.idleSeconds) * 100).toFixed(2)} % (${f.cpuSeconds.toFixed(2)} s)`),
    );
    row(
      'SIGTERM to exit',
      runs.map((f) => `${f.stopMs} ms, exit ${f.code}`),
    );
    const node = runs[0]!;
    const nodeRss = Number(node.rss.split(' ')[0]);
    out(
      `targets (role node): start-up <= 1000 ms: ${node.startupMs.toFixed(0)} ms, CPU ${node.startupCpuMs.toFixed(0)} ms ` +
        `(x${(node.startupCpuMs / 1000).toFixed(2)}); idle RSS <= 70 MB: ${nodeRss.toFixed(1)} MB (x${(nodeRss / 70).toFixed(2)})`,
    );

    if (WORKFLOWS === 0) return; // BENCH_WORKFLOWS=0: the idle part only
    const g = await measureLoaded(medic, server, connection);
    const line = (k: string, v: string) => out(`${k.padEnd(30)}${v}`);
    out(`\ngeneral worker (role general, workflow threads) with ${WORKFLOWS} running runbook executions`);
    line('start-up to first poll', `${g.startupMs.toFixed(0)} ms`);
    line('RSS idle (no executions)', `${g.rssIdleSplit} (${g.rssIdleLoad})`);
    line(`RSS with ${WORKFLOWS} running`, `${g.rssSplit} (${g.rssLoad})`);
    line(
      '  growth',
      `+${(g.rss - g.rssIdle).toFixed(1)} MB, ${(((g.rss - g.rssIdle) * 1024) / WORKFLOWS).toFixed(1)} kB per execution, x${(g.rss / g.rssIdle).toFixed(2)} of idle`,
    );
    line(
      `${WORKFLOWS} started, running in`,
      `${g.startSeconds.toFixed(1)} s (${(WORKFLOWS / g.startSeconds).toFixed(0)} per s, 20 starts at once)`,
    );
    out(`workflow task latency of the starts (from history, ${g.tasksLoad}):`);
    line('  scheduled -> completed', spread(g.tasks.map((t) => t.total)));
    line('  scheduled -> started', spread(g.tasks.map((t) => t.wait)));
    line('  started -> completed', spread(g.tasks.map((t) => t.run)));
    line(
      'query round trip under load',
      `${spread(g.queries)}; ${QUERY_CONCURRENCY} at once, ${g.queryFailures} failed (${g.queriesLoad})`,
    );
    line('SIGTERM to exit', `${g.stopMs} ms, exit ${g.code}`);
  } finally {
    await connection.close();
    await server.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:worker failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
