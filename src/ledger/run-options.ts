// What both ledger workflows ask Temporal for: their activities and their next run, each bounded
// so that a coordinator that died holding a ledger's task stalls it for seconds (LEDGER_DEAD_WORKER_PATCH).
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  sleep,
  workflowInfo,
  type ActivityInterfaceFor,
  type Workflow,
} from '@temporalio/workflow';
import { LEDGER_HEARTBEAT_TIMEOUT, LEDGER_TASK_TIMEOUT } from './messages';
import { LEDGER_DEAD_WORKER_PATCH, LEDGER_QUIET_ROLLOVER_PATCH } from './patches';

/**
 * The ledger's activities. Once the patch is in, an activity whose worker died is retried after
 * LEDGER_HEARTBEAT_TIMEOUT (the ledger worker heartbeats them while they run), not after the 60 s
 * start-to-close: a new ledger seeding on a killed coordinator would refuse every admission until then.
 */
export function ledgerActivities<A extends object>(taskQueue?: string): ActivityInterfaceFor<A> {
  return proxyActivities<A>({
    ...(taskQueue && { taskQueue }),
    startToCloseTimeout: '60s',
    ...(patched(LEDGER_DEAD_WORKER_PATCH) && { heartbeatTimeout: LEDGER_HEARTBEAT_TIMEOUT }),
    retry: { initialInterval: '1s', maximumInterval: '10s' },
  });
}

/** Ends this run of a ledger and starts the next with `args`, with the ledgers' workflow task timeout once the patch is in. */
export function continueLedger<F extends Workflow>(...args: Parameters<F>): Promise<never> {
  if (patched(LEDGER_DEAD_WORKER_PATCH)) return makeContinueAsNewFunc<F>({ workflowTaskTimeout: LEDGER_TASK_TIMEOUT })(...args);
  return continueAsNew<F>(...args);
}

/** A new run is wanted after this many history events (each admission or claim adds two, each batch three more). */
export const ROLLOVER_EVENTS = 2_000;
/** Past ROLLOVER_EVENTS, a new run starts at the first moment this long without an update. */
export const ROLLOVER_QUIET_MS = 1_000;
/** ... or at the latest past this many events (or when Temporal suggests it), quiet or not. */
export const ROLLOVER_MAX_EVENTS = 4 * ROLLOVER_EVENTS;

/**
 * When a ledger continues as new. The updates that arrive while the next run starts wait for it
 * (1.5-2.5 s in bench:history), so once the patch is in, a ledger past ROLLOVER_EVENTS waits for
 * a quiet moment (ROLLOVER_QUIET_MS without an update) instead of pausing a storm; a storm that
 * never pauses still rolls over at ROLLOVER_MAX_EVENTS. Call `heard()` in every update handler.
 */
export function ledgerRollover(): { heard(): void; due(): boolean } {
  const quiet = patched(LEDGER_QUIET_ROLLOVER_PATCH);
  let heardAt = Date.now();
  const long = (): boolean => workflowInfo().historyLength > ROLLOVER_EVENTS;
  // Past the threshold, a timer wakes the ledger each ROLLOVER_QUIET_MS so that `due()` is asked again.
  if (quiet)
    void (async () => {
      for (;;) {
        await condition(long);
        await sleep(ROLLOVER_QUIET_MS);
      }
    })();
  return {
    heard: () => void (heardAt = Date.now()),
    due: () => {
      const info = workflowInfo();
      if (!quiet) return info.continueAsNewSuggested || long();
      return (
        info.continueAsNewSuggested ||
        info.historyLength > ROLLOVER_MAX_EVENTS ||
        (long() && Date.now() - heardAt >= ROLLOVER_QUIET_MS)
      );
    },
  };
}

/**
 * What a ledger's update validator throws: the whole batch is refused and nothing is written.
 * `details` (the refusal of each request, in order) is what the client answers each caller with.
 */
export function rejection(type: string, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, ...(details && { details: [details] }), nonRetryable: true });
}
