// npm run bench:history: admission latency as history grows. A coordinator process admits
// restartService's three constraints (concurrency and maxExecution per node, a global
// maxExecution) on fresh nodes; measured on an empty namespace, then again after 10,000 closed
// executions of the same workflow (started and terminated beside it, as a busy week leaves
// them). Last line: `history: p50 <before> -> <after> ms, p99 <before> -> <after> ms, ratio p50=<r> p99=<r>`
// (goal: <= 1.2).
import { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import * as fs from 'node:fs';
import { ledgerWorkflowId } from '../../src/ledger/client';
import { stateQuery } from '../../src/ledger/messages';
import { SEARCH_ATTRIBUTES, startSearchAttributes } from '../../src/naming/search-attributes';
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

const HISTORY = Number(process.env.BENCH_HISTORY ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 400);
const CALLERS = 10;
const WORKFLOW = 'benchHistory';

async function main(): Promise<void> {
  const dir = benchDir('bench-history');
  const temporal = await benchTemporal();
  const certs = benchCertificates(dir);
  const config = writeConfig(dir, certs, temporal, {
    [WORKFLOW]:
      `workflow = "ping"\ntask_queue_target = "node"\n${constraintHcl('concurrency', 1, '15m')}` +
      `${constraintHcl('maxExecution', 3, '1h')}${constraintHcl('maxExecution', 1_000_000, '24h', true)}`,
  });
  const agent = clientAgent(certs, CALLERS);
  const coordinator = await startCoordinatorProcess(config);
  const connection = await temporal.connect();
  const client = new Client({ connection });
  const run = Date.now().toString(36);
  let round = 0;
  try {
    // Where an admission's time goes: the mean duration of the coordinator's Temporal calls by method.
    const callTimes = async (): Promise<{ sum: Map<string, number>; count: Map<string, number> }> => {
      const text = (await request(agent, 'GET', `${coordinator.url}/metrics`)).body;
      return {
        sum: byMethod(text, 'medic_coordinator_temporal_call_seconds_sum'),
        count: byMethod(text, 'medic_coordinator_temporal_call_seconds_count'),
      };
    };
    let calls = '';
    // When the ledger continued as new: the close times of its runs. An admission that waits for
    // the next run (its carried state read, its first task run) is where the tail comes from.
    const ledgerRollovers = async (): Promise<number[]> => {
      const times: number[] = [];
      for await (const e of client.workflow.list({ query: `WorkflowId = "${ledgerWorkflowId(WORKFLOW)}"` }))
        if (e.closeTime) times.push(e.closeTime.getTime());
      return times;
    };
    let rollovers = '';
    const measure = async (): Promise<{ p50: number; p99: number }> => {
      round++;
      const t0 = await callTimes();
      let bad = 0;
      const spans: Array<[number, number]> = [];
      const r = await drive(SAMPLES, CALLERS, async (i) => {
        const from = Date.now();
        const a = await request(agent, 'POST', `${coordinator.url}/v1/workflows/${WORKFLOW}/executions`, {
          target: { node: `h-${run}-${round}-${i}` },
        });
        spans.push([from, Date.now()]);
        if (a.status !== 202) bad++;
      });
      // Visibility records a run's close a moment after it: wait until it shows the rollovers of this round.
      const [first, last] = [Math.min(...spans.map(([a]) => a)), Math.max(...spans.map(([, b]) => b))];
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const during = (await ledgerRollovers()).filter((t) => t >= first && t <= last);
      const waited = spans.filter(([a, b]) => during.some((t) => t >= a - 50 && t <= b));
      const calm = spans
        .filter((s) => !waited.includes(s))
        .map(([a, b]) => b - a)
        .sort((x, y) => x - y);
      if (process.env.BENCH_TRACE) {
        // The slowest admissions, and what the ledger's history shows around the slowest one.
        const slow = [...spans].sort((x, y) => y[1] - y[0] - (x[1] - x[0])).slice(0, 12);
        process.stdout.write(`  slowest: ${slow.map(([a, b]) => `+${a - first}..+${b - first}`).join(' ')}\n`);
        const [a, b] = slow[0]!;
        for (const e of (await client.workflow.getHandle(ledgerWorkflowId(WORKFLOW)).fetchHistory()).events ?? []) {
          const t = Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);
          if (t >= a - 300 && t <= b + 100)
            process.stdout.write(
              `    +${t - first} ${proto.api.enums.v1.EventType[e.eventType!]} ${e.workflowTaskScheduledEventAttributes?.taskQueue?.name ?? ''}\n`,
            );
        }
      }
      rollovers =
        `ledger continued as new ${during.length}x during the round; ${waited.length} admissions waited on it ` +
        `(max ${Math.max(0, ...waited.map(([a, b]) => b - a))} ms); p99 of the others ${percentile(calm, 99).toFixed(1)} ms`;
      if (bad) process.stderr.write(`${bad} admissions were not 202\n`);
      const t1 = await callTimes();
      calls = [...t1.count]
        .map(([m, n]) => [m, n - (t0.count.get(m) ?? 0), (t1.sum.get(m) ?? 0) - (t0.sum.get(m) ?? 0)] as const)
        .filter(([, n]) => n > 0)
        .map(([m, n, s]) => `${m} ${n}x mean ${((s / n) * 1000).toFixed(1)} ms`)
        .join(', ');
      return { p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99) };
    };
    // The control: a bare workflow.start on the same server, so a slower server shows apart from medic.
    const bare = async (): Promise<{ p50: number; p99: number }> => {
      round++;
      const r = await drive(SAMPLES, CALLERS, async (i) => {
        const node = `b-${run}-${round}-${i}`;
        await client.workflow.start('ping', {
          taskQueue: nodeQueue(node),
          workflowId: `bare:${node}`,
          typedSearchAttributes: startSearchAttributes({ workflow: 'benchBare', node, trigger: 'bench history' }),
        });
      });
      return { p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99) };
    };
    await measure(); // warm-up: connections, JIT, marker announcement
    await bare();
    const bareBefore = await bare();
    const before = await measure();
    process.stdout.write(
      `empty history: admission p50 ${before.p50.toFixed(1)} ms, p99 ${before.p99.toFixed(1)} ms; ` +
        `bare start p50 ${bareBefore.p50.toFixed(1)} ms, p99 ${bareBefore.p99.toFixed(1)} ms\n  calls: ${calls}\n  ${rollovers}\n`,
    );

    // The ledger's orphan sweep lists the executions started around its admissions: let it see
    // the measured ones before the history is written, or it would list the burst too.
    const ledger = client.workflow.getHandle(ledgerWorkflowId(WORKFLOW));
    while (Object.keys((await ledger.query(stateQuery)).unconfirmed).length) await new Promise((r) => setTimeout(r, 1_000));

    const t0 = Date.now();
    let done = 0;
    await drive(HISTORY, 50, async (i) => {
      const node = `h-${run}-old-${i % 500}`;
      const handle = await client.workflow.start('ping', {
        taskQueue: nodeQueue(node),
        workflowId: `${WORKFLOW}:history-${run}-${i}`,
        // A busy week's runs healed (MedicOutcome set as a run sets it when it ends): closed this
        // way, not as unhealed terminations, which the close watcher would page one by one while
        // the "after" round is measured (10,000 history reads and pages, counted in its rpcs).
        typedSearchAttributes: [
          ...startSearchAttributes({ workflow: WORKFLOW, node, trigger: 'bench history' }),
          { key: SEARCH_ATTRIBUTES.outcome, value: 'healed' },
        ],
      });
      await handle.terminate('bench: closed history');
      if (++done % 2_000 === 0) process.stdout.write(`  ${done}/${HISTORY} closed executions written\n`);
    });
    process.stdout.write(`${HISTORY} closed executions in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    // History, not the burst that wrote it: wait until visibility has recorded every close.
    const t1 = Date.now();
    const query = `WorkflowId STARTS_WITH "${WORKFLOW}:history-${run}-" AND ExecutionStatus = "Terminated"`;
    while ((await client.workflow.count(query)).count < HISTORY) await new Promise((r) => setTimeout(r, 500));
    process.stdout.write(`visibility caught up ${((Date.now() - t1) / 1000).toFixed(1)} s later\n`);

    const bareAfter = await bare();
    const after = await measure();
    process.stdout.write(
      `after ${HISTORY}: admission p50 ${after.p50.toFixed(1)} ms, p99 ${after.p99.toFixed(1)} ms; ` +
        `bare start p50 ${bareAfter.p50.toFixed(1)} ms, p99 ${bareAfter.p99.toFixed(1)} ms ` +
        `(ratio p50=${(bareAfter.p50 / bareBefore.p50).toFixed(2)})\n  calls: ${calls}\n  ${rollovers}\n`,
    );
    const state = await ledger.query(stateQuery);
    process.stdout.write(
      `ledger state: ${(JSON.stringify(state).length / 1024).toFixed(0)} KiB ` +
        `(${Object.values(state.windows).reduce((n, w) => n + w.length, 0)} window entries, ${Object.keys(state.answers).length} answers)\n`,
    );
    process.stdout.write(
      `history: p50 ${before.p50.toFixed(1)} -> ${after.p50.toFixed(1)} ms, p99 ${before.p99.toFixed(1)} -> ${after.p99.toFixed(1)} ms, ` +
        `ratio p50=${(after.p50 / before.p50).toFixed(2)} p99=${(after.p99 / before.p99).toFixed(2)}\n`,
    );
  } catch (err) {
    // What the coordinator said and where the ledger stands, before everything is stopped.
    const lines = coordinator.proc
      .output()
      .split('\n')
      .filter((l) => l.trim() && !l.includes('"kind":"audit"'));
    process.stderr.write(`coordinator output (last 40 lines, audit left out):\n${lines.slice(-40).join('\n')}\n`);
    const events =
      (
        await client.workflow
          .getHandle(ledgerWorkflowId(WORKFLOW))
          .fetchHistory()
          .catch(() => undefined)
      )?.events ?? [];
    process.stderr.write(
      `ledger's last events:\n${events
        .slice(-25)
        .map(
          (e) =>
            `  ${String(e.eventId)} ${proto.api.enums.v1.EventType[e.eventType!]} ${JSON.stringify(e.workflowTaskTimedOutEventAttributes ?? e.workflowTaskFailedEventAttributes?.failure?.message ?? '')}`,
        )
        .join('\n')}\n`,
    );
    throw err;
  } finally {
    agent.destroy();
    await coordinator.stop();
    await connection.close();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:history failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
