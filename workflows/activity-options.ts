// How workflows call activities: timeouts, heartbeats and the retry policy, in one place.
import { patched, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { secretValues } from '../src/params/resolve';
import { SECRET_MASKING_PATCH } from './patches';
import { parseDuration } from '../src/duration';
import type { WorkflowInput } from './shared/input';

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
  // Every activity is bounded as a whole too, retries included: nothing waits forever.
  scheduleToCloseTimeout: '15m',
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
  const options = { ...BASE, ...overrides, retry: { ...BASE.retry, ...overrides.retry } };
  // A longer start-to-close than the default bound keeps room for a couple of tries.
  const startToClose = toMs(options.startToCloseTimeout);
  if (overrides.scheduleToCloseTimeout === undefined && startToClose !== undefined)
    options.scheduleToCloseTimeout = Math.max(toMs(BASE.scheduleToCloseTimeout)!, 3 * startToClose);
  return proxyActivities<Activities>(options);
}

function toMs(d: ActivityOptions['startToCloseTimeout']): number | undefined {
  if (d === undefined) return undefined;
  return typeof d === 'number' ? d : parseDuration(String(d));
}

/** How long a step waits for the machine's worker to take it, unless params.node_wait says otherwise. */
export const NODE_WAIT = '2m';

/**
 * Activities that touch the machine: on the target's queue (input.activityQueue), and they must
 * be picked up within node_wait (schedule-to-start), so a dead node ends in "escalated: node
 * unreachable" instead of a step that waits in the queue forever.
 */
export function onMachine(input: WorkflowInput, overrides: ActivityOptions = {}) {
  if (!input?.activityQueue) return redacted(input, activities(overrides));
  const wait = parseDuration(input.params?.node_wait ?? NODE_WAIT) ?? parseDuration(NODE_WAIT)!;
  return redacted(input, activities({ taskQueue: input.activityQueue, scheduleToStartTimeout: wait, ...overrides }));
}

/**
 * When the run has secret params: every request to `acts` carries their values as `redact`, and
 * the activity masks them in its answer and its error (activities/redact.ts), so neither the
 * worker's "Activity failed" line nor the recorded result holds them.
 */
function redacted<A extends object>(input: WorkflowInput, acts: A): A {
  if (!patched(SECRET_MASKING_PATCH)) return acts;
  const secrets = secretValues(input?.paramSchema, input?.params);
  if (secrets.length === 0) return acts;
  return new Proxy(acts, {
    get(target, name) {
      const fn = Reflect.get(target, name) as (req?: unknown) => Promise<unknown>;
      return (req?: unknown) => fn(req && typeof req === 'object' ? { ...req, redact: secrets } : { redact: secrets });
    },
  });
}
