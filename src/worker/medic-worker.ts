// The worker of one server: one Temporal Worker per task queue (general, node type, node), all
// made by the same function from the same bundle and the same activities object, so no queue can
// miss a workflow or an activity that another has.
import { Worker, type NativeConnection } from '@temporalio/worker';
import { workerQueues } from '../temporal/task-queues';
import { medicDataConverter } from '../temporal/data-converter';
import type { WorkerConfig } from '../config/worker';
import type { Activities } from '../../activities';
import { assertSharedRegistration } from './registration';

export interface MedicWorkerOptions {
  config: Pick<WorkerConfig, 'datacenter' | 'nodeType' | 'node' | 'shutdownGraceMs' | 'maxConcurrentActivities' | 'temporal'> &
    Partial<Pick<WorkerConfig, 'workflowThreads'>>;
  connection: NativeConnection;
  /** Path of the prebuilt workflow bundle (dist/workflow-bundle.js). */
  bundlePath: string;
  activities: Activities;
}

export interface MedicWorker {
  /** The queues polled, general first. */
  queues: string[];
  identity: string;
  /** Polls all three queues until shut down; resolves once every queue worker has drained. */
  run(): Promise<void>;
  /** Stops polling and drains: running activities get the grace period, then are cancelled. */
  shutdown(): void;
}

/** Worker identity in Temporal's history (ActivityTaskStarted.identity): which server ran what. */
export function workerIdentity(node: string): string {
  return `${process.pid}@${node}`;
}

export async function createMedicWorker(opts: MedicWorkerOptions): Promise<MedicWorker> {
  const { config } = opts;
  const queues = workerQueues(config.datacenter, config.nodeType, config.node);
  const identity = workerIdentity(config.node);
  // Everything but the queue name is decided once, here: this object is the registration.
  const shared = {
    connection: opts.connection,
    namespace: config.temporal.namespace,
    workflowBundle: { codePath: opts.bundlePath },
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
    // debugMode is the SDK's name for "run workflows in the main thread": without it each queue
    // worker starts its own thread with its own V8 heap and bundle (see WorkerConfig.workflowThreads).
    debugMode: !config.workflowThreads,
  } as const;
  const registration = queues.map((taskQueue) => ({
    taskQueue,
    codePath: shared.workflowBundle.codePath,
    activities: shared.activities,
  }));
  assertSharedRegistration(registration);
  const workers = await Promise.all(queues.map((taskQueue) => Worker.create({ ...shared, taskQueue })));

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
