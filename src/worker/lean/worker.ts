// The per-server (role "node") worker without the Temporal SDK's worker: a long-poll loop per
// task queue (node-type and node), `maxConcurrentActivities` slots per queue as the SDK sizes
// them, poll errors retried with jittered backoff, and a drain on shutdown: polling stops,
// running activities get the grace period, then are cancelled, then run() resolves.
import type { WorkerConfig } from '../../config/worker';
import type { Log } from '../../telemetry/line-log';
import { backoffDelay, pause, type RetryPolicy } from '../../temporal/connect';
import { roleQueues, workerIdentity, type MedicWorker } from '../role-queues';
import { RegistrationError } from '../registration';
import { STATUS, type CallError, type WorkflowServiceClient } from './api';
import { ActivityTask, type Activity } from './activity-task';
import type { LeanConverter } from './converter';
import type { LeanMetrics } from './metrics';

export interface LeanWorkerOptions {
  config: Pick<WorkerConfig, 'datacenter' | 'nodeType' | 'node' | 'shutdownGraceMs' | 'maxConcurrentActivities' | 'temporal'>;
  client: WorkflowServiceClient;
  converter: LeanConverter;
  activities: object;
  log: Log;
  metrics: LeanMetrics;
  /** Backoff after a failed poll; default 1 s doubling to 30 s, up to half of it cut at random. */
  pollRetry?: RetryPolicy;
}

/** A poll is a long poll: the server answers empty after about a minute. */
const POLL_TIMEOUT_MS = 70_000;
const POLL_RETRY: RetryPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, factor: 2, jitter: 0.5 };
/** After the grace period, cancelled activities get this much longer to stop (the SDK's shutdownForceTime). */
const FORCE_MS = 15_000;

/** Errors a poll can never recover from: the worker stops with them. */
const FATAL = new Set<number>([STATUS.NOT_FOUND, STATUS.INVALID_ARGUMENT, STATUS.UNIMPLEMENTED]);

export function createLeanWorker(opts: LeanWorkerOptions): MedicWorker {
  const { config, client, log, metrics } = opts;
  const queues = roleQueues('node', config).map((q) => q.taskQueue);
  if (queues.length === 0) throw new RegistrationError('no task queues to poll');
  const identity = workerIdentity(config.node);
  const activities = opts.activities as Readonly<Record<string, Activity>>;
  const stopPolling = new AbortController();
  const running = new Set<ActivityTask>();
  let fatal: Error | undefined;
  const where = { node: config.node, datacenter: config.datacenter, node_type: config.nodeType };

  async function pollQueue(taskQueue: string): Promise<void> {
    const labels = { task_queue: taskQueue };
    const env = { client, converter: opts.converter, activities, namespace: config.temporal.namespace, taskQueue, identity, log };
    // Free slots of this queue; a poll holds one, so a task that arrives always has room.
    let free = config.maxConcurrentActivities;
    let wake: (() => void) | undefined;
    const slotFreed = (): void => {
      free += 1;
      wake?.();
    };
    let failures = 0;
    while (!stopPolling.signal.aborted) {
      if (free === 0) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stopPolling.signal.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          wake = done;
          stopPolling.signal.addEventListener('abort', done, { once: true });
        });
        continue;
      }
      let task;
      try {
        task = await client.call(
          'PollActivityTaskQueue',
          { namespace: config.temporal.namespace, taskQueue: { name: taskQueue, kind: 1 /* NORMAL */ }, identity },
          { timeoutMs: POLL_TIMEOUT_MS, signal: stopPolling.signal },
        );
        metrics.add('polls', labels);
        if (failures) log('info', 'polling again', { task_queue: taskQueue, after_failures: failures });
        failures = 0;
      } catch (err) {
        const code = (err as CallError).code;
        if (stopPolling.signal.aborted) break;
        // The long poll's own deadline: nothing came, poll again.
        if (code === STATUS.DEADLINE_EXCEEDED) continue;
        metrics.add('pollErrors', labels);
        if (code !== undefined && FATAL.has(code)) {
          fatal ??= new Error(`polling ${taskQueue} failed: ${(err as Error).message}`);
          stopPolling.abort();
          break;
        }
        failures += 1;
        const delay = backoffDelay(failures, opts.pollRetry ?? POLL_RETRY);
        log('warn', 'cannot poll Temporal; retrying', {
          task_queue: taskQueue,
          attempt: failures,
          retry_in: `${delay / 1000}s`,
          error: (err as Error).message.split('\n')[0],
        });
        await pause(delay, stopPolling.signal);
        continue;
      }
      if (!task.taskToken || (task.taskToken as Uint8Array).length === 0) continue; // the long poll ended empty
      free -= 1;
      const t = new ActivityTask(env, task);
      running.add(t);
      metrics.add('started', labels);
      metrics.set('running', where, running.size);
      void t.done.then((outcome) => {
        running.delete(t);
        metrics.set('running', where, running.size);
        if (outcome !== 'abandoned') metrics.add(outcome, labels);
        slotFreed();
      });
    }
  }

  let runs: Promise<void>[] | undefined;
  let drained: Promise<void> | undefined;

  async function drain(): Promise<void> {
    if (runs) await Promise.all(runs);
    const settled = Promise.all([...running].map((t) => t.done)).then(() => undefined);
    if (running.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => (timer = setTimeout(() => resolve('grace'), config.shutdownGraceMs)));
    if ((await Promise.race([settled, grace])) === 'grace') {
      log('warn', 'shutdown grace over: cancelling running activities', { running: running.size });
      for (const t of running) t.cancel('WORKER_SHUTDOWN');
      const force = new Promise<void>((resolve) => (timer = setTimeout(resolve, FORCE_MS)));
      await Promise.race([settled, force]);
      if (running.size) log('warn', 'activities did not stop after cancellation; leaving them', { running: running.size });
    }
    clearTimeout(timer);
  }

  return {
    queues,
    identity,
    async run() {
      runs = queues.map((q) => pollQueue(q));
      await Promise.all(runs);
      // Polling ends on shutdown or on a fatal poll error; either way running activities drain.
      drained ??= drain();
      await drained;
      if (fatal) throw fatal;
    },
    shutdown() {
      stopPolling.abort();
    },
  };
}
