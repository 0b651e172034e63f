// `npm run bench:worker`: the footprint of one built `medic worker` process polling its three
// queues against a local Temporal dev server. Prints start-up time to first poll (from spawn to
// the server listing this process as a poller on all three queues), then RSS and CPU after 60 s
// idle, then the time a SIGTERM takes to drain and exit. Targets: RSS <= 150 MB, start-up < 2 s.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ensureTemporalBinary } from '../../src/temporal/binary';
import { startDevServer } from '../../src/temporal/dev-server';
import { nodeQueue, nodeTypeQueue, workerQueues } from '../../src/temporal/task-queues';

/** The node flags the README recommends for the worker's systemd unit. */
const RECOMMENDED_NODE_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=96'];
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 60_000);
const CLK_TCK = 100; // Linux USER_HZ

function cpuTicks(pid: number): number {
  // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

interface Footprint {
  startupMs: number;
  rssAtStart: number;
  rss: number;
  cpuSeconds: number;
  idleSeconds: number;
  stopMs: number;
  code: number | null;
}

async function measure(
  medic: string,
  server: { address: string },
  connection: Connection,
  threads: boolean,
  nodeFlags: string[],
  role: 'node' | 'both',
): Promise<Footprint> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-bench-'));
  try {
    const [dc, type, node] = [
      'bench-dc',
      'bench',
      `bench-${role}-${threads ? 'threads' : 'main'}-${nodeFlags.length}-${process.pid}`,
    ];
    fs.writeFileSync(
      path.join(dir, 'worker.hcl'),
      `worker {\n  datacenter = "${dc}"\n  node_type = "${type}"\n  node = "${node}"\n  reboot_dry_run = true\n  role = "${role}"\n  workflow_threads = ${threads}\n}\ntemporal {\n  address = "${server.address}"\n}\n`,
    );
    const queues = role === 'node' ? [nodeTypeQueue(dc, type), nodeQueue(node)] : workerQueues(dc, type, node);
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [...nodeFlags, medic, 'worker', '--config', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (c: Buffer) => (log += c.toString()));
    const identity = `${child.pid}@${node}`;

    // First poll: the server lists this process as an activity-task poller on every queue.
    const polling = new Set<string>();
    while (polling.size < queues.length) {
      if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}:\n${log}`);
      for (const name of queues) {
        if (polling.has(name)) continue;
        const r = await connection.workflowService.describeTaskQueue({
          namespace: 'default',
          taskQueue: { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        });
        if (r.pollers?.some((p) => p.identity === identity)) polling.add(name);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const startupMs = Number(process.hrtime.bigint() - started) / 1e6;
    const rssAtStart = rssMb(child.pid!);

    const ticksBefore = cpuTicks(child.pid!);
    const idleFrom = Date.now();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const cpuSeconds = (cpuTicks(child.pid!) - ticksBefore) / CLK_TCK;
    const idleSeconds = (Date.now() - idleFrom) / 1000;
    const rss = rssMb(child.pid!);

    const stopAt = Date.now();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await exited;
    const stopMs = Date.now() - stopAt;

    return { startupMs, rssAtStart, rss, cpuSeconds, idleSeconds, stopMs, code };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const medic = path.join(__dirname, '..', '..', 'dist', 'cmd', 'medic.js');
  if (!fs.existsSync(medic)) throw new Error('run npm run build first (npm run bench:worker does)');
  const server = await startDevServer({ binary: await ensureTemporalBinary() });
  const connection = await Connection.connect({ address: server.address });
  try {
    // One after the other, against the same server: a per-server (role "node", activity-only)
    // worker without and with the recommended flags, then a "both" worker with workflow threads.
    const plain = await measure(medic, server, connection, false, [], 'node');
    const main = await measure(medic, server, connection, false, RECOMMENDED_NODE_FLAGS, 'node');
    const threads = await measure(medic, server, connection, true, RECOMMENDED_NODE_FLAGS, 'both');
    const runs = [plain, main, threads];
    const row = (k: string, cells: string[]) =>
      process.stdout.write(`${k.padEnd(28)}${cells.map((c) => c.padEnd(26)).join('')}\n`);
    process.stdout.write(
      `\nmedic worker footprint (Node ${process.versions.node}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''})\n`,
    );
    row('', ['node role', 'node role + flags', 'both roles + threads + flags']);
    row(
      'start-up to first poll',
      runs.map((f) => `${f.startupMs.toFixed(0)} ms`),
    );
    row(
      'RSS when polling starts',
      runs.map((f) => `${f.rssAtStart.toFixed(1)} MB`),
    );
    row(
      `RSS after ${main.idleSeconds.toFixed(0)} s idle`,
      runs.map((f) => `${f.rss.toFixed(1)} MB`),
    );
    row(
      `CPU over the idle period`,
      runs.map((f) => `${((f.cpuSeconds / f.idleSeconds) * 100).toFixed(2)} % (${f.cpuSeconds.toFixed(2)} s)`),
    );
    row(
      'SIGTERM to exit',
      runs.map((f) => `${f.stopMs} ms, exit ${f.code}`),
    );
    process.stdout.write(`recommended flags: ${RECOMMENDED_NODE_FLAGS.join(' ')}\n`);
    process.stdout.write('targets (node role): start-up to first poll <= 1000 ms, idle RSS <= 70 MB\n');
  } finally {
    await connection.close();
    await server.stop();
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:worker failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
