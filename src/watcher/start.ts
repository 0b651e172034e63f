// Starts the close watcher from a coordinator: every coordinator asks for the one watcher
// workflow (USE_EXISTING), so exactly one runs whichever coordinators are up, and asks again
// now and then, so a watcher that was terminated comes back. The ledger worker runs it.
import type { Registry } from 'prom-client';
import { LEDGER_QUEUE } from '../naming/task-queues';
import type { TemporalGateway } from '../temporal/gateway';
import { backoffDelay, settledWithin, STOP_WAIT_MS } from '../temporal/connect';
import { UNPAGED_CLOSES_METRIC, unpagedClosesTotal } from './activities';
import type { WatcherOptions } from './state';

/** The watcher's workflow id: one per namespace. */
export const CLOSE_WATCHER_ID = 'medic-close-watcher';
/** How often a coordinator makes sure the watcher runs. */
const RECHECK_MS = 5 * 60_000;

export interface CloseWatcherDeps {
  temporal: Pick<TemporalGateway, 'withDeadline'>;
  /** Starts the ledger worker that runs the watcher (LedgerWorker.ensure). */
  ensureWorker: () => void;
  /** The coordinator's registry: medic_unpaged_closes_total is exported there. */
  registry?: Registry;
  log: (message: string) => void;
}

export interface CloseWatcherSettings {
  /** Tests give each watcher its own id and scope. */
  workflowId?: string;
  options?: WatcherOptions;
}

/** Keeps the watcher running until the returned function is called (it resolves once no start is in flight). */
export function startCloseWatcher(deps: CloseWatcherDeps, settings: CloseWatcherSettings = {}): () => Promise<void> {
  if (deps.registry && !deps.registry.getSingleMetric(UNPAGED_CLOSES_METRIC)) deps.registry.registerMetric(unpagedClosesTotal);
  deps.ensureWorker();
  const workflowId = settings.workflowId ?? CLOSE_WATCHER_ID;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> | undefined;
  const attempt = async (n: number): Promise<void> => {
    if (stopped) return;
    let next = RECHECK_MS;
    try {
      await deps.temporal.withDeadline((client) =>
        client.workflow.start('medicCloseWatcher', {
          taskQueue: LEDGER_QUEUE,
          workflowId,
          args: [settings.options ?? {}],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      );
      n = 0;
    } catch (err) {
      n += 1;
      next = backoffDelay(n);
      if (n === 1 || n % 10 === 0)
        deps.log(`cannot start the close watcher (attempt ${n}), retrying: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!stopped) timer = setTimeout(() => void (inflight = attempt(n)), next);
  };
  inflight = attempt(0);
  // Stopping waits for a start in flight: no call may outlive the coordinator's connection.
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await settledWithin(inflight, STOP_WAIT_MS);
  };
}
