// What `medic worker` runs on: the Temporal SDK's worker (roles general and both, sdk-engine.ts)
// or the lean activity-only runtime (role node, lean/engine.ts). run.ts drives either the same
// way: connect (retrying), start polling, reload, drain.
import type { WorkerConfig } from '../config/worker';
import type { Activities } from '../../activities';
import type { Log } from '../telemetry/line-log';
import type { MedicWorker } from './role-queues';

export interface WorkerEngine {
  /** One connection attempt; throws when Temporal does not answer (connectWithRetry retries). */
  connect(): Promise<void>;
  /** Creates the worker on the connection (after connect). */
  start(activities: Activities): Promise<MedicWorker>;
  /** medic_worker_task_queues: how many queues this worker polls now. */
  setQueues(n: number): void;
  /** Closes the connection (and the metrics listener of its own, if any). */
  close(): Promise<void>;
}

export type CreateEngine = (config: WorkerConfig, log: Log, bundlePath: string) => Promise<WorkerEngine>;
