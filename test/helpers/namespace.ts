// A Temporal namespace of a test file's own, with medic's search attributes: for tests of what
// watches the whole namespace (the close watcher), which other files' executions must not reach.
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { setupTemporal } from '../../src/temporal/setup';
import { temporalAddress, unique } from './temporal';
import { waitFor } from './wait';

export interface TestNamespace {
  namespace: string;
  client: Client;
  /** Terminates every execution still running in the namespace (its ledgers too), then closes the connection. */
  close(): Promise<void>;
}

/** Registers a fresh namespace on the run's dev server and waits until starts and visibility queries work in it. */
export async function testNamespace(prefix: string): Promise<TestNamespace> {
  const namespace = unique(prefix);
  const connection = await Connection.connect({ address: temporalAddress() });
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  const client = new Client({ connection, namespace });
  // A new namespace reaches the server's namespace cache after a moment.
  await waitFor(
    `namespace ${namespace}`,
    () =>
      connection.workflowService.describeNamespace({ namespace }).then(
        () => true,
        () => undefined,
      ),
    30_000,
  );
  const setup = await setupTemporal({ address: temporalAddress(), namespace }, { say: () => undefined });
  if (!setup.ok) throw new Error(`cannot set up namespace ${namespace}: ${setup.message}`);
  await waitFor(
    `search attributes in ${namespace}`,
    () =>
      client.workflow.count(`MedicWorkflow = 'x' AND MedicOutcome IS NULL`).then(
        () => true,
        () => undefined,
      ),
    30_000,
  );
  const close = async (): Promise<void> => {
    try {
      for await (const e of client.workflow.list({ query: `ExecutionStatus = 'Running'` }))
        await client.workflow
          .getHandle(e.workflowId)
          .terminate('test done')
          .catch(() => undefined);
    } finally {
      await connection.close();
    }
  };
  return { namespace, client, close };
}
