// npm run bench:trigger: throughput and latency of starting a workflow with a bare
// client.workflow.start against triggering it through a coordinator process (mTLS, ACL,
// constraint admission), side by side against one dev server, at 50 concurrent callers: for a
// concurrency-only workflow and for restartService's three constraints. Then refusals of one
// full node. Temporal RPCs per admission and per refusal come from the coordinator's
// medic_coordinator_temporal_calls_total, which counts admission's connection only: the audit
// journal's batched appends (src/audit/) go over a connection of their own, and are printed apart.
import { Client } from '@temporalio/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FLEET_LEDGER_ID } from '../../src/ledger/fleet/client';
import { releaseHoldsUpdate } from '../../src/ledger/messages';
import { startSearchAttributes } from '../../src/naming/search-attributes';
import { nodeQueue } from '../../src/naming/task-queues';
import {
  benchCertificates,
  byMethod,
  benchDir,
  benchTemporal,
  clientAgent,
  drive,
  percentile,
  request,
  startCoordinatorProcess,
  writeConfig,
  constraintHcl,
} from './fixture';
import { metricSample } from '../helpers/metrics-text';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const TOTAL = Number(process.env.BENCH_TRIGGERS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WARMUP = 100;
const DATACENTER = 'bench';
const REFUSALS = Number(process.env.BENCH_REFUSALS ?? 1000);

type Side = 'bare' | 'ping' | 'restart' | 'ping+budgets' | 'restart+budgets';

/** The workflow files of a config dir, by name. */
function readWorkflows(config: string): Record<string, string> {
  const dir = path.join(config, 'workflows');
  return Object.fromEntries(
    fs.readdirSync(dir).map((f) => [f.replace(/\.hcl$/, ''), fs.readFileSync(path.join(dir, f), 'utf8')]),
  );
}

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

/** Calls per method between two snapshots, per `n` (admissions or refusals): "StartWorkflowExecution=1.00 ...". */
function perMethod(before: Map<string, number>, after: Map<string, number>, n: number): string {
  return [...after]
    .map(([m, v]) => [m, (v - (before.get(m) ?? 0)) / n] as const)
    .filter(([, v]) => v >= 0.005)
    .map(([m, v]) => `${m}=${v.toFixed(2)}`)
    .join(' ');
}

async function main(): Promise<void> {
  const dir = benchDir('bench-trigger');
  const temporal = await benchTemporal();
  const certs = benchCertificates(dir);
  // Every trigger names a new node, so every one is admitted and pays the full admission; both
  // sides start on that node's queue. BENCH_DISRUPTIVE=1: the workflow also takes the per-node
  // lock and a slot of every budget (fleet safety).
  const disruptive = process.env.BENCH_DISRUPTIVE ? 'disruptive = true\n' : '';
  const config = writeConfig(dir, certs, temporal, {
    benchPing: `workflow = "ping"\ntask_queue_target = "node"\n${disruptive}${constraintHcl('concurrency', 1, '15m')}`,
    benchRestart:
      `workflow = "ping"\ntask_queue_target = "node"\n${disruptive}${constraintHcl('concurrency', 1, '15m')}` +
      `${constraintHcl('maxExecution', 1, '1h')}${constraintHcl('maxExecution', 1_000_000, '24h', true)}`,
  });
  // BENCH_BUDGETS=compare: a second coordinator whose config adds budgets (never binding), measured
  // in the same rounds: what configured budgets cost, without the noise between two runs.
  const compare = process.env.BENCH_BUDGETS === 'compare';
  const agent = clientAgent(certs, CONCURRENCY);
  const coordinator = await startCoordinatorProcess(config);
  const withBudgets = compare
    ? await startCoordinatorProcess(writeConfig(path.join(dir, 'budgets'), certs, temporal, readWorkflows(config), true))
    : undefined;
  const connection = await temporal.connect();
  const client = new Client({ connection });
  const run = Date.now().toString(36);
  let failures = 0;
  // Disruptive: the round's remediations end between rounds (their holds are given back as the
  // sweep would once they close), so the fleet ledger holds one round at most, as a fleet would.
  const held: string[] = [];
  const endRound = async (): Promise<void> => {
    while (held.length) {
      const ids = held.splice(0, 500);
      await client.workflow.getHandle(FLEET_LEDGER_ID).executeUpdate(releaseHoldsUpdate, { args: [{ ids }] });
    }
  };

  const snapshot = async (): Promise<Map<string, number>> => {
    const r = await request(agent, 'GET', `${coordinator.url}/metrics`);
    return byMethod(r.body, 'medic_coordinator_temporal_calls_total');
  };
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const calls = async (): Promise<number> => total(await snapshot());
  const methods: Record<string, string> = {};
  const bare = async (tag: string, total: number): Promise<Figures> =>
    figures(
      await drive(total, CONCURRENCY, async (i) => {
        const node = `bare-${run}-${tag}-${i}`;
        await client.workflow
          .start('ping', {
            taskQueue: nodeQueue(node),
            workflowId: `bare:${node}`,
            typedSearchAttributes: startSearchAttributes({
              workflow: 'benchPing',
              node,
              datacenter: DATACENTER,
              trigger: 'bench',
            }),
          })
          .catch((err: Error) => {
            failures += 1;
            if (failures <= 3) process.stderr.write(`bare start failed: ${err.message}\n`);
          });
      }),
      total,
    );
  const viaCoordinator = async (
    workflow: string,
    tag: string,
    total: number,
    expect = 202,
    node?: string,
    url = coordinator.url,
  ): Promise<Figures> =>
    figures(
      await drive(total, CONCURRENCY, async (i) => {
        const r = await request(agent, 'POST', `${url}/v1/workflows/${workflow}/executions`, {
          // datacenter and node type: metadata for a node workflow, the scopes of fleet budgets.
          // A node per workflow too: a disruptive workflow holds its node (fleet safety's per-node lock).
          target: { node: node ?? `coord-${run}-${workflow}-${tag}-${i}`, datacenter: DATACENTER, node_type: 'bench' },
          reason: 'bench',
        });
        if (r.status !== expect) {
          failures += 1;
          if (failures <= 3) process.stderr.write(`unexpected ${r.status}: ${r.body}\n`);
        } else if (disruptive && r.status === 202) held.push((JSON.parse(r.body) as { workflow_id: string }).workflow_id);
      }),
      total,
    );

  try {
    await bare('warm', WARMUP);
    await viaCoordinator('benchPing', 'warm', WARMUP);
    await viaCoordinator('benchRestart', 'warm', WARMUP);
    const bares: Figures[] = [];
    const coords: Figures[] = [];
    const restarts: Figures[] = [];
    const budgeted: Figures[] = [];
    const budgetedRestarts: Figures[] = [];
    if (withBudgets) {
      await viaCoordinator('benchPing', 'warm-b', WARMUP, 202, undefined, withBudgets.url);
      await viaCoordinator('benchRestart', 'warm-b', WARMUP, 202, undefined, withBudgets.url);
    }
    await endRound();
    let pingCalls = 0;
    let restartCalls = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so neither side always runs on the fuller database.
      const measure = async (side: Side): Promise<void> => {
        if (side === 'bare') return void bares.push(await bare(`r${round}`, TOTAL));
        if (side === 'ping+budgets')
          return void budgeted.push(await viaCoordinator('benchPing', `b${round}`, TOTAL, 202, undefined, withBudgets!.url));
        if (side === 'restart+budgets')
          return void budgetedRestarts.push(
            await viaCoordinator('benchRestart', `b${round}`, TOTAL, 202, undefined, withBudgets!.url),
          );
        const before = await snapshot();
        if (side === 'ping') coords.push(await viaCoordinator('benchPing', `r${round}`, TOTAL));
        else restarts.push(await viaCoordinator('benchRestart', `r${round}`, TOTAL));
        const after = await snapshot();
        const used = total(after) - total(before);
        methods[side] = perMethod(before, after, TOTAL);
        if (side === 'ping') pingCalls += used;
        else restartCalls += used;
      };
      const sides: Side[] = withBudgets
        ? ['bare', 'ping', 'ping+budgets', 'restart', 'restart+budgets']
        : ['bare', 'ping', 'restart'];
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) await measure(side);
      await endRound();
      process.stdout.write(`round ${round + 1}: ${line('bare client.workflow.start', bares[round]!)}\n`);
      process.stdout.write(`round ${round + 1}: ${line('coordinator, concurrency only', coords[round]!)}\n`);
      process.stdout.write(`round ${round + 1}: ${line('coordinator, restartService x3', restarts[round]!)}\n`);
      if (withBudgets) {
        process.stdout.write(`round ${round + 1}: ${line('  + budgets, concurrency only', budgeted[round]!)}\n`);
        process.stdout.write(`round ${round + 1}: ${line('  + budgets, restartService x3', budgetedRestarts[round]!)}\n`);
      }
    }
    // Refusals: one node, full after the first trigger.
    const refusedNode = `refused-${run}`;
    await viaCoordinator('benchPing', 'refuse-first', 1, 202, refusedNode);
    const beforeRefusals = await snapshot();
    const refusals = await viaCoordinator('benchPing', 'refuse', REFUSALS, 429, refusedNode);
    const afterRefusals = await snapshot();
    const refusalCalls = total(afterRefusals) - total(beforeRefusals);
    methods.refusal = perMethod(beforeRefusals, afterRefusals, REFUSALS);
    // Refusals of a full maxExecution window (the ledger's): its execution closed, so only the window refuses.
    const windowNode = `window-${run}`;
    await viaCoordinator('benchRestart', 'window-first', 1, 202, windowNode);
    for await (const e of client.workflow.list({ query: `MedicNode = '${windowNode}' AND ExecutionStatus = 'Running'` }))
      await client.workflow.getHandle(e.workflowId).terminate('bench: free the concurrency slot');
    const beforeWindow = await calls();
    const windowRefusals = await viaCoordinator('benchRestart', 'window', REFUSALS, 429, windowNode);
    const windowCalls = (await calls()) - beforeWindow;

    const mean = (fs: Figures[]): Figures => ({
      perSecond: fs.reduce((a, f) => a + f.perSecond, 0) / fs.length,
      p50: fs.reduce((a, f) => a + f.p50, 0) / fs.length,
      p99: fs.reduce((a, f) => a + f.p99, 0) / fs.length,
    });
    const b = mean(bares);
    const c = mean(coords);
    const r = mean(restarts);
    process.stdout.write(
      `\n${ROUNDS} rounds x ${TOTAL} starts, ${CONCURRENCY} concurrent callers, ${temporal.label} at ${temporal.address}\n`,
    );
    process.stdout.write(`${line('bare client.workflow.start', b)}\n`);
    process.stdout.write(`${line('coordinator, concurrency only', c)}\n`);
    process.stdout.write(`${line('coordinator, restartService x3', r)}\n`);
    process.stdout.write(`${line(`refusals (${REFUSALS}, one full node)`, refusals)}\n`);
    process.stdout.write(`${line(`refusals (${REFUSALS}, one full window)`, windowRefusals)}\n`);
    process.stdout.write(`failures=${failures}\n`);
    process.stdout.write(
      `rpcs: per admission concurrency-only=${(pingCalls / (ROUNDS * TOTAL)).toFixed(2)} ` +
        `restartService=${(restartCalls / (ROUNDS * TOTAL)).toFixed(2)} per refusal=${(refusalCalls / REFUSALS).toFixed(2)} ` +
        `per window refusal=${(windowCalls / REFUSALS).toFixed(2)}\n`,
    );
    process.stdout.write(
      `rpcs by method (last round): concurrency-only ${methods.ping}; restartService ${methods.restart}; refusal ${methods.refusal}\n`,
    );
    process.stdout.write(`refusal: p99=${refusals.p99.toFixed(1)} ms window p99=${windowRefusals.p99.toFixed(1)} ms\n`);
    const journal = (await request(agent, 'GET', `${coordinator.url}/metrics`)).body;
    process.stdout.write(
      `audit journal (own connection, not in the rpcs above): ${metricSample(journal, 'medic_audit_journal_batches_total')} signals ` +
        `for ${metricSample(journal, 'medic_audit_journal_lines_total')} lines, ` +
        `${metricSample(journal, 'medic_audit_journal_dropped_total')} dropped\n`,
    );
    process.stdout.write(
      `trigger: bare=${b.perSecond.toFixed(0)}/s coordinator=${c.perSecond.toFixed(0)}/s ratio=${(c.perSecond / b.perSecond).toFixed(2)} ` +
        `restartService=${r.perSecond.toFixed(0)}/s ratio=${(r.perSecond / b.perSecond).toFixed(2)}\n`,
    );
    if (withBudgets) {
      const bp = mean(budgeted);
      const br = mean(budgetedRestarts);
      process.stdout.write(
        `budgets (configured, not binding): concurrency-only=${bp.perSecond.toFixed(0)}/s ` +
          `(${(bp.perSecond / c.perSecond).toFixed(2)} of without) restartService=${br.perSecond.toFixed(0)}/s ` +
          `(${(br.perSecond / r.perSecond).toFixed(2)} of without)\n`,
      );
    }
    if (failures) {
      // What the coordinators logged about them (a 500 says "the coordinator log has the cause").
      for (const c of [coordinator, withBudgets]) {
        const lines = (c?.proc.output() ?? '').split('\n').filter((l) => /fail|error/i.test(l));
        for (const l of lines.slice(0, 5)) process.stderr.write(`coordinator ${c!.port}: ${l.slice(0, 600)}\n`);
      }
    }
  } finally {
    agent.destroy();
    await withBudgets?.stop();
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
