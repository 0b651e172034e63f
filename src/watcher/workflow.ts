// The close watcher: one workflow for the namespace (id `medic-close-watcher`), run by the
// coordinators' ledger workers, started by every coordinator with USE_EXISTING, so exactly one
// runs. It pages every medic run that closed unhealed without a page of its own (timed out,
// terminated, cancelled, or failed before its catch-all), once, through the same sink and with
// the same dedup_key as the run itself would have: the `page` activity of the general workers,
// on the run's own workflow task queue. Its watermark and the runs it paged are durable state,
// carried across continue-as-new, so a restart never pages twice.
import { continueAsNew, defineQuery, log, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { PageRequest, PageResult } from '../../activities';
import type { WatcherActivities } from './activities';
import {
  WATCHER_DEFAULTS,
  carriedState,
  initialState,
  nextList,
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
  const state = carried ? carriedState(carried) : initialState(Date.now(), options.lookbackMs);
  setHandler(watcherStateQuery, () => state);

  const ledger = proxyActivities<WatcherActivities>({
    startToCloseTimeout: '60s',
    retry: { initialInterval: '1s', maximumInterval: '10s' },
  });
  // Pages run beside the polling: a sink that is down for a while must not delay the next catch.
  const inFlight = new Set<Promise<void>>();
  const page = async (run: ClosedRun): Promise<void> => {
    try {
      const req = await ledger.describeUnpagedClose(run);
      // The general workers' page activity, on the run's own queue: its sink, its dedup_key.
      const sink = proxyActivities<{ page(req: PageRequest): Promise<PageResult> }>({
        taskQueue: run.taskQueue,
        startToCloseTimeout: '30s',
        scheduleToCloseTimeout: '30m',
        retry: { maximumInterval: '1m', nonRetryableErrorTypes: PERMANENT },
      });
      const res = await sink.page(req);
      state.paged += 1;
      log.info('paged an unpaged close', {
        workflowId: run.workflowId,
        runId: run.runId,
        status: run.status,
        detail: res.detail,
      });
    } catch (err) {
      state.failed += 1;
      log.error('could not page an unpaged close', { workflowId: run.workflowId, runId: run.runId, error: String(err) });
    }
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
      for (const run of takeAnswer(state, answer, overlapMs)) {
        const p: Promise<void> = page(run).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    }
    await sleep(pollMs);
  }
  await continueAsNew<typeof medicCloseWatcher>(options, state);
}
