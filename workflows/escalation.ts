// Escalation: when a remediation cannot fix the problem, a human must know. Notify through the
// worker's notify hook, then fail the workflow so it shows as failed wherever it is watched.
import { ApplicationFailure, isCancellation, log } from '@temporalio/workflow';
import type { ProgressTracker } from './progress';
import { activities } from './activity-options';

/** Failure type of a workflow that gave up and handed over to a human. */
export const ESCALATED = 'Escalated';

/**
 * Sends `message` as a critical notification (on `taskQueue`, or the workflow's own queue) and
 * throws the Escalated failure. If the notification cannot be delivered either, the failure says so.
 */
export async function escalate(progress: ProgressTracker, message: string, taskQueue?: string): Promise<never> {
  progress.step('escalate', message);
  let delivered = 'notified';
  try {
    await activities({ taskQueue, startToCloseTimeout: '1m', retry: { maximumAttempts: 3 } }).notify({
      message,
      severity: 'critical',
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    delivered = `NOT notified (${(err as Error).message})`;
    log.error('escalation notification failed', { message, error: String(err) });
  }
  progress.finish('escalated', delivered);
  throw ApplicationFailure.nonRetryable(`${message} [escalated: ${delivered}]`, ESCALATED);
}
