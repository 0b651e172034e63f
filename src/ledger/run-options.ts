// What both ledger workflows ask Temporal for: their activities and their next run, each bounded
// so that a coordinator that died holding a ledger's task stalls it for seconds (LEDGER_DEAD_WORKER_PATCH).
import {
  continueAsNew,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  type ActivityInterfaceFor,
  type Workflow,
} from '@temporalio/workflow';
import { LEDGER_HEARTBEAT_TIMEOUT, LEDGER_TASK_TIMEOUT } from './messages';
import { LEDGER_DEAD_WORKER_PATCH } from './patches';

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
