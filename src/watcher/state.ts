// The close watcher's messages and durable state, and the pure rules that move it: which closed
// runs are new, how far the watermark may advance, what is forgotten. The watcher workflow
// (./workflow.ts) carries the state across continue-as-new; its `version` says how to read it.

/** The watcher's pages carry what the run's `diagnose` steps see on its node now. */
export const WATCHER_DIAGNOSE_PATCH = 'medic-watcher-diagnose-v1';
/**
 * The watcher keeps its watermark in its memo, and a watcher started anew (the last one was
 * terminated) resumes from the last one's, so it pages the closes of the time nobody watched.
 */
export const WATCHER_RESUME_PATCH = 'medic-watcher-resume-v1';
/**
 * A page that could not be delivered (no general worker polls the run's queue, the sink is down)
 * stays pending in the watcher's state and is tried again, across continue-as-new, until it is
 * delivered or refused for good; and each catch is counted once in medic_unpaged_closes_total.
 */
export const WATCHER_RETRY_PATCH = 'medic-watcher-retry-v1';
/** The memo key of what a new watcher resumes from (JSON of ResumePoint). */
export const WATCHER_MEMO = 'closeWatcher';

/** The state's layout; a carried state of another version is refused, not guessed at. */
export const WATCHER_STATE_VERSION = 1;

/** How an execution ended without healing, as visibility spells it in queries. */
export const UNPAGED_STATUSES = ['TimedOut', 'Terminated', 'Canceled', 'Failed'] as const;
/** The same, as listed executions report it (`status.name`). */
export type ClosedStatus = 'TIMED_OUT' | 'TERMINATED' | 'CANCELLED' | 'FAILED';

/** The watcher's defaults (WatcherOptions overrides them: tests shorten them). */
export const WATCHER_DEFAULTS = {
  /** How often visibility is asked: a close is paged within about this, plus visibility's lag. */
  pollMs: 10_000,
  /**
   * How far before the watermark each poll looks again: visibility is eventually consistent, so
   * a run that closed before the newest close seen may show up later. Runs seen in this window
   * are remembered (by run id) so they are not paged twice.
   */
  overlapMs: 2 * 60_000,
  /** A new watcher (no carried state) pages closes from this long before it started, when no earlier watcher left a watermark. */
  lookbackMs: 60_000,
  /** A new watcher resumes from an earlier watcher's watermark at most this far back (closes older than it are not paged). */
  resumeMaxMs: 24 * 3_600_000,
  /** How long a node may take to answer the diagnose steps of a watcher's page. */
  diagnoseWithinMs: 30_000,
  /** How long one attempt to page may take (waiting for a general worker included); then it is pending. */
  pageWithinMs: 10 * 60_000,
  /** How long a pending page waits before its next attempt. */
  retryMs: 60_000,
  /** A page still pending this long after its run closed is given up (logged, counted as failed). */
  pendingMaxMs: 24 * 3_600_000,
  /** Closed runs one poll hands over at most; the rest come with the next polls. */
  batch: 200,
  /** Remembered runs at most; beyond it the oldest are forgotten (only a storm of closes gets there). */
  rememberedMax: 5_000,
  /** A new run (continue-as-new) after this many history events. */
  maxHistoryEvents: 2_000,
} as const;

/** The watcher workflow's argument. */
export interface WatcherOptions {
  /** An extra visibility clause ANDed to the query (tests: `MedicDatacenter = 'dc-1'`). */
  scope?: string;
  pollMs?: number;
  overlapMs?: number;
  lookbackMs?: number;
  resumeMaxMs?: number;
  diagnoseWithinMs?: number;
  pageWithinMs?: number;
  retryMs?: number;
  pendingMaxMs?: number;
  batch?: number;
  maxHistoryEvents?: number;
}

/** A medic execution that closed without healing and without a page of its own. */
export interface ClosedRun {
  workflowId: string;
  runId: string;
  /** Its workflow task queue (the datacenter's general queue): where the page is sent from. */
  taskQueue: string;
  status: ClosedStatus;
  closeTimeMs: number;
  /** MedicWorkflow, MedicNode, MedicDatacenter: what the run was about, if its input is unreadable. */
  workflow?: string;
  node?: string;
  datacenter?: string;
}

/** listUnpagedCloses: runs that closed after `sinceMs`, except the `skip` run ids (paged already). */
export interface ListRequest {
  sinceMs: number;
  skip: string[];
  limit: number;
  scope?: string;
}

export interface ListAnswer {
  /** Newest first, at most `limit`. */
  runs: ClosedRun[];
  /** False when more runs matched than `limit`: the watermark must wait for them. */
  complete: boolean;
  /** The newest close time of every run the query matched, skipped ones included. */
  newestCloseMs?: number;
}

export interface WatcherState {
  version: typeof WATCHER_STATE_VERSION;
  /** Every unpaged close up to here (close time, epoch ms) has been seen. */
  watermarkMs: number;
  /** Runs handed over for a page: run id -> close time; kept while within the overlap. */
  handled: Record<string, number>;
  /** Totals over the watcher's life: runs caught, pages delivered, pages that could not be. */
  caught: number;
  paged: number;
  failed: number;
  /**
   * Pages not delivered yet, by run id (WATCHER_RETRY_PATCH; absent before it). Kept apart from
   * `handled`, so a page that waits for days is not forgotten with the overlap. A field older
   * code ignores (it loses these pages, as it always did), so the state's version stays 1.
   */
  pending?: Record<string, PendingPage>;
}

/** A page the watcher could not deliver yet. */
export interface PendingPage {
  run: ClosedRun;
  /** Attempts that failed so far. */
  attempts: number;
  /** Not tried again before this (epoch ms, workflow time). */
  retryAtMs: number;
  /** Why the last attempt failed. */
  lastError: string;
}

/** A page's attempt failed but may succeed later: the run stays pending, tried again after `retryMs`. */
export function keepPending(state: WatcherState, run: ClosedRun, error: string, nowMs: number, retryMs: number): PendingPage {
  const pending = (state.pending ??= {});
  const page = { run, attempts: (pending[run.runId]?.attempts ?? 0) + 1, retryAtMs: nowMs + retryMs, lastError: error };
  pending[run.runId] = page;
  return page;
}

/** A page delivered, or refused for good: no longer pending. */
export function settlePending(state: WatcherState, runId: string): void {
  if (state.pending) delete state.pending[runId];
}

/** The pending pages whose next attempt is due and not already in flight, oldest close first. */
export function pendingDue(state: WatcherState, nowMs: number, inFlight: ReadonlyMap<string, number>): ClosedRun[] {
  return Object.values(state.pending ?? {})
    .filter((p) => p.retryAtMs <= nowMs && !inFlight.has(p.run.runId))
    .map((p) => p.run)
    .sort((a, b) => a.closeTimeMs - b.closeTimeMs);
}

/** Gives up the pending pages whose run closed more than `maxMs` ago (a datacenter gone for good): returns them. */
export function expirePending(state: WatcherState, nowMs: number, maxMs: number): PendingPage[] {
  const expired = Object.values(state.pending ?? {}).filter((p) => p.run.closeTimeMs < nowMs - maxMs);
  for (const p of expired) delete state.pending![p.run.runId];
  state.failed += expired.length;
  return expired;
}

/** How many of `runs` closed with each status: what one catch adds to medic_unpaged_closes_total. */
export function countByStatus(runs: readonly ClosedRun[]): Partial<Record<ClosedStatus, number>> {
  const counts: Partial<Record<ClosedStatus, number>> = {};
  for (const run of runs) counts[run.status] = (counts[run.status] ?? 0) + 1;
  return counts;
}

export function initialState(nowMs: number, lookbackMs: number = WATCHER_DEFAULTS.lookbackMs): WatcherState {
  return { version: WATCHER_STATE_VERSION, watermarkMs: nowMs - lookbackMs, handled: {}, caught: 0, paged: 0, failed: 0 };
}

/** A carried state, checked: a state this code cannot read stops the watcher rather than paging twice. */
export function carriedState(carried: unknown): WatcherState {
  const s = carried as Partial<WatcherState> | undefined;
  if (!s || typeof s !== 'object' || s.version !== WATCHER_STATE_VERSION) {
    throw new Error(
      `close watcher state version ${String(s?.version)} is not ${WATCHER_STATE_VERSION}: this medic cannot read it`,
    );
  }
  return s as WatcherState;
}

/** What the next poll asks visibility for. */
export function nextList(state: WatcherState, overlapMs: number, limit: number, scope?: string): ListRequest {
  const sinceMs = state.watermarkMs - overlapMs;
  const skip = [
    ...Object.entries(state.handled)
      .filter(([, at]) => at > sinceMs)
      .map(([runId]) => runId),
    // A pending page stays the watcher's own even once `handled` forgot its run.
    ...Object.values(state.pending ?? {})
      .filter((p) => p.run.closeTimeMs > sinceMs && !Object.hasOwn(state.handled, p.run.runId))
      .map((p) => p.run.runId),
  ];
  return { sinceMs, skip, limit, ...(scope !== undefined && { scope }) };
}

/**
 * Takes a poll's answer: returns the runs to page (each once in the watcher's life, within the
 * overlap), advances the watermark when the answer was complete, and forgets runs that fell out
 * of the overlap (or the oldest, past `rememberedMax`).
 */
export function takeAnswer(
  state: WatcherState,
  answer: ListAnswer,
  overlapMs: number,
  rememberedMax: number = WATCHER_DEFAULTS.rememberedMax,
): ClosedRun[] {
  const fresh: ClosedRun[] = [];
  for (const run of answer.runs) {
    if (Object.hasOwn(state.handled, run.runId) || (state.pending && Object.hasOwn(state.pending, run.runId))) continue;
    state.handled[run.runId] = run.closeTimeMs;
    fresh.push(run);
  }
  state.caught += fresh.length;
  if (answer.complete && answer.newestCloseMs !== undefined)
    state.watermarkMs = Math.max(state.watermarkMs, answer.newestCloseMs);
  const keepAfter = state.watermarkMs - overlapMs;
  const kept = Object.entries(state.handled).filter(([, at]) => at > keepAfter);
  kept.sort((a, b) => b[1] - a[1]);
  state.handled = Object.fromEntries(kept.slice(0, rememberedMax));
  return fresh;
}

/**
 * Where a new watcher starts: every unpaged close after `watermarkMs` is still to page, except
 * the runs in `handled` (paged already, within the overlap). Kept in each watcher run's memo.
 */
export interface ResumePoint {
  watermarkMs: number;
  handled: Record<string, number>;
}

/**
 * The resume point of a running watcher: its watermark, held back to the oldest close whose page
 * is still in flight or pending (a watcher terminated now must page it again), and only the runs paged.
 */
export function resumePoint(state: WatcherState, inFlight: ReadonlyMap<string, number>): ResumePoint {
  const open = new Map(inFlight);
  for (const [runId, p] of Object.entries(state.pending ?? {})) open.set(runId, p.run.closeTimeMs);
  const handled = Object.fromEntries(Object.entries(state.handled).filter(([runId]) => !open.has(runId)));
  const watermarkMs = Math.min(state.watermarkMs, ...[...open.values()].map((closed) => closed - 1));
  return { watermarkMs, handled };
}

/**
 * The state of a watcher started anew: from the last watcher's resume point when it left one
 * (covering the time nobody watched, at most `resumeMaxMs` back), else `lookbackMs` back.
 */
export function resumedState(
  previous: ResumePoint | undefined,
  nowMs: number,
  lookbackMs: number = WATCHER_DEFAULTS.lookbackMs,
  resumeMaxMs: number = WATCHER_DEFAULTS.resumeMaxMs,
): WatcherState {
  const fresh = initialState(nowMs, lookbackMs);
  if (!previous || !Number.isFinite(previous.watermarkMs)) return fresh;
  const watermarkMs = Math.max(nowMs - resumeMaxMs, Math.min(previous.watermarkMs, fresh.watermarkMs));
  return { ...fresh, watermarkMs, handled: { ...previous.handled } };
}
