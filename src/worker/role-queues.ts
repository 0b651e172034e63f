// What a worker of each role polls and how it names itself, shared by the SDK worker
// (medic-worker.ts, roles general and both) and the lean one (lean/, role node), which must not
// load the SDK to learn it.
import { generalQueue, nodeQueue, nodeTypeQueue } from '../naming/task-queues';
import type { WorkerRole } from '../config/worker';

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

/** The queues a worker of `role` polls, general first, and whether each runs workflows. */
export function roleQueues(
  role: WorkerRole,
  where: { datacenter: string; nodeType: string; node: string },
): Array<{ taskQueue: string; workflows: boolean }> {
  const general = { taskQueue: generalQueue(where.datacenter), workflows: true };
  const machine = [nodeTypeQueue(where.datacenter, where.nodeType), nodeQueue(where.node)];
  if (role === 'general') return [general];
  return [...(role === 'both' ? [general] : []), ...machine.map((taskQueue) => ({ taskQueue, workflows: role === 'both' }))];
}
