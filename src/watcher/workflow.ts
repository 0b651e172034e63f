// The close watcher: one workflow for the namespace (id `medic-close-watcher`), run by the
// coordinators' ledger workers, started by every coordinator with USE_EXISTING, so exactly one
// runs. It pages every medic run that closed unhealed without a page of its own (timed out,
// terminated, cancelled, or failed before its catch-all), once, through the same sink and with
// the same dedup_key as the run itself would have: the `page` activity of the general workers,
// on the run's own workflow task queue. Its watermark and the runs it paged are durable state,
// carried across continue-as-new, so a restart never pages twice; its resume point is in its memo
// too, so a watcher started after one was terminated pages what closed while none ran. A page
// carries what the run's diagnose steps see on its node at that moment. A page that cannot be
// delivered yet (no general worker on the run's queue, the sink down) stays pending in that
// state and is tried again until it is delivered or refused for good.
import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  defineQuery,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { DiagnoseRequest, Diagnosis, PageRequest, PageResult } from '../../activities';
import type { PreparedPage, WatcherActivities } from './activities';
import {
  WATCHER_DEFAULTS,
  WATCHER_DIAGNOSE_PATCH,
  WATCHER_MEMO,
  WATCHER_RESUME_PATCH,
  WATCHER_RETRY_PATCH,
  carriedState,
  countByStatus,
  expirePending,
  initialState,
  keepPending,
  nextList,
  pendingDue,
  resumePoint,
  resumedState,
  settlePending,
  takeAnswer,
  type ClosedRun,
  type WatcherOptions,
  type WatcherState,
} from './state';

export const watcherStateQuery = defineQuery<WatcherState>('watcherState');

/** Failure types of the page activity that retrying cannot fix (activities/errors.ts). */
const PERMANENT = ['InvalidRequestError', 'NotConfiguredError'];

export async function medicCloseWatcher(options: WatcherOptions = {}, carried?: WatcherState): Promise<void> {
  const pollMs = options.pollMs ?? WATCHER_DEFAULTS.pollMs;
  const overlapMs = options.overlapMs ?? WATCHER_DEFAULTS.overlapMs;
  const maxHistoryEvents = options.maxHistoryEvents ?? WATCHER_DEFAULTS.maxHistoryEvents;
  const ledger = proxyActivities<WatcherActivities>({
    startToCloseTimeout: '60s',
    retry: { initialInterval: '1s', maximumInterval: '10s' },
  });
  const resuming = patched(WATCHER_RESUME_PATCH);
  const state = carried
    ? carriedState(carried)
    : resuming
      ? resumedState(await ledger.lastResumePoint(workflowInfo().workflowId), Date.now(), options.lookbackMs, options.resumeMaxMs)
      : initialState(Date.now(), options.lookbackMs);
  setHandler(watcherStateQuery, () => state);
  const diagnosing = patched(WATCHER_DIAGNOSE_PATCH);
  const retrying = patched(WATCHER_RETRY_PATCH);
  if (retrying) state.pending ??= {};
  const pageWithinMs = options.pageWithinMs ?? WATCHER_DEFAULTS.pageWithinMs;
  const retryMs = options.retryMs ?? WATCHER_DEFAULTS.retryMs;
  // Counting a catch is never retried: a lost count is better than a close counted twice.
  const counter = proxyActivities<Pick<WatcherActivities, 'countUnpagedCloses'>>({
    startToCloseTimeout: '10s',
    retry: { maximumAttempts: 1 },
  });

  // Pages run beside the polling: a sink that is down for a while must not delay the next catch.
  const inFlight = new Set<Promise<void>>();
  // The close times of the runs whose page is in flight: the resume point stays before them.
  const paging = new Map<string, number>();
  let remembered = '';
  const remember = (): void => {
    if (!resuming) return;
    const point = JSON.stringify(resumePoint(state, paging));
    if (point === remembered) return;
    remembered = point;
    upsertMemo({ [WATCHER_MEMO]: point });
  };
  remember();
  const page = async (run: ClosedRun): Promise<void> => {
    try {
      const req = diagnosing
        ? await withDiagnostics(
            retrying ? await ledger.prepareUnpagedPage(run, { counted: true }) : await ledger.prepareUnpagedPage(run),
            options.diagnoseWithinMs ?? WATCHER_DEFAULTS.diagnoseWithinMs,
          )
        : await ledger.describeUnpagedClose(run);
      // The general workers' page activity, on the run's own queue: its sink, its dedup_key.
      const sink = proxyActivities<{ page(req: PageRequest): Promise<PageResult> }>({
        taskQueue: run.taskQueue,
        startToCloseTimeout: '30s',
        scheduleToCloseTimeout: retrying ? pageWithinMs : '30m',
        retry: { maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
      });
      const res = await sink.page(req);
      state.paged += 1;
      if (retrying) settlePending(state, run.runId);
      log.info('paged an unpaged close', {
        workflowId: run.workflowId,
        runId: run.runId,
        status: run.status,
        detail: res.detail,
      });
    } catch (err) {
      if (retrying && !refusedForGood(err)) {
        const kept = keepPending(state, run, failureText(err), Date.now(), retryMs);
        log.warn('could not page an unpaged close yet, will try again', {
          workflowId: run.workflowId,
          runId: run.runId,
          attempts: kept.attempts,
          error: kept.lastError,
        });
        return;
      }
      state.failed += 1;
      if (retrying) settlePending(state, run.runId);
      log.error('could not page an unpaged close', { workflowId: run.workflowId, runId: run.runId, error: String(err) });
    }
  };
  const startPage = (run: ClosedRun): void => {
    paging.set(run.runId, run.closeTimeMs);
    const p: Promise<void> = page(run).finally(() => {
      inFlight.delete(p);
      paging.delete(run.runId);
      remember();
    });
    inFlight.add(p);
  };

  const newRunDue = (): boolean => {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > maxHistoryEvents;
  };
  for (;;) {
    const due = newRunDue();
    if (due && inFlight.size === 0) break;
    // A new run is due but pages are still in flight: keep catching meanwhile, unless the history is long already.
    if (!due || workflowInfo().historyLength < 2 * maxHistoryEvents) {
      const answer = await ledger.listUnpagedCloses(
        nextList(state, overlapMs, options.batch ?? WATCHER_DEFAULTS.batch, options.scope),
      );
      const fresh = takeAnswer(state, answer, overlapMs);
      if (retrying && fresh.length) await counter.countUnpagedCloses(countByStatus(fresh)).catch(() => undefined);
      for (const run of fresh) startPage(run);
      remember();
    }
    // Pending pages are tried again, but not once a new run is due: they go to it with the state.
    if (retrying && !due) {
      for (const p of expirePending(state, Date.now(), options.pendingMaxMs ?? WATCHER_DEFAULTS.pendingMaxMs))
        log.error('gave up paging an unpaged close', {
          workflowId: p.run.workflowId,
          runId: p.run.runId,
          attempts: p.attempts,
          error: p.lastError,
        });
      for (const run of pendingDue(state, Date.now(), paging)) startPage(run);
    }
    await sleep(pollMs);
  }
  await continueAsNew<typeof medicCloseWatcher>(options, state);
}

/** A failure that trying again cannot change: the sink refused the page, or no sink is configured. */
function refusedForGood(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && PERMANENT.includes(cause.type ?? '');
}

/** Why an attempt failed, in a line: the activity's cause (a timeout, the sink's answer), else the error. */
function failureText(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return (cause ?? (err as Error)).message || String(err);
}

/**
 * The prepared page with what the run's diagnose steps see on its node now: each step on the
 * node's queue, bounded, side by side (the worker masks the run's secrets in what they answer).
 * A node that does not answer makes each step say "diagnostics unavailable: <why>".
 */
async function withDiagnostics(prepared: PreparedPage, withinMs: number): Promise<PageRequest> {
  const unavailable = (name: string, why: string): Diagnosis => ({
    name,
    output: `diagnostics unavailable: ${why}`,
    truncated: false,
  });
  if (prepared.unavailable) return { ...prepared.page, diagnostics: [unavailable('diagnose', prepared.unavailable)] };
  if (!prepared.diagnose) return prepared.page;
  const { taskQueue, steps } = prepared.diagnose;
  const diagnostics = await Promise.all(
    steps.map(async (step: DiagnoseRequest): Promise<Diagnosis> => {
      const node = proxyActivities<{ diagnose(req: DiagnoseRequest): Promise<Diagnosis> }>({
        taskQueue,
        scheduleToStartTimeout: Math.min(10_000, withinMs),
        startToCloseTimeout: (step.timeoutMs ?? 10_000) + 5_000,
        scheduleToCloseTimeout: withinMs,
        retry: { maximumAttempts: 1 },
      });
      try {
        return await node.diagnose(step);
      } catch (err) {
        const why = err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
        return unavailable(step.name, why);
      }
    }),
  );
  return { ...prepared.page, diagnostics };
}
