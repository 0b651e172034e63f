// How workflows call activities: timeouts, heartbeats and the retry policy, in one place.
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';

/**
 * Failure types (activities/errors.ts class names) that retrying cannot fix: fail at once.
 * test/unit/activity-errors.test.ts keeps this list in step with activities/errors.ts.
 */
export const PERMANENT_ERROR_TYPES = [
  'CommandNotAllowedError',
  'InvalidUnitError',
  'PathNotAllowedError',
  'InvalidRequestError',
  'NotConfiguredError',
  'TemplateError',
];

/**
 * Every medic activity heartbeats each second, so a worker that dies mid-activity is noticed
 * after the heartbeat timeout and the activity is retried on another poller of the queue.
 */
export const HEARTBEAT_TIMEOUT = '10s';

const BASE: ActivityOptions = {
  startToCloseTimeout: '5m',
  heartbeatTimeout: HEARTBEAT_TIMEOUT,
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 5,
    nonRetryableErrorTypes: PERMANENT_ERROR_TYPES,
  },
};

/** Activities with medic's defaults, on the workflow's own queue unless `taskQueue` is given. */
export function activities(overrides: ActivityOptions = {}) {
  return proxyActivities<Activities>({ ...BASE, ...overrides, retry: { ...BASE.retry, ...overrides.retry } });
}
