// The worker of one server: one Temporal Worker per task queue it polls, by role. A node worker
// polls its node-type and node queues for activities only (no workflow sandbox: small); a
// general worker polls its datacenter's general queue and runs the workflows in workflow threads;
// "both" polls all three with workflows on each (medic dev; node-only targets of older callers).
import { Worker, type NativeConnection } from '@temporalio/worker';
import { medicDataConverter } from '../temporal/data-converter';
import type { WorkerConfig } from '../config/worker';
import type { Activities } from '../../activities';
import { assertSharedRegistration } from './registration';
import { roleQueues, workerIdentity, type MedicWorker } from './role-queues';

export { roleQueues, workerIdentity, type MedicWorker };

export interface MedicWorkerOptions {
  config: Pick<WorkerConfig, 'datacenter' | 'nodeType' | 'node' | 'shutdownGraceMs' | 'maxConcurrentActivities' | 'temporal'> &
    Partial<Pick<WorkerConfig, 'workflowThreads' | 'role'>>;
  connection: NativeConnection;
  /** Path of the prebuilt workflow bundle (dist/workflow-bundle.js). */
  bundlePath: string;
  activities: Activities;
}

export async function createMedicWorker(opts: MedicWorkerOptions): Promise<MedicWorker> {
  const { config } = opts;
  const plan = roleQueues(config.role ?? 'both', config);
  const queues = plan.map((q) => q.taskQueue);
  const identity = workerIdentity(config.node);
  // Everything but the queue name is decided once, here: this object is the registration.
  const shared = {
    connection: opts.connection,
    namespace: config.temporal.namespace,
    dataConverter: medicDataConverter(config.temporal.payloadKeyFile),
    activities: opts.activities,
    identity,
    shutdownGraceTime: config.shutdownGraceMs,
    // Beyond the grace period, cancelled activities get a little longer to stop, then we give up.
    shutdownForceTime: config.shutdownGraceMs + 15_000,
    // Sized for a remediation worker on a busy server, not a throughput worker: a handful of
    // activities and workflow tasks at once, a small sticky cache, few pollers.
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: 2,
    maxConcurrentLocalActivityExecutions: 2,
    maxCachedWorkflows: 20,
    maxConcurrentWorkflowTaskPolls: 2,
    maxConcurrentActivityTaskPolls: 1,
    // debugMode is the SDK's name for "run workflows in the main thread", where one busy workflow
    // wedges the worker and nothing detects a deadlock: off unless workflow_threads = false.
    debugMode: config.workflowThreads === false,
  } as const;
  const withWorkflows = plan.filter((q) => q.workflows);
  assertSharedRegistration(
    withWorkflows.map(({ taskQueue }) => ({ taskQueue, codePath: opts.bundlePath, activities: shared.activities })),
    plan.length,
  );
  const workers = await Promise.all(
    plan.map(({ taskQueue, workflows }) =>
      Worker.create({ ...shared, taskQueue, ...(workflows && { workflowBundle: { codePath: opts.bundlePath } }) }),
    ),
  );

  return {
    queues,
    identity,
    async run() {
      // If one queue worker fails, stop the others too: a worker missing a queue is misregistered.
      const runs = workers.map((w) =>
        w.run().catch((err: unknown) => {
          for (const other of workers) if (other !== w && other.getState() === 'RUNNING') other.shutdown();
          throw err;
        }),
      );
      const results = await Promise.allSettled(runs);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
