// GET /v1/executions (recent executions from visibility, filtered) and the progress field of
// GET /v1/executions/{id}, over app.inject against the run's real Temporal dev server.
import type { LightMyRequestResponse } from 'fastify';
import { Worker } from '@temporalio/worker';
import { ADMIN, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { connectWorkerConnection, eventually, unique, workflowBundle } from '../helpers/temporal';
import { startTestWorker } from '../helpers/medic-worker';

const NODE = unique('node');
const OTHER = unique('node');
let c: TestCoordinator;

beforeAll(async () => {
  c = await testCoordinator([
    workflowConfig('listed', { taskQueueTarget: 'node' }),
    workflowConfig('pausing', {
      workflowType: 'runbook',
      taskQueueTarget: 'node',
      steps: [
        { name: 'first-pause', kind: 'wait', durationMs: 50 },
        { name: 'long-pause', kind: 'wait', durationMs: 10 * 60_000 },
      ],
    }),
    workflowConfig('short', {
      workflowType: 'runbook',
      taskQueueTarget: 'node',
      steps: [{ name: 'short-pause', kind: 'wait', durationMs: 10 }],
    }),
  ]);
});

afterAll(() => c.close());

function get(url: string): Promise<LightMyRequestResponse> {
  return c.app.inject({ method: 'GET', url, headers: { 'x-test-identity': ADMIN } });
}

async function start(workflow: string, node: string): Promise<string> {
  const res = await trigger(c.app, workflow, { target: { node } });
  expect(res.statusCode).toBe(202);
  return res.json().workflow_id as string;
}

interface Listed {
  workflow_id: string;
  workflow: string;
  status: string;
  target: { node?: string };
}

describe('GET /v1/executions', () => {
  it('lists the executions that match the workflow and node filters, and only those', async () => {
    const mine = [await start('listed', NODE), await start('listed', NODE)];
    const theirs = await start('listed', OTHER);
    const listed = await eventually(async () => {
      const res = await get(`/v1/executions?workflow=listed&node=${NODE}`);
      expect(res.statusCode).toBe(200);
      const rows = res.json().executions as Listed[];
      return rows.length >= 2 ? rows : undefined;
    });
    expect(listed.map((e) => e.workflow_id).sort()).toEqual([...mine].sort());
    expect(listed.every((e) => e.workflow === 'listed' && e.target.node === NODE && e.status === 'RUNNING')).toBe(true);
    expect(listed.map((e) => e.workflow_id)).not.toContain(theirs);
  });

  it('filters on status and honours the limit', async () => {
    await start('listed', NODE);
    const running = await get(`/v1/executions?node=${NODE}&status=running&limit=1`);
    expect(running.json().executions).toHaveLength(1);
    const completed = await get(`/v1/executions?node=${NODE}&status=completed`);
    expect(completed.json().executions).toEqual([]);
  });

  it('refuses filters that could change the visibility query, with 400', async () => {
    expect((await get(`/v1/executions?node=${encodeURIComponent("x' OR 'a'='a")}`)).statusCode).toBe(400);
    expect((await get('/v1/executions?status=sleeping')).statusCode).toBe(400);
    expect((await get('/v1/executions?limit=0')).statusCode).toBe(400);
  });
});

describe('GET /v1/executions/{id} progress', () => {
  it("reports the workflow's current step from its progress query", async () => {
    const node = unique('node');
    const connection = await connectWorkerConnection();
    const worker = await Worker.create({ connection, taskQueue: `medic:node:${node}`, workflowBundle: workflowBundle() });
    const running = worker.run();
    try {
      const id = await start('pausing', node);
      const progress = await eventually(async () => {
        const p = (await get(`/v1/executions/${id}`)).json().progress;
        return p?.step === 'long-pause' ? p : undefined;
      });
      expect(progress).toMatchObject({
        status: 'running',
        step: 'long-pause',
        step_number: 2,
        steps: ['first-pause', 'long-pause'],
      });
    } finally {
      worker.shutdown();
      await running;
      await connection.close();
    }
  });

  it('leaves progress out when no worker answers the query', async () => {
    const id = await start('listed', unique('node'));
    const res = await get(`/v1/executions/${id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('RUNNING');
    expect(res.json().progress).toBeUndefined();
  });

  it('shows a closed run the progress it recorded when it ended, with no worker left to replay it', async () => {
    const worker = await startTestWorker();
    let id: string;
    try {
      id = await start('short', worker.node);
      await c.temporal.withDeadline((client) => client.workflow.getHandle(id).result(), 30_000);
    } finally {
      await worker.stop();
    }
    const res = await get(`/v1/executions/${id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('COMPLETED');
    expect(res.json().progress).toEqual({
      status: 'succeeded',
      step: 'short-pause',
      step_number: 1,
      steps: ['short-pause'],
      attempt: 1,
      detail: 'healed: 1 steps done',
    });
  });

  it("keeps a closed run's queried progress: its next status needs no worker", async () => {
    const node = unique('node');
    const connection = await connectWorkerConnection();
    const worker = await Worker.create({ connection, taskQueue: `medic:node:${node}`, workflowBundle: workflowBundle() });
    const running = worker.run();
    let id: string;
    let first: unknown;
    try {
      id = await start('pausing', node);
      await eventually(async () =>
        (await get(`/v1/executions/${id}`)).json().progress?.step === 'long-pause' ? true : undefined,
      );
      // Terminated: the run records nothing when it ends, so its progress is the query's.
      await c.temporal.withDeadline((client) => client.workflow.getHandle(id).terminate('test'));
      const res = await get(`/v1/executions/${id}`);
      expect(res.json().status).toBe('TERMINATED');
      first = res.json().progress;
      expect(first).toEqual({
        status: 'running',
        step: 'long-pause',
        step_number: 2,
        steps: ['first-pause', 'long-pause'],
        attempt: 1,
        detail: 'wait',
      });
    } finally {
      worker.shutdown();
      await running;
      await connection.close();
    }
    expect((await get(`/v1/executions/${id}`)).json().progress).toEqual(first);
  });

  it('shows a reset run, whose started event names the run it was reset from, with its own history', async () => {
    const worker = await startTestWorker();
    let id: string;
    try {
      id = await start('pausing', worker.node);
      await eventually(async () =>
        (await get(`/v1/executions/${id}`)).json().progress?.step === 'long-pause' ? true : undefined,
      );
    } finally {
      // No worker from here: the reset run's history stays as the reset left it.
      await worker.stop();
    }
    const { runId, events } = await c.temporal.withDeadline(async (client) => {
      const before = await client.workflow.getHandle(id).describe();
      const history = await client.workflow.getHandle(id, before.runId).fetchHistory();
      const firstTask = history.events!.find((e) => e.workflowTaskCompletedEventAttributes)!;
      const reset = await client.workflowService.resetWorkflowExecution({
        namespace: 'default',
        workflowExecution: { workflowId: id, runId: before.runId },
        reason: 'test',
        workflowTaskFinishEventId: firstTask.eventId,
        requestId: unique('reset'),
      });
      const after = await client.workflow.getHandle(id, reset.runId!).fetchHistory();
      return { runId: reset.runId!, events: after.events!.length };
    });
    const res = await get(`/v1/executions/${id}`);
    expect(res.json().run_id).toBe(runId);
    expect(res.json().history.events).toBe(events);
  });
});
