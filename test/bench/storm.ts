// npm run bench:storm: three coordinator processes against one dev server, hit at once by
// hundreds of triggers that a constraint must cut down to a handful. Phase 0 (a rolling upgrade
// mid-storm, first, so the ledgers are the previous release's as in a real upgrade): the
// previous release's coordinators take half of a global window, then are replaced one at a time
// by this release while triggers keep coming; the window must end exactly full, and Temporal must
// hold exactly the starts answered 202: an answer lost or a 5xx (this release's says what became
// of its start in details.started) is a violation only when it started something, and once the
// orphan sweep has freed what it held, its retry takes the place.
// Phase 1: 300 triggers for one workflow on one node under concurrency 1/15m (expect 1 start).
// Phase 2: 300 over 50 nodes under a global maxExecution 3/24h (expect 3). Starts are counted
// from the HTTP answers and again from Temporal; any start beyond the constraint is a violation.
// Phase 3 (config change and SIGKILL mid-storm): 6 starts on 6 of 10 nodes under concurrency
// 2/15m per node and a global maxExecution 10/24h; then one coordinator reloads (SIGHUP) a
// stricter concurrency 1/30m with a looser global 16/48h, and a storm of the remaining
// triggers runs while another coordinator is SIGKILLed and restarted. The strictest config in
// use governs: exactly one more start on each of the 4 idle nodes (10 in all), none beside a
// running one. Last line: `storm: started=<n> expected=<n> violations=<n>`. A 5xx in phase 0
// (or BENCH_TRACE=1) prints the upgrade ledger's failed and timed-out workflow tasks.
import { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { ledgerWorkflowId } from '../../src/ledger/client';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SEARCH_ATTRIBUTES, queryValue } from '../../src/naming/search-attributes';
import {
  benchCertificates,
  benchDir,
  benchTemporal,
  clientAgent,
  request,
  startCoordinatorProcess,
  writeConfig,
  type CoordinatorProcess,
  constraintHcl,
} from './fixture';
import { waitFor } from '../helpers/wait';
import { buildRelease } from '../helpers/release';

const COORDINATORS = 3;
const TRIGGERS = Number(process.env.STORM_TRIGGERS ?? 300);
const NODES = 50;
/** Phase 0: starts allowed in all (global maxExecution), taken half under the previous release, half during the roll. */
const UPGRADE_LIMIT = 8;

const WORKFLOWS = {
  stormNode: `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "concurrency"\n  value = "1"\n  period = "15m"\n}\n`,
  stormGlobal: `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "maxExecution"\n  value = "3"\n  period = "24h"\n  is_global = true\n}\n`,
  stormChange: changeWorkflow(2, '15m', 10, '24h'),
  stormUpgrade: changeWorkflow(1, '15m', UPGRADE_LIMIT, '24h'),
};

function changeWorkflow(concurrency: number, period: string, global: number, globalPeriod: string): string {
  return (
    `workflow = "ping"\ntask_queue_target = "node"\n` +
    constraintHcl('concurrency', concurrency, period) +
    constraintHcl('maxExecution', global, globalPeriod, true)
  );
}

/** Waits until the orphan sweep has judged every admission of the workflow's ledger (its unconfirmed ones: started, or freed). */
async function everyAdmissionJudged(client: Client, workflow: string): Promise<void> {
  const ledger = client.workflow.getHandle(ledgerWorkflowId(workflow));
  await waitFor(
    `the orphan sweep to judge every ${workflow} admission`,
    async () => {
      const st = await ledger.query<{ unconfirmed: Record<string, unknown> }>('state');
      return Object.keys(st.unconfirmed).length === 0 ? true : undefined;
    },
    180_000,
    1_000,
  );
}

interface Phase {
  name: string;
  workflow: keyof typeof WORKFLOWS;
  limit: number;
  node: (i: number) => string;
}

/** A ledger's workflow tasks that failed or timed out (every run of it), with when and where each was scheduled. */
async function stalledTasks(client: Client, workflowId: string): Promise<string> {
  const lines: string[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = ${queryValue(workflowId)}` })) {
    const events = (await client.workflow.getHandle(workflowId, run.runId).fetchHistory()).events ?? [];
    events.forEach((e, i) => {
      const why = e.workflowTaskTimedOutEventAttributes ?? e.workflowTaskFailedEventAttributes?.failure?.message;
      if (!why) return;
      const scheduled = events
        .slice(0, i)
        .reverse()
        .find((x) => x.workflowTaskScheduledEventAttributes);
      const at = (x: typeof e | undefined): string =>
        new Date(Number(x?.eventTime?.seconds ?? 0) * 1000 + (x?.eventTime?.nanos ?? 0) / 1e6).toISOString();
      lines.push(
        `  run ${run.runId} event ${String(e.eventId)} ${proto.api.enums.v1.EventType[e.eventType!]} at ${at(e)} (scheduled ${at(scheduled)} on ` +
          `${scheduled?.workflowTaskScheduledEventAttributes?.taskQueue?.name ?? '?'}): ${JSON.stringify(why)}`,
      );
    });
  }
  return `phase 0: ${workflowId}'s failed or timed-out workflow tasks: ${lines.length}\n${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const dir = benchDir('bench-storm');
  const temporal = await benchTemporal();
  const certs = benchCertificates(dir);
  const agent = clientAgent(certs, TRIGGERS);
  const coordinators: CoordinatorProcess[] = [];
  const configs: string[] = [];
  const connection = await temporal.connect();
  const client = new Client({ connection });
  const run = Date.now().toString(36);
  let started = 0;
  let expected = 0;
  let violations = 0;
  try {
    const previous = buildRelease(undefined, (l) => process.stdout.write(`phase 0: ${l}\n`));
    for (let i = 0; i < COORDINATORS; i++) {
      const config = writeConfig(path.join(dir, `coordinator-${i}`), certs, temporal, WORKFLOWS);
      configs.push(config);
      coordinators.push(await startCoordinatorProcess(config, previous));
    }
    process.stdout.write(
      `${COORDINATORS} coordinator processes of the previous release on ports ${coordinators.map((c) => c.port).join(', ')}; ${temporal.label} ${temporal.address}\n`,
    );

    // Phase 0: a rolling upgrade mid-storm. The coordinators run the previous release (built
    // from git history), which starts the ledgers and takes half of a global window; then each is
    // replaced, one at a time, by this release while triggers keep coming through the others.
    // First, as in a real upgrade: the ledgers are the previous release's (this release's
    // ledgers carry patch markers the previous one cannot replay: a roll back is not supported).
    const upNode = (i: number): string => `storm-${run}-upgrade-${i % 20}`;
    const upPost = (c: CoordinatorProcess, i: number, node = upNode(i)): Promise<{ status: number; body: string }> =>
      request(agent, 'POST', `${c.url}/v1/workflows/stormUpgrade/executions`, {
        target: { node },
        reason: 'storm',
      }).catch((err: Error) => ({ status: 0, body: err.message }));
    const upAnswers: Array<{ status: number; body: string }> = [];
    for (let i = 0; i < UPGRADE_LIMIT / 2; i++) upAnswers.push(await upPost(coordinators[i % COORDINATORS]!, i));
    const t4 = Date.now();
    const live = [...coordinators];
    let rolling = true;
    let round: Promise<unknown> = Promise.resolve();
    const storm4 = (async () => {
      for (let i = UPGRADE_LIMIT; rolling; i++) {
        round = Promise.all(live.map((c, k) => upPost(c, i * COORDINATORS + k))).then((a) => upAnswers.push(...a));
        await round;
      }
    })();
    for (let i = 0; i < COORDINATORS; i++) {
      live.splice(live.indexOf(coordinators[i]!), 1);
      await round; // what was sent through it is answered before it stops
      await coordinators[i]!.stop();
      coordinators[i] = await startCoordinatorProcess(configs[i]!);
      live.push(coordinators[i]!);
      process.stdout.write(`phase 0: coordinator ${i} runs this release\n`);
    }
    rolling = false;
    await storm4;
    const up = new Map<number, number>();
    for (const a of upAnswers) up.set(a.status, (up.get(a.status) ?? 0) + 1);
    const upQuery = `MedicWorkflow = 'stormUpgrade'`;
    let upTotal = -1;
    await waitFor(
      'visibility to settle',
      async () => {
        const { count } = await client.workflow.count(upQuery);
        const stable = count === upTotal;
        upTotal = count;
        return stable ? true : undefined;
      },
      30_000,
      500,
    );
    const failed = upAnswers.filter((a) => a.status >= 500 || a.status === 0);
    if (upTotal < UPGRADE_LIMIT) {
      // A place short: an admission whose caller got no start (a failed answer) holds it until the
      // orphan sweep frees it, one grace (60 s) after it was made. Then the callers retry, as the
      // trigger daemon does: the window must end exactly full (nothing forgotten, nothing wedged).
      await everyAdmissionJudged(client, 'stormUpgrade');
      // Each on a node of its own: the window decides, not a node's concurrency place.
      const retried = await Promise.all(
        failed.map((_, i) => upPost(coordinators[i % COORDINATORS]!, i, `storm-${run}-upgrade-retry-${i}`)),
      );
      const more = retried.filter((a) => a.status === 202).length;
      upAnswers.push(...retried);
      for (const a of retried) up.set(a.status, (up.get(a.status) ?? 0) + 1);
      await waitFor(
        'the retries in visibility',
        async () => ((await client.workflow.count(upQuery)).count === upTotal + more ? true : undefined),
        30_000,
        500,
      );
      upTotal += more;
      process.stdout.write(
        `phase 0: the ${failed.length} failed answers retried after the orphan sweep: ${retried.map((a) => (a.status === 202 ? '202' : `${a.status} ${a.body.slice(0, 200)}`)).join('; ')}\n`,
      );
    }
    for (const a of failed.slice(0, 3)) process.stderr.write(`phase 0: answer ${a.status}: ${a.body.slice(0, 400)}\n`);
    // Where an answer that did not come in time waited: the ledger's workflow tasks that failed or
    // timed out (BENCH_TRACE=1: always).
    if (failed.length || process.env.BENCH_TRACE === '1')
      process.stderr.write(
        await stalledTasks(client, ledgerWorkflowId('stormUpgrade')).catch(
          (err: Error) => `phase 0: no ledger history: ${err.message}\n`,
        ),
      );
    // Temporal holds exactly the starts answered 202: then no failed answer started anything (a
    // 5xx or a lost answer is a failure only when Temporal shows a start for it), and none is lost.
    const answered202 = up.get(202) ?? 0;
    const saidNothing = failed.filter((a) => /"started":false/.test(a.body)).length;
    // Exactly full: over the limit is a violation, and so is a place never given back.
    const upOver = Math.abs(upTotal - UPGRADE_LIMIT) + Math.abs(upTotal - answered202);
    process.stdout.write(
      `phase "rolling upgrade mid-storm": ${Date.now() - t4} ms; answers ${[...up].map(([st, n]) => `${st}x${n}`).join(' ')}; ` +
        `in Temporal ${upTotal} (answered 202: ${answered202}), limit ${UPGRADE_LIMIT}, failed answers ${failed.length} ` +
        `(${saidNothing} saying nothing was started), violations ${upOver}\n`,
    );
    started += upTotal;
    expected += UPGRADE_LIMIT;
    violations += upOver;

    const phases: Phase[] = [
      {
        name: `${TRIGGERS} triggers, 1 node, concurrency 1/15m`,
        workflow: 'stormNode',
        limit: 1,
        node: () => `storm-${run}-one`,
      },
      {
        name: `${TRIGGERS} triggers, ${NODES} nodes, global maxExecution 3/24h`,
        workflow: 'stormGlobal',
        limit: 3,
        node: (i) => `storm-${run}-${i % NODES}`,
      },
    ];
    for (const phase of phases) {
      const t0 = Date.now();
      // All at once: every request is in flight before the first answer comes back.
      const answers = await Promise.all(
        Array.from({ length: TRIGGERS }, (_, i) =>
          request(agent, 'POST', `${coordinators[i % COORDINATORS]!.url}/v1/workflows/${phase.workflow}/executions`, {
            target: { node: phase.node(i) },
            reason: 'storm',
          }).catch((err: Error) => ({ status: 0, body: err.message })),
        ),
      );
      const ms = Date.now() - t0;
      const byStatus = new Map<number, number>();
      for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
      const accepted = byStatus.get(202) ?? 0;
      const odd = answers.filter((a) => a.status !== 202 && a.status !== 429);
      for (const a of odd.slice(0, 3)) process.stderr.write(`unexpected answer ${a.status}: ${a.body.slice(0, 300)}\n`);

      // What Temporal holds, once visibility has caught up (it only ever grows here).
      const query = `MedicWorkflow = ${queryValue(phase.workflow)}`;
      let inTemporal = -1;
      for (let settled = 0, tries = 0; settled < 3 && tries < 60; tries++) {
        const { count } = await client.workflow.count(query);
        settled = count === inTemporal ? settled + 1 : 0;
        inTemporal = count;
        await new Promise((r) => setTimeout(r, 500));
      }
      const over =
        Math.max(0, accepted - phase.limit) + Math.max(0, inTemporal - phase.limit) + (inTemporal !== accepted ? 1 : 0);
      process.stdout.write(
        `phase "${phase.name}": ${ms} ms; answers ${[...byStatus].map(([s, n]) => `${s}x${n}`).join(' ')}; ` +
          `started (HTTP 202) ${accepted}, in Temporal ${inTemporal}, limit ${phase.limit}, violations ${over}\n`,
      );
      started += accepted;
      expected += phase.limit;
      violations += over;
    }

    // Phase 3: a config change on one coordinator and a SIGKILL of another, mid-storm.
    const CHANGE_NODES = 10;
    const node = (i: number): string => `storm-${run}-change-${i % CHANGE_NODES}`;
    const post = (c: CoordinatorProcess, i: number): Promise<{ status: number; body: string }> =>
      request(agent, 'POST', `${c.url}/v1/workflows/stormChange/executions`, {
        target: { node: node(i) },
        reason: 'storm',
      }).catch((err: Error) => ({ status: 0, body: err.message }));
    for (let i = 0; i < 6; i++) {
      const a = await post(coordinators[i % COORDINATORS]!, i);
      if (a.status !== 202) throw new Error(`phase 3 setup: start on ${node(i)} answered ${a.status}: ${a.body}`);
    }
    const t0 = Date.now();
    fs.writeFileSync(path.join(configs[0]!, 'workflows', 'stormChange.hcl'), changeWorkflow(1, '30m', 16, '48h'));
    coordinators[0]!.proc.child.kill('SIGHUP');
    process.stdout.write('phase 3: 6 started; coordinator 0 reloaded a stricter concurrency and a looser global maxExecution\n');
    // Announced on reload; the other replicas read it within their marker refresh (2 s).
    await new Promise((r) => setTimeout(r, 3_000));
    const rest = 2 * TRIGGERS - 6;
    const inFlight = Array.from({ length: rest }, (_, i) => post(coordinators[i % COORDINATORS]!, 6 + i));
    await new Promise((r) => setTimeout(r, 150));
    const victim = coordinators[2]!;
    await victim.kill();
    const killedAt = Date.now();
    process.stdout.write('phase 3: coordinator 2 SIGKILLed mid-storm; restarting it\n');
    coordinators[2] = await startCoordinatorProcess(configs[2]!);
    process.stdout.write('phase 3: coordinator 2 is back\n');
    const more = await Promise.all(Array.from({ length: 60 }, (_, i) => post(coordinators[i % COORDINATORS]!, 6 + rest + i)));
    const answers = [...(await Promise.all(inFlight)), ...more];
    process.stdout.write('phase 3: every trigger answered\n');
    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    // Temporal is the truth here: a reply lost with the killed coordinator is not a start the caller saw.
    const nodes = Array.from({ length: CHANGE_NODES }, (_, i) => queryValue(node(i))).join(', ');
    const query = `MedicWorkflow = 'stormChange' AND MedicNode IN (${nodes})`;
    /** Waits until visibility shows at least `atLeast` starts (those answered 202) and stops changing. */
    const settle = async (atLeast = 0): Promise<{ total: number; perNode: Map<string, number> }> => {
      let total = -1;
      await waitFor(
        'visibility to settle',
        async () => {
          const { count } = await client.workflow.count(query);
          const stable = count === total && count >= atLeast;
          total = count;
          return stable ? true : undefined;
        },
        30_000,
        500,
      );
      const perNode = new Map<string, number>();
      for await (const e of client.workflow.list({ query })) {
        const n = e.typedSearchAttributes.get(SEARCH_ATTRIBUTES.node) ?? e.workflowId;
        perNode.set(n, (perNode.get(n) ?? 0) + 1);
      }
      return { total, perNode };
    };
    let { total, perNode } = await settle();
    process.stdout.write(
      `phase "config change + SIGKILL mid-storm": ${Date.now() - t0} ms; answers ${[...byStatus].map(([st, n]) => `${st}x${n}`).join(' ')}; ` +
        `in Temporal ${total} on ${perNode.size} nodes\n`,
    );
    if (total < 10) {
      // Admissions the killed coordinator (or a give-back lost in the storm) left without an
      // execution count until the orphan sweep has judged them, one grace (60 s) after each was
      // made: wait until the ledger holds none unjudged, then a late wave takes the remaining room.
      await everyAdmissionJudged(client, 'stormChange');
      process.stdout.write(`phase 3: every admission judged ${Math.round((Date.now() - killedAt) / 1000)} s after the kill\n`);
      const late = await Promise.all(Array.from({ length: 30 }, (_, i) => post(coordinators[i % COORDINATORS]!, i)));
      ({ total, perNode } = await settle(total + late.filter((a) => a.status === 202).length));
      process.stdout.write(
        `phase 3 late wave after the orphan grace: ${late.filter((a) => a.status === 202).length} more started; in Temporal ${total} on ${perNode.size} nodes\n`,
      );
      const refusedBy = new Map<string, number>();
      for (const a of late) {
        const why =
          a.status === 202 ? '202' : `${a.status} ${/"description":"([^"]*)"/.exec(a.body)?.[1] ?? a.body.slice(0, 80)}`;
        refusedBy.set(why, (refusedBy.get(why) ?? 0) + 1);
      }
      process.stdout.write(`phase 3 late wave answers: ${[...refusedBy].map(([k, n]) => `${k} x${n}`).join('; ')}\n`);
    }
    if (total < 10) {
      // What the ledger still holds: an admission never started and never freed would show here.
      const ledger = await client.workflow.getHandle('medic-ledger:stormChange').query<{
        windows: Record<string, Array<[number, string]>>;
        unconfirmed: Record<string, { at: number }>;
      }>('state');
      const global = Object.entries(ledger.windows).find(([w]) => w.startsWith('maxExecution-global'));
      process.stdout.write(
        `phase 3 ledger: global window ${global?.[1].length ?? 0} admissions, unconfirmed ${JSON.stringify(
          Object.entries(ledger.unconfirmed).map(([id, u]) => [id, Date.now() - u.at]),
        )}\n`,
      );
    }
    const doubled = [...perNode.values()].filter((n) => n > 1).length;
    const over = Math.max(0, total - 10) + doubled;
    process.stdout.write(`phase 3: in Temporal ${total}, limit 10, nodes with two running: ${doubled}, violations ${over}\n`);
    started += total;
    expected += 10;
    violations += over;
  } finally {
    agent.destroy();
    await Promise.all(coordinators.map((c) => c.stop()));
    await connection.close();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`storm: started=${started} expected=${expected} violations=${violations}\n`);
  if (violations > 0 || started !== expected) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`bench:storm failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
