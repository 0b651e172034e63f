import { Worker } from '@temporalio/worker';
import { nodeQueue } from '../../src/naming/task-queues';
import { startSearchAttributes, queryValue } from '../../src/naming/search-attributes';
import { connectClient, connectWorkerConnection, eventually, unique, workflowBundle } from '../helpers/temporal';

describe('the real Temporal dev server of the test run', () => {
  it('runs a workflow on a medic queue and finds it again by search attributes', async () => {
    const node = unique('it-node');
    const taskQueue = nodeQueue(node);
    const { client, close } = await connectClient();
    const connection = await connectWorkerConnection();
    try {
      const worker = await Worker.create({ connection, taskQueue, workflowBundle: workflowBundle() });
      const workflowId = unique('ping');
      const result = await worker.runUntil(
        client.workflow.execute('ping', {
          taskQueue,
          workflowId,
          typedSearchAttributes: startSearchAttributes({ workflow: 'ping', node, datacenter: 'dc-test', trigger: 'test' }),
        }),
      );
      expect(result).toEqual({ taskQueue, workflowId });

      const query = `MedicWorkflow = ${queryValue('ping')} AND MedicNode = ${queryValue(node)}`;
      const found = await eventually(
        async () => {
          const ids: string[] = [];
          for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
          return ids.length ? ids : undefined;
        },
        20_000,
        'the execution to show in visibility',
      );
      expect(found).toEqual([workflowId]);

      const other = `MedicWorkflow = ${queryValue('ping')} AND MedicNode = ${queryValue(unique('nobody'))}`;
      expect((await client.workflow.count(other)).count).toBe(0);
    } finally {
      await connection.close();
      await close();
    }
  });
});
