// Escalation: when a remediation cannot fix the problem (or fails), a human must know. The page
// goes to the central escalation sink of the general workers (worker.hcl `escalation`: JSON,
// PagerDuty Events v2 or Slack), retried durably as an activity, with one dedup key per workflow
// and target, carrying what the workflow's `diagnose` steps saw (workflows/diagnose.ts); then
// the workflow fails so it shows as failed wherever it is watched. A run whose page could not be
// delivered records no outcome, so the close watcher (src/watcher/) pages it later.
import {
  ApplicationFailure,
  isCancellation,
  log,
  patched,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { SEARCH_ATTRIBUTES } from '../src/naming/search-attributes';
import type { Diagnosis, PageRequest } from '../activities';
import type { ProgressTracker } from './progress';
import type { WorkflowInput } from './shared/input';
import { PERMANENT_ERROR_TYPES, activities } from './activity-options';
import { DIAGNOSE_PATCH, LADDER_PATCH, OUTCOMES_PATCH, UNPAGED_ESCALATION_PATCH } from './patches';
import { diagnoseBoundMs, pageBoundMs } from './deadline';
import { runDiagnostics } from './diagnose';
import { climb, ladderSoFar } from './ladder';
import { LADDER_MEMO, type LadderStep } from './shared/ladder';

/** Failure type of a workflow that gave up and handed over to a human. */
export const ESCALATED = 'Escalated';
/** Failure type of a workflow that failed on a path nobody handled (a bug), also escalated. */
export const FAILED = 'FailedAndEscalated';

/** The key every page about this workflow and target shares: PagerDuty groups them in one incident. */
export function dedupKey(input: Pick<WorkflowInput, 'workflow' | 'target'> | undefined): string {
  return dedupKeyOf(input?.workflow ?? workflowInfo().workflowType, input?.target);
}

/** dedupKey outside a workflow: the close watcher (src/watcher/) pages a run with its own key. */
export function dedupKeyOf(workflow: string, target: WorkflowInput['target'] | undefined): string {
  const t = target ?? {};
  const where = t.node ?? [t.datacenter, t.node_type].filter(Boolean).join('/');
  return `medic/${workflow}/${where || 'any'}`;
}

// The sink may be down for a while: keep trying (with backoff) for up to half an hour, within
// the workflow's own timeout (the schedule-to-close bound, not the attempt count, ends it). A
// refused payload (bad routing key) is permanent.
const pager = (withinMs: number = 30 * 60_000) =>
  activities({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: withinMs,
    retry: { maximumAttempts: 1000, maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT_ERROR_TYPES },
  });

function pageRequest(
  progress: ProgressTracker,
  action: PageRequest['action'],
  summary: string,
  outcome: string,
  diagnostics?: Diagnosis[],
  ladder?: LadderStep[],
): PageRequest {
  const info = workflowInfo();
  return {
    action,
    dedupKey: dedupKey(progress.input),
    summary,
    outcome,
    workflow: progress.input?.workflow ?? info.workflowType,
    workflowId: info.workflowId,
    runId: info.runId,
    target: progress.input?.target ?? {},
    tried: progress.tried(),
    ...(diagnostics && { diagnostics }),
    ...(ladder && { ladder }),
  };
}

/**
 * Pages a human with `message` and what was tried, then throws the Escalated (or, for bugs,
 * FailedAndEscalated) failure. If the page cannot be delivered either, the failure says so.
 */
export async function escalate(
  progress: ProgressTracker,
  message: string,
  outcome: 'escalated' | 'failed' = 'escalated',
): Promise<never> {
  const current = patched(OUTCOMES_PATCH);
  // Step output and failure text may carry a secret param's value: mask it before it is paged,
  // logged, or thrown (the worker logs a failed workflow's failure).
  message = progress.mask(message);
  progress.step('escalate', message);
  // An escalation ladder: ask for the next step first (it should start within seconds); a run
  // that hands over pages no one, the last step's page lists the whole ladder.
  let ladder: LadderStep[] | undefined;
  if (current && outcome === 'escalated' && progress.input?.onUnhealed && patched(LADDER_PATCH)) {
    const within = progress.deadline ? pageBoundMs(progress.deadline, Date.now()) / 2 : 60_000;
    const climbed = await climb(progress, message, within);
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.ladder, value: climbed.episode }]);
    upsertMemo({ [LADDER_MEMO]: JSON.stringify(climbed.steps) });
    if (climbed.handed) {
      const handed = `handed over to ${climbed.next.workflow} (${climbed.next.workflowId})`;
      progress.note(handed);
      progress.finish('escalated', handed);
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.outcome, value: outcome }]);
      throw ApplicationFailure.create({
        message: `${message} [escalated: ${handed}]`,
        type: ESCALATED,
        nonRetryable: true,
        details: [{ outcome, summary: message, tried: progress.tried(), ladder: climbed.steps }],
      });
    }
    ladder = climbed.steps;
    message = progress.mask(`${message}; ladder: next step ${climbed.steps.at(-1)!.workflow} ${climbed.why}`);
    progress.note(`ladder: ${climbed.why}`);
  } else if (current && progress.input?.ladder) {
    // The last step of a ladder that climbed this far (its own config has no next step).
    ladder = ladderSoFar(progress, message, outcome).steps;
  }
  // What the workflow's diagnose steps see goes in the page (masked like everything else).
  const diagnose = current && progress.input?.diagnose?.length ? patched(DIAGNOSE_PATCH) : false;
  const diagnostics = diagnose
    ? progress.mask(await runDiagnostics(progress.input!, diagnoseBoundMs(progress.deadline, Date.now())))
    : undefined;
  let delivered = 'notified';
  let paged = true;
  try {
    // Near the run's own deadline the page gets only the time left before Temporal's backstop.
    const within = progress.deadline ? pageBoundMs(progress.deadline, Date.now()) : undefined;
    if (current) await pager(within).page(pageRequest(progress, 'trigger', message, outcome, diagnostics, ladder));
    // Before the patch: the worker's notify hook, on the workflow's own queue.
    else await activities({ startToCloseTimeout: '1m', retry: { maximumAttempts: 3 } }).notify({ message, severity: 'critical' });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = (err as { cause?: Error }).cause;
    paged = false;
    delivered = progress.mask(`NOT notified (${cause?.message ?? (err as Error).message})`);
    log.error('escalation failed', { message, error: String(err) });
  }
  progress.finish(outcome === 'failed' ? 'failed' : 'escalated', delivered);
  // No outcome without a page: the close watcher pages the unhealed closes that have none.
  if (current && (paged || !patched(UNPAGED_ESCALATION_PATCH)))
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.outcome, value: outcome }]);
  throw ApplicationFailure.create({
    message: `${message} [escalated: ${delivered}]`,
    type: outcome === 'failed' ? FAILED : ESCALATED,
    nonRetryable: true,
    details: current ? [{ outcome, summary: message, tried: progress.tried() }] : undefined,
  });
}

/** After a healing run: resolves the page about this workflow and target, if one is open. */
export async function resolvePage(progress: ProgressTracker, summary: string): Promise<void> {
  try {
    await activities({ startToCloseTimeout: '30s', scheduleToCloseTimeout: '5m', retry: { maximumInterval: '30s' } }).page(
      pageRequest(progress, 'resolve', summary, 'healed'),
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('could not resolve the page', { error: String(err) });
  }
}
