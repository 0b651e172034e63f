// npm run bench:trigger: throughput and latency of starting a workflow with a bare
// client.workflow.start against triggering it through a coordinator process (mTLS, ACL,
// constraint admission), side by side against one dev server, at 50 concurrent callers.
import { Client } from '@temporalio/client';
import * as fs from 'node:fs';
import { startSearchAttributes } from '../../src/temporal/search-attributes';
import { nodeTypeQueue } from '../../src/temporal/task-queues';
import {
  benchCertificates,
  benchDir,
  benchTemporal,
  clientAgent,
  drive,
  freePort,
  percentile,
  request,
  startCoordinatorProcess,
  writeConfig,
} from './fixture';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const TOTAL = Number(process.env.BENCH_TRIGGERS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WARMUP = 100;
const DATACENTER = 'bench';
const NODE_TYPE = 'generic';

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
}

function figures(r: { seconds: number; latencies: number[] }, total: number): Figures {
  return { perSecond: total / r.seconds, p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99) };
}

function line(label: string, f: Figures): string {
  return `${label.padEnd(34)} ${f.perSecond.toFixed(0).padStart(6)}/s   p50 ${f.p50.toFixed(1).padStart(7)} ms   p99 ${f.p99.toFixed(1).padStart(7)} ms`;
}

async function main(): Promise<void> {
  const dir = benchDir('bench-trigger');
  const temporal = await benchTemporal();
  const certs = benchCertificates(dir);
  const port = await freePort();
  // One constraint, per target node: every trigger names a new node, so every one is admitted
  // and pays the full admission (slot lease, visibility count within its budget, start). The
  // workflow runs on its datacenter's node-type queue, so both sides start on one queue
  // rather than creating a task queue per start.
  const config = writeConfig(dir, certs, temporal, port, {
    // BENCH_DISRUPTIVE=1: the workflow takes the per-node lock and a slot of every budget too.
    benchPing: `workflow = "ping"\ntask_queue_target = "node_type"\n${process.env.BENCH_DISRUPTIVE ? 'disruptive = true\n' : ''}constraint {\n  kind = "concurrency"\n  value = "1"\n  period = "15m"\n}\n`,
  });
  const agent = clientAgent(certs, CONCURRENCY);
  const coordinator = await startCoordinatorProcess(config, port, agent);
  const connection = await temporal.connect();
  const client = new Client({ connection });
  const run = Date.now().toString(36);
  let failures = 0;

  const bare = async (tag: string, total: number): Promise<Figures> =>
    figures(
      await drive(total, CONCURRENCY, async (i) => {
        const node = `bare-${run}-${tag}-${i}`;
        await client.workflow.start('ping', {
          taskQueue: nodeTypeQueue(DATACENTER, NODE_TYPE),
          workflowId: `bare:${node}`,
          typedSearchAttributes: startSearchAttributes({ workflow: 'benchPing', node, datacenter: DATACENTER, trigger: 'bench' }),
        });
      }),
      total,
    );
  const viaCoordinator = async (tag: string, total: number): Promise<Figures> =>
    figures(
      await drive(total, CONCURRENCY, async (i) => {
        const r = await request(agent, 'POST', `${coordinator.url}/v1/workflows/benchPing/executions`, {
          target: { datacenter: DATACENTER, node_type: NODE_TYPE, node: `coord-${run}-${tag}-${i}` },
          reason: 'bench',
        });
        if (r.status !== 202) {
          failures += 1;
          if (failures <= 3) process.stderr.write(`unexpected ${r.status}: ${r.body}\n`);
        }
      }),
      total,
    );

  try {
    await bare('warm', WARMUP);
    await viaCoordinator('warm', WARMUP);
    const bares: Figures[] = [];
    const coords: Figures[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither side always runs on the fuller database.
      if (round % 2 === 0) {
        bares.push(await bare(`r${round}`, TOTAL));
        coords.push(await viaCoordinator(`r${round}`, TOTAL));
      } else {
        coords.push(await viaCoordinator(`r${round}`, TOTAL));
        bares.push(await bare(`r${round}`, TOTAL));
      }
      process.stdout.write(`round ${round + 1}: ${line('bare client.workflow.start', bares[round]!)}\n`);
      process.stdout.write(`round ${round + 1}: ${line('coordinator (mTLS+ACL+constraint)', coords[round]!)}\n`);
    }
    const mean = (fs: Figures[]): Figures => ({
      perSecond: fs.reduce((a, f) => a + f.perSecond, 0) / fs.length,
      p50: fs.reduce((a, f) => a + f.p50, 0) / fs.length,
      p99: fs.reduce((a, f) => a + f.p99, 0) / fs.length,
    });
    const b = mean(bares);
    const c = mean(coords);
    process.stdout.write(
      `\n${ROUNDS} rounds x ${TOTAL} starts, ${CONCURRENCY} concurrent callers, ${temporal.label} at ${temporal.address}\n`,
    );
    process.stdout.write(`${line('bare client.workflow.start', b)}\n`);
    process.stdout.write(`${line('coordinator (mTLS+ACL+constraint)', c)}\n`);
    process.stdout.write(`failures=${failures}\n`);
    process.stdout.write(
      `trigger: bare=${b.perSecond.toFixed(0)}/s coordinator=${c.perSecond.toFixed(0)}/s ratio=${(c.perSecond / b.perSecond).toFixed(2)}\n`,
    );
  } finally {
    agent.destroy();
    await coordinator.stop();
    await connection.close();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:trigger failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
