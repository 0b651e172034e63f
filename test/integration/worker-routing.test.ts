// The three-queue design with real medic workers: a workflow started on a node queue runs on
// that node's worker only; one on a node-type queue runs on a worker of that type only; and
// every workflow type named in config/workflows/*.hcl is registered on all three queues.
import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfigOrThrow } from '../../src/config/load';
import { generalQueue, nodeQueue, nodeTypeQueue } from '../../src/naming/task-queues';
import { WORKFLOW_TYPES } from '../../src/temporal/workflow-types';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { connectClient, unique } from '../helpers/temporal';

/** The worker identity that ran the first workflow task: "<pid>@<node>". */
async function ranOn(client: Client, taskQueue: string): Promise<string> {
  const handle = await client.workflow.start('ping', { taskQueue, workflowId: unique('ping') });
  const result = await handle.result();
  expect(result.taskQueue).toBe(taskQueue);
  const started = (await handle.fetchHistory()).events!.find((e) => e.workflowTaskStartedEventAttributes);
  return started!.workflowTaskStartedEventAttributes!.identity!.split('@')[1]!;
}

describe('three task queues per worker', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  const dc = unique('dc');
  let web1: TestWorker, web2: TestWorker, db1: TestWorker;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    [web1, web2, db1] = await Promise.all([
      startTestWorker({ datacenter: dc, nodeType: 'web', node: unique('web1') }),
      startTestWorker({ datacenter: dc, nodeType: 'web', node: unique('web2') }),
      startTestWorker({ datacenter: dc, nodeType: 'db', node: unique('db1') }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([web1, web2, db1].map((w) => w?.stop()));
    await closeClient();
  });

  it('polls the general, node-type and node queue of its place in the fleet', () => {
    expect(web1.queues).toEqual([generalQueue(dc), nodeTypeQueue(dc, 'web'), nodeQueue(web1.node)]);
  });

  it('runs a workflow started on medic:node:<name> on that node only', async () => {
    for (const w of [web1, web2, db1]) {
      for (let i = 0; i < 3; i++) expect(await ranOn(client, nodeQueue(w.node))).toBe(w.node);
    }
  });

  it('runs a workflow started on a node-type queue on a worker of that type only', async () => {
    for (let i = 0; i < 3; i++) expect(await ranOn(client, nodeTypeQueue(dc, 'db'))).toBe(db1.node);
    const webRuns = new Set<string>();
    for (let i = 0; i < 6; i++) webRuns.add(await ranOn(client, nodeTypeQueue(dc, 'web')));
    expect([...webRuns].every((n) => n === web1.node || n === web2.node)).toBe(true);
  });

  it('runs a workflow started on the general queue on some worker of the datacenter', async () => {
    expect([web1.node, web2.node, db1.node]).toContain(await ranOn(client, generalQueue(dc)));
  });

  it('registers every workflow type named in config/workflows/*.hcl on all three queues', async () => {
    const { config } = await loadConfigOrThrow('config', { workflowTypes: WORKFLOW_TYPES });
    const types = [...new Set([...config.workflows.values()].map((w) => w.workflowType))].sort();
    expect(types).toEqual(expect.arrayContaining(['cleanDisk', 'rebootNode', 'restartService', 'runbook']));
    for (const taskQueue of web1.queues) {
      for (const type of types) {
        // An input every medic workflow refuses at once: an unregistered type would instead leave
        // the workflow task failing and retrying (and this call would time out).
        const handle = await client.workflow.start(type, {
          taskQueue,
          workflowId: unique(`reg-${type}`),
          args: [{ workflow: type, target: {}, params: {} }],
          workflowTaskTimeout: '5s',
        });
        const outcome = await Promise.race([
          handle.result().then(
            () => 'completed',
            (err: unknown) => ((err as WorkflowFailedError).cause as ApplicationFailure).type,
          ),
          new Promise((resolve) => setTimeout(() => resolve('not registered (no answer in 10s)'), 10_000)),
        ]);
        // Bad input is a failure no workflow handles: the catch-all ends it "failed" and escalates.
        expect([type, taskQueue, outcome]).toEqual([type, taskQueue, type === 'ping' ? 'completed' : 'FailedAndEscalated']);
        await handle.terminate().catch(() => undefined);
      }
    }
  });
});
