// medic on a production-shaped Temporal (PostgreSQL persistence, frontend mTLS): a remediation
// end to end through the built coordinator and worker processes, a worker SIGKILLed
// mid-remediation, and the admission storm through three coordinators with 0 violations.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { queryValue } from '../../src/naming/search-attributes';
import type { RunbookResult } from '../../workflows/runbook';
import { spawnNodeWorker } from './node-worker';
import { clusterEnv, temporalBlock } from '../helpers/cluster';
import type { MedicProcess } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { buildStack, type Stack } from '../helpers/stack';
import { connectClient, eventually, unique } from '../helpers/temporal';

const env = clusterEnv();
const DC = unique('dc');

const runbook = (steps: string): string => `workflow = "runbook"\ntask_queue_target = "node"\n${steps}\n`;
const WORKFLOWS = {
  heal: runbook(`step {
  name    = "fix"
  kind    = "command"
  command = "/usr/bin/true"
}`),
  slowHeal: runbook(`step {
  name    = "slow-fix"
  kind    = "command"
  command = "/usr/bin/sleep"
  args    = ["6"]
  timeout = "60s"
}`),
  stormNode:
    'workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "concurrency"\n  value = "1"\n  period = "15m"\n}\n',
  stormGlobal:
    'workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "maxExecution"\n  value = "3"\n  period = "24h"\n  is_global = true\n}\n',
};

let client: Client;
let closeClient: () => Promise<void>;
let stack: Stack;
let dir: string;
const workers: MedicProcess[] = [];

function startWorker(node: string): MedicProcess {
  const p = spawnNodeWorker(path.join(dir, `worker-${workers.length}`), {
    datacenter: DC,
    node,
    allowedCommands: ['/usr/bin/true', '/usr/bin/sleep'],
    temporalBlock: temporalBlock(env),
  });
  workers.push(p);
  return p;
}

async function polling(p: MedicProcess): Promise<void> {
  await p.waitFor(/polling/, 90_000);
}

beforeAll(async () => {
  ({ client, close: closeClient } = await connectClient());
  dir = tempDir('cluster');
  stack = await buildStack({ temporalAddress: env.address, temporalBlock: temporalBlock(env), workflows: WORKFLOWS });
  await stack.startCoordinator();
});

afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await stack?.stop();
  await closeClient?.();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('heals a node end to end: HTTPS trigger -> coordinator -> Temporal on PostgreSQL (mTLS) -> the node worker', async () => {
  const node = unique('node');
  const worker = startWorker(node);
  await polling(worker);
  const outcome = await stack.client('admin').trigger('heal', { target: { node, datacenter: DC }, reason: 'cluster e2e' });
  expect(outcome).toMatchObject({ kind: 'started', taskQueue: `medic:node:${node}` });
  if (outcome.kind !== 'started') return;
  const result = (await client.workflow.getHandle(outcome.workflowId).result()) as RunbookResult;
  expect(result.steps).toEqual([expect.objectContaining({ name: 'fix', ok: true })]);
  // The execution is in the cluster's visibility store (PostgreSQL) with medic's search attributes.
  await eventually(
    async () => {
      const { count } = await client.workflow.count(`MedicWorkflow = 'heal' AND MedicNode = ${queryValue(node)}`);
      return count === 1 ? true : undefined;
    },
    30_000,
    'the execution in visibility',
  );
});

it('completes a remediation whose worker is SIGKILLed mid-activity, on the replacement worker', async () => {
  const node = unique('node');
  const first = startWorker(node);
  await polling(first);
  const outcome = await stack.client('admin').trigger('slowHeal', { target: { node, datacenter: DC }, reason: 'kill test' });
  if (outcome.kind !== 'started') throw new Error(`not started: ${JSON.stringify(outcome)}`);
  const handle = client.workflow.getHandle(outcome.workflowId);
  await eventually(
    async () => ((await handle.describe()).raw.pendingActivities?.some((a) => a.state === 2) ? true : undefined),
    60_000,
    'the activity to start',
  );
  first.child.kill('SIGKILL');
  expect(await first.exited).toBe('SIGKILL');
  const second = startWorker(node);
  await polling(second);
  const result = (await handle.result()) as RunbookResult;
  expect(result.steps).toEqual([expect.objectContaining({ name: 'slow-fix', ok: true })]);
  const history = (await handle.fetchHistory()).events ?? [];
  // The dead worker's step ran again on the replacement: a retried attempt of the step's activity,
  // or (when the step's own bound ended the first one) the step scheduled a second time.
  const typeOf = new Map(
    history
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => [Number(e.eventId), e.activityTaskScheduledEventAttributes!.activityType?.name]),
  );
  const stepType = typeOf.get(
    Number(history.find((e) => e.activityTaskStartedEventAttributes)!.activityTaskStartedEventAttributes!.scheduledEventId),
  );
  const stepStarts = history
    .map((e) => e.activityTaskStartedEventAttributes)
    .filter((a) => a && typeOf.get(Number(a.scheduledEventId)) === stepType);
  expect(stepStarts.length >= 2 || stepStarts.some((a) => (a!.attempt ?? 1) >= 2)).toBe(true);
});

describe('admission storm through three coordinators on the cluster', () => {
  const TRIGGERS = Number(process.env.CLUSTER_STORM_TRIGGERS ?? 90);
  let replicas: Stack[] = [];

  beforeAll(async () => {
    replicas = [stack];
    for (let i = 0; i < 2; i++) {
      const s = await buildStack({ temporalAddress: env.address, temporalBlock: temporalBlock(env), workflows: WORKFLOWS });
      await s.startCoordinator();
      replicas.push(s);
    }
  });
  afterAll(async () => {
    await Promise.all(replicas.slice(1).map((s) => s.stop()));
  });

  it.each([
    ['stormNode', 'concurrency 1/15m on one node', 1, (run: string) => () => `${run}-one`],
    ['stormGlobal', 'global maxExecution 3/24h over 30 nodes', 3, (run: string) => (i: number) => `${run}-${i % 30}`],
  ] as const)('%s: %s admits exactly the limit of concurrent triggers (0 violations)', async (workflow, _what, limit, nodes) => {
    const node = nodes(unique('storm'));
    const outcomes = await Promise.all(
      Array.from({ length: TRIGGERS }, (_, i) =>
        replicas[i % replicas.length]!.client('admin').trigger(workflow, { target: { node: node(i) }, reason: 'storm' }),
      ),
    );
    const started = outcomes.filter((o) => o.kind === 'started');
    const refused = outcomes.filter((o) => o.kind === 'refused');
    // Any other answer (503, lost) is named in the failure, with what the coordinator said.
    const other = outcomes.filter((o) => o.kind !== 'started' && o.kind !== 'refused').map((o) => `${o.status} ${o.message}`);
    expect({ started: started.length, refused: refused.length, other }).toEqual({
      started: limit,
      refused: TRIGGERS - limit,
      other: [],
    });
    // Temporal holds exactly what was admitted (visibility settles to it and never above).
    const query = `MedicWorkflow = ${queryValue(workflow)}`;
    const seen = await eventually(
      async () => {
        const { count } = await client.workflow.count(query);
        return count >= limit ? count : undefined;
      },
      60_000,
      'the admitted executions in visibility',
    );
    expect(seen).toBe(limit);
    await Promise.all(
      started.map((o) => (o.kind === 'started' ? client.workflow.getHandle(o.workflowId).terminate('storm done') : undefined)),
    );
  });
});
