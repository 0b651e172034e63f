// Safety constraints against the real dev server: every kind in both scopes, under concurrent
// triggers (also through two coordinators with their own connections), 429 bodies with
// Retry-After, slots freed when an execution closes or the period passes, and visibility
// counting executions that hold no slot.
import { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { LightMyRequestResponse } from 'fastify';
import { HELD_RETRY_AFTER_S } from '../../src/admission/constraints';
import { startSearchAttributes } from '../../src/naming/search-attributes';
import { nodeQueue } from '../../src/naming/task-queues';
import type { WorkflowConfig } from '../../src/config/workflow';
import { constraint, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { connectClient, connectWorkerConnection, eventually, settledCount, unique, workflowBundle } from '../helpers/temporal';

const MIN = 60_000;
let client: Client;
let closeClient: () => Promise<void>;
const coordinators: TestCoordinator[] = [];

async function coordinatorFor(...wfs: WorkflowConfig[]): Promise<TestCoordinator> {
  const c = await testCoordinator(wfs);
  coordinators.push(c);
  return c;
}

beforeAll(async () => {
  ({ client, close: closeClient } = await connectClient());
});

afterAll(async () => {
  await Promise.all(coordinators.map((c) => c.close()));
  await closeClient();
});

function tally(responses: LightMyRequestResponse[]): { started: number; refused: number; other: number[] } {
  const started = responses.filter((r) => r.statusCode === 202).length;
  const refused = responses.filter((r) => r.statusCode === 429).length;
  return { started, refused, other: responses.map((r) => r.statusCode).filter((s) => s !== 202 && s !== 429) };
}

/** Triggers until one is admitted: visibility may lag behind a slot that has just freed. */
function startedEventually(
  c: TestCoordinator,
  name: string,
  node: string,
  timeoutMs: number,
  what: string,
): Promise<LightMyRequestResponse> {
  return eventually(
    async () => {
      const r = await trigger(c.app, name, { target: { node } });
      return r.statusCode === 202 ? r : undefined;
    },
    timeoutMs,
    what,
  );
}

async function terminateStarted(responses: LightMyRequestResponse[]): Promise<void> {
  await Promise.all(
    responses
      .filter((r) => r.statusCode === 202)
      .map((r) => client.workflow.getHandle(r.json().workflow_id).terminate('test done')),
  );
}

describe.each([
  ['concurrency', 'per target', constraint('concurrency', 1, 15 * MIN)],
  ['maxExecution', 'per target', constraint('maxExecution', 2, 60 * MIN)],
])('%s %s', (kind, _scope, c) => {
  it(`admits exactly ${c.value} of 24 concurrent triggers for one node, and is independent per node`, async () => {
    const name = unique(`${kind}Target`);
    const coordinator = await coordinatorFor(workflowConfig(name, { constraints: [c] }));
    const [nodeA, nodeB] = [unique('a'), unique('b')];
    const responses = await Promise.all(
      Array.from({ length: 24 }, (_, i) => trigger(coordinator.app, name, { target: { node: i % 2 ? nodeA : nodeB } })),
    );
    const byNode = (n: string) => tally(responses.filter((_, i) => (i % 2 ? nodeA : nodeB) === n));
    expect(byNode(nodeA)).toEqual({ started: c.value, refused: 12 - c.value, other: [] });
    expect(byNode(nodeB)).toEqual({ started: c.value, refused: 12 - c.value, other: [] });
    const refusal = responses.find((r) => r.statusCode === 429)!;
    expect(refusal.json()).toMatchObject({
      error: 'constraint_refused',
      details: { constraint: { kind, value: c.value, is_global: false }, count: c.value, dry_run: false },
    });
    const retryAfter = Number(refusal.headers['retry-after']);
    if (kind === 'concurrency') {
      // The holder may close any moment: ask again in 30 s, not at the end of its period.
      expect(retryAfter).toBe(HELD_RETRY_AFTER_S);
    } else {
      expect(retryAfter).toBeGreaterThan(c.periodMs / 1000 - 60);
      expect(retryAfter).toBeLessThanOrEqual(c.periodMs / 1000 + 2);
    }
    expect(refusal.json().details.retry_after_seconds).toBe(retryAfter);
    await terminateStarted(responses);
  });
});

describe.each([
  ['concurrency', constraint('concurrency', 2, 15 * MIN, true)],
  ['maxExecution', constraint('maxExecution', 3, 24 * 60 * MIN, true)],
])('%s global', (kind, c) => {
  it(`admits exactly ${c.value} of 30 concurrent triggers spread over 15 nodes`, async () => {
    const name = unique(`${kind}Global`);
    const coordinator = await coordinatorFor(workflowConfig(name, { constraints: [c] }));
    const nodes = Array.from({ length: 15 }, () => unique('n'));
    const responses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => trigger(coordinator.app, name, { target: { node: nodes[i % 15] } })),
    );
    expect(tally(responses)).toEqual({ started: c.value, refused: 30 - c.value, other: [] });
    expect(responses.find((r) => r.statusCode === 429)!.json().details.constraint).toMatchObject({
      kind,
      is_global: true,
      scope: 'global',
    });
    const metrics = (await coordinator.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain(
      `medic_coordinator_constraint_refusals_total{workflow="${name}",kind="${kind}",scope="global"} ${30 - c.value}`,
    );
    await terminateStarted(responses);
  });
});

it('several coordinators with their own Temporal connections admit exactly the global limit, never two on one node', async () => {
  const name = unique('multi');
  const wf = workflowConfig(name, {
    constraints: [constraint('concurrency', 1, 15 * MIN), constraint('maxExecution', 2, 60 * MIN, true)],
  });
  // No remembered refusals: the top-up below must ask the ledger, not a refusal of the storm.
  const replicas = await Promise.all(
    [1, 2, 3].map(() => testCoordinator([wf], { deps: { admission: { startMarginMs: 1_000, refusalCacheMs: 0 } } })),
  );
  coordinators.push(...replicas);
  const nodes = [unique('m'), unique('m'), unique('m')];
  const responses = await Promise.all(
    Array.from({ length: 36 }, (_, i) => trigger(replicas[i % 3]!.app, name, { target: { node: nodes[Math.floor(i / 3) % 3] } })),
  );
  const storm = tally(responses);
  expect(storm.other).toEqual([]);
  // A burst may under-admit (a caller refused by the global window while another held a place
  // for a moment before its node's slot refused it and gave the place back). Once it is over,
  // one trigger per node without an execution fills the window exactly.
  const startedNodes = new Set(responses.filter((r) => r.statusCode === 202).map((r) => r.json().task_queue as string));
  const topUp: LightMyRequestResponse[] = [];
  for (const [i, node] of nodes.entries()) {
    if (!startedNodes.has(nodeQueue(node))) topUp.push(await trigger(replicas[i]!.app, name, { target: { node } }));
  }
  const all = [...responses, ...topUp];
  expect(tally(all)).toEqual({ started: 2, refused: all.length - 2, other: [] });
  const queues = all.filter((r) => r.statusCode === 202).map((r) => r.json().task_queue);
  expect(new Set(queues).size).toBe(2); // never two on one node
  expect(await settledCount(client, `MedicWorkflow = '${name}'`)).toBe(2);
  process.stderr.write(
    `[coordinator-constraints] the storm of 36 admitted ${storm.started} of 2; the top-up ${2 - storm.started}\n`,
  );
  await terminateStarted(all);
});

it('a workflow with every constraint kind reports the one that refused', async () => {
  const name = unique('all');
  const coordinator = await coordinatorFor(
    workflowConfig(name, {
      constraints: [
        constraint('concurrency', 1, 15 * MIN),
        constraint('maxExecution', 1, 60 * MIN),
        constraint('maxExecution', 3, 24 * 60 * MIN, true),
      ],
    }),
  );
  const node = unique('all');
  const first = await trigger(coordinator.app, name, { target: { node } });
  expect(first.statusCode).toBe(202);
  await client.workflow.getHandle(first.json().workflow_id).terminate('closed, so concurrency no longer counts it');
  // The first start took the node's only slot, so its scope is remembered full for a moment:
  // the answer turns from concurrency to the maxExecution window once that memory is over.
  const second = await eventually(
    async () => {
      const r = await trigger(coordinator.app, name, { target: { node } });
      return r.json().details?.constraint?.kind === 'maxExecution' ? r : undefined;
    },
    10_000,
    'the maxExecution window to be what refuses',
  );
  expect(second.statusCode).toBe(429);
  expect(second.json().details.constraint).toMatchObject({ kind: 'maxExecution', value: 1, period: '1h', is_global: false });
  expect(coordinator.audit.at(-1)).toMatchObject({ decision: 'refused', constraint: 'maxExecution 1/1h per target', count: 1 });
});

it('a concurrency slot frees when its execution closes', async () => {
  const name = unique('frees');
  const node = unique('frees');
  const coordinator = await coordinatorFor(workflowConfig(name, { constraints: [constraint('concurrency', 1, 15 * MIN)] }));
  const connection = await connectWorkerConnection();
  try {
    const worker = await Worker.create({ connection, taskQueue: nodeQueue(node), workflowBundle: workflowBundle() });
    const first = await trigger(coordinator.app, name, { target: { node } });
    expect(first.statusCode).toBe(202);
    await worker.runUntil(client.workflow.getHandle(first.json().workflow_id).result());
  } finally {
    await connection.close();
  }
  // Visibility may still show the closed run as running for a moment: that refuses, never admits too many.
  const next = await startedEventually(coordinator, name, node, 20_000, 'the slot to free');
  await client.workflow.getHandle(next.json().workflow_id).terminate('test done');
});

it('maxExecution counts only executions started within the period', async () => {
  const c = constraint('maxExecution', 1, 2_000);
  const name = unique('period');
  const node = unique('period');
  const coordinator = await coordinatorFor(workflowConfig(name, { constraints: [c] }));
  const first = await trigger(coordinator.app, name, { target: { node } });
  expect(first.statusCode).toBe(202);
  expect((await trigger(coordinator.app, name, { target: { node } })).statusCode).toBe(429);
  // The first execution is still running (no worker): admitted again once it started more than the period ago.
  const later = await startedEventually(coordinator, name, node, 15_000, 'the period to pass');
  expect((await client.workflow.getHandle(first.json().workflow_id).describe()).status.name).toBe('RUNNING');
  await terminateStarted([first, later]);
});

it('a concurrency slot stays held while its execution runs, also past the period (never more than N running)', async () => {
  const name = unique('period');
  const node = unique('period');
  // A clock: a maxExecution of the same period, admitted again once the period has passed.
  const clock = unique('clock');
  const coordinator = await coordinatorFor(
    workflowConfig(name, { constraints: [constraint('concurrency', 1, 2_000)] }),
    workflowConfig(clock, { constraints: [constraint('maxExecution', 1, 2_000)] }),
  );
  const first = await trigger(coordinator.app, name, { target: { node } });
  expect(first.statusCode).toBe(202);
  const tick = await trigger(coordinator.app, clock, { target: { node } });
  expect(tick.statusCode).toBe(202);
  const tock = await startedEventually(coordinator, clock, node, 15_000, 'the period to pass');
  expect((await trigger(coordinator.app, name, { target: { node } })).statusCode).toBe(429);
  await terminateStarted([first, tick, tock]);
});

it('visibility counts executions that hold no lease (started outside medic)', async () => {
  const name = unique('outside');
  const node = unique('outside');
  const coordinator = await coordinatorFor(workflowConfig(name, { constraints: [constraint('concurrency', 1, 15 * MIN)] }));
  const outside = unique('outside-run');
  await client.workflow.start('ping', {
    taskQueue: nodeQueue(node),
    workflowId: outside,
    typedSearchAttributes: startSearchAttributes({ workflow: name, node, trigger: 'an operator with the temporal CLI' }),
  });
  await eventually(
    async () => ((await client.workflow.count(`WorkflowId = '${outside}'`)).count === 1 ? true : undefined),
    20_000,
    'visibility',
  );
  const res = await trigger(coordinator.app, name, { target: { node } });
  expect(res.statusCode).toBe(429);
  expect(res.json().details).toMatchObject({ count: 1, constraint: { kind: 'concurrency' } });
  // The refusal released the lease it had taken: once the outside run ends, medic may start.
  await client.workflow.getHandle(outside).terminate('test done');
  const after = await startedEventually(coordinator, name, node, 20_000, 'admission after the outside run closed');
  await terminateStarted([after]);
});
