// How every medic workflow ends: healed, nothing to heal, escalated to a human, or failed (a bug,
// also escalated). `remediation` wraps a workflow body: it records the outcome in the result and
// in the MedicOutcome search attribute, resolves the page when a run heals, and turns any
// failure the body did not handle into an escalation that says what was tried (the catch-all).
// A run that reaches its own timeout is cancelled and escalates too (workflows/deadline.ts).
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  TimeoutFailure,
  isCancellation,
  patched,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES, type Outcome } from '../src/naming/search-attributes';
import type { WorkflowInput } from './shared/input';
import { ProgressTracker } from './progress';
import { ESCALATED, FAILED, escalate, resolvePage } from './escalation';
import { OUTCOMES_PATCH, OWN_TIMEOUT_PATCH, PROGRESS_MEMO_PATCH, SECRET_MASKING_PATCH } from './patches';
import { PROGRESS_MEMO } from './shared/progress';
import { runDeadline, type RunDeadline } from './deadline';
import { secretValues } from '../src/params/resolve';

export { OUTCOMES, type Outcome } from '../src/naming/search-attributes';

/** What every workflow result carries, beside its own fields. */
export interface OutcomeFields {
  outcome: 'healed' | 'nothing_to_heal';
  /** One line for people: what was found or done. */
  summary: string;
}

/** Records the outcome where operators filter on it (`medic list --outcome`). */
export function recordOutcome(outcome: Outcome): void {
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.outcome, value: outcome }]);
}

/** A step that no worker picked up in time: the machine's worker is gone (or never was). */
export function nodeUnreachable(err: unknown): string | undefined {
  if (!(err instanceof ActivityFailure)) return undefined;
  const timeout = err.cause instanceof TimeoutFailure ? err.cause : undefined;
  if (!timeout) return undefined;
  // Schedule-to-start: nobody polled the queue. Heartbeat or schedule-to-close: the worker died
  // mid-step and no one finished the retry in time.
  switch (timeout.timeoutType) {
    case 'SCHEDULE_TO_START':
      return `node unreachable: no worker took ${err.activityType} within its schedule-to-start bound`;
    case 'SCHEDULE_TO_CLOSE':
    case 'HEARTBEAT':
      return `node unreachable: ${err.activityType} stopped answering (${timeout.timeoutType.toLowerCase().replace(/_/g, '-')} timeout)`;
    default:
      return undefined;
  }
}

export interface Remediation {
  progress: ProgressTracker;
  /** False while replaying an execution that started before OUTCOMES_PATCH. */
  current: boolean;
}

/** Runs a workflow body so that it always ends in one of the four outcomes, visibly. */
export async function remediation<R extends OutcomeFields>(
  input: WorkflowInput,
  steps: string[],
  body: (r: Remediation) => Promise<R>,
): Promise<R> {
  const progress = new ProgressTracker(steps, input);
  const current = patched(OUTCOMES_PATCH);
  if (!current) {
    const old = await body({ progress, current });
    progress.finish('succeeded', old.summary);
    return old;
  }
  if (patched(SECRET_MASKING_PATCH)) progress.secrets = secretValues(input?.paramSchema, input?.params);
  if (patched(OWN_TIMEOUT_PATCH)) {
    const info = workflowInfo();
    progress.deadline = runDeadline(info.runStartTime.getTime(), input?.timeoutMs, info.executionTimeoutMs);
  }
  if (!patched(PROGRESS_MEMO_PATCH)) return ending(input, progress, current, body);
  try {
    return await ending(input, progress, current, body);
  } finally {
    // However it ended: the coordinator shows a closed run's progress from here, replaying nothing.
    upsertMemo({ [PROGRESS_MEMO]: JSON.stringify(progress.snapshot()) });
  }
}

/** The body under its deadline, ended in one of the four outcomes (the catch-all). */
async function ending<R extends OutcomeFields>(
  input: WorkflowInput,
  progress: ProgressTracker,
  current: boolean,
  body: (r: Remediation) => Promise<R>,
): Promise<R> {
  const deadline = progress.deadline;
  const passed = { yes: false };
  let result: R;
  try {
    result = deadline
      ? await untilDeadline(deadline, progress, passed, () => body({ progress, current }))
      : await body({ progress, current });
  } catch (err) {
    if (isCancellation(err) && deadline && passed.yes) {
      const at = progress.current;
      return escalate(
        progress,
        `${input?.workflow ?? workflowInfo().workflowType}: did not finish within its timeout of ${seconds(deadline.timeoutMs)}${at !== 'start' ? ` (stopped at step "${at}")` : ''}`,
      );
    }
    if (isCancellation(err)) throw err;
    const type = (err as { type?: string }).type;
    if (err instanceof ApplicationFailure && (type === ESCALATED || type === FAILED)) throw err; // already escalated
    const unreachable = nodeUnreachable(err);
    if (unreachable) return escalate(progress, `${workflowInfo().workflowType}: ${unreachable}`);
    const why =
      err instanceof ActivityFailure && err.cause ? `${err.activityType}: ${err.cause.message}` : (err as Error).message;
    return escalate(progress, `${workflowInfo().workflowType} failed: ${why}`, 'failed');
  }
  result = progress.mask(result);
  recordOutcome(result.outcome);
  progress.finish(result.outcome === 'healed' ? 'succeeded' : 'nothing_to_heal', result.summary);
  if (result.outcome === 'healed') await resolvePage(progress, result.summary);
  return result;
}

/**
 * Runs `body` until the deadline keeps just enough time to page: then cancels it, so its own
 * cleanup runs (rebootNode undrains), and `passed` says why it was cancelled. A body that is
 * paging already is left to finish its page (escalate bounds it by Temporal's backstop).
 */
async function untilDeadline<R>(
  deadline: RunDeadline,
  progress: ProgressTracker,
  passed: { yes: boolean },
  body: () => Promise<R>,
): Promise<R> {
  const bodyScope = new CancellationScope();
  const timerScope = new CancellationScope();
  timerScope
    .run(() => sleep(Math.max(1, deadline.bodyEndsAt - Date.now())))
    .then(
      () => {
        passed.yes = true;
        if (progress.current !== 'escalate') bodyScope.cancel();
      },
      () => undefined, // the run ended (or was cancelled) first
    );
  try {
    return await bodyScope.run(body);
  } finally {
    timerScope.cancel();
  }
}

function seconds(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}
