// The close watcher's pure rules (src/watcher/state.ts, its visibility query) and a run's own
// deadline (workflows/deadline.ts): table tests, no I/O.
import {
  WATCHER_STATE_VERSION,
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
  type WatcherState,
} from '../../src/watcher/state';
import { unpagedQuery } from '../../src/watcher/activities';
import { diagnoseBoundMs, escalationReserveMs, pageBoundMs, runDeadline } from '../../workflows/deadline';

const run = (runId: string, closeTimeMs: number): ClosedRun => ({
  workflowId: `wf-${runId}`,
  runId,
  taskQueue: 'medic:dc1',
  status: 'TERMINATED',
  closeTimeMs,
});

describe('close watcher state', () => {
  it('a watcher started anew resumes from the resume point the last watcher left, covering the time none ran, at most resumeMaxMs back', () => {
    const now = 10 * 3_600_000;
    const previous = { watermarkMs: now - 3_600_000, handled: { paged: now - 3_600_100 } };
    expect(resumedState(previous, now, 60_000, 24 * 3_600_000)).toMatchObject({
      watermarkMs: now - 3_600_000,
      handled: { paged: now - 3_600_100 },
      caught: 0,
    });
    // Down longer than resumeMaxMs: it resumes that far back only.
    expect(resumedState(previous, now, 60_000, 1_800_000).watermarkMs).toBe(now - 1_800_000);
    // A resume point newer than the look-back (a watcher that just went): the look-back still applies.
    expect(resumedState({ watermarkMs: now - 1_000, handled: {} }, now, 60_000).watermarkMs).toBe(now - 60_000);
    // No earlier watcher left one: the look-back.
    expect(resumedState(undefined, now, 60_000)).toEqual(initialState(now, 60_000));
  });

  it('the resume point stays before every page in flight, and lists only the runs paged', () => {
    const s: WatcherState = { ...initialState(0, 0), watermarkMs: 100_000, handled: { done: 90_000, flying: 80_000 } };
    expect(resumePoint(s, new Map([['flying', 80_000]]))).toEqual({ watermarkMs: 79_999, handled: { done: 90_000 } });
    expect(resumePoint(s, new Map())).toEqual({ watermarkMs: 100_000, handled: { done: 90_000, flying: 80_000 } });
  });

  it('a page not delivered stays pending, counted per attempt, due again after retryMs unless in flight, until it is settled', () => {
    const s: WatcherState = initialState(0, 0);
    const a = run('a', 50_000);
    expect(keepPending(s, a, 'activity ScheduleToClose timeout', 1_000, 500)).toEqual({
      run: a,
      attempts: 1,
      retryAtMs: 1_500,
      lastError: 'activity ScheduleToClose timeout',
    });
    expect(pendingDue(s, 1_499, new Map())).toEqual([]);
    expect(pendingDue(s, 1_500, new Map())).toEqual([a]);
    expect(pendingDue(s, 1_500, new Map([['a', 50_000]]))).toEqual([]);
    expect(keepPending(s, a, 'sink answered 503', 2_000, 500)).toMatchObject({ attempts: 2, retryAtMs: 2_500 });
    // Oldest close first.
    const b = run('b', 40_000);
    keepPending(s, b, 'x', 0, 0);
    expect(pendingDue(s, 3_000, new Map())).toEqual([b, a]);
    settlePending(s, 'a');
    settlePending(s, 'b');
    expect(s.pending).toEqual({});
  });

  it('a pending page is carried with the state, never listed again, and holds the resume point back', () => {
    const s: WatcherState = { ...initialState(0, 0), watermarkMs: 100_000, handled: { done: 90_000 } };
    keepPending(s, run('waits', 30_000), 'no worker', 0, 1_000);
    // Long past the overlap: `handled` forgot it, the pending page did not.
    takeAnswer(s, { runs: [], complete: true, newestCloseMs: 100_000 }, 20_000);
    expect(s.handled).toEqual({ done: 90_000 });
    expect(Object.keys(carriedState(JSON.parse(JSON.stringify(s))).pending!)).toEqual(['waits']);
    expect(resumePoint(s, new Map())).toEqual({ watermarkMs: 29_999, handled: { done: 90_000 } });
    // Listed again from an overlap that reaches back to it: skipped, and not handed over twice.
    expect(nextList(s, 80_000, 10).skip).toEqual(['done', 'waits']);
    expect(takeAnswer(s, { runs: [run('waits', 30_000)], complete: true, newestCloseMs: 100_000 }, 80_000)).toEqual([]);
  });

  it('gives up a page still pending pendingMaxMs after its run closed, counting it as failed', () => {
    const s: WatcherState = initialState(0, 0);
    keepPending(s, run('old', 1_000), 'no worker', 0, 0);
    keepPending(s, run('young', 5_000), 'no worker', 0, 0);
    expect(expirePending(s, 11_001, 10_000).map((p) => p.run.runId)).toEqual(['old']);
    expect(Object.keys(s.pending!)).toEqual(['young']);
    expect(s.failed).toBe(1);
    expect(expirePending(s, 15_000, 10_000)).toEqual([]);
  });

  it('counts a catch by close status', () => {
    expect(countByStatus([run('a', 1), { ...run('b', 2), status: 'CANCELLED' }, run('c', 3)])).toEqual({
      TERMINATED: 2,
      CANCELLED: 1,
    });
    expect(countByStatus([])).toEqual({});
  });

  it('a new watcher looks back lookbackMs before it started, and remembers nothing', () => {
    expect(initialState(100_000, 60_000)).toEqual({
      version: WATCHER_STATE_VERSION,
      watermarkMs: 40_000,
      handled: {},
      caught: 0,
      paged: 0,
      failed: 0,
    });
  });

  it('each poll lists from the overlap before the watermark and skips only the runs handled within it', () => {
    const s: WatcherState = {
      ...initialState(0, 0),
      watermarkMs: 100_000,
      handled: { old: 69_000, edge: 70_000, recent: 90_000 },
    };
    expect(nextList(s, 30_000, 50, "MedicDatacenter = 'dc1'")).toEqual({
      sinceMs: 70_000,
      skip: ['recent'],
      limit: 50,
      scope: "MedicDatacenter = 'dc1'",
    });
  });

  it('hands each run over once, however often visibility lists it again', () => {
    const s = initialState(100_000, 60_000);
    const answer = { runs: [run('a', 90_000), run('b', 95_000)], complete: true, newestCloseMs: 95_000 };
    expect(takeAnswer(s, answer, 30_000).map((r) => r.runId)).toEqual(['a', 'b']);
    expect(takeAnswer(s, answer, 30_000)).toEqual([]);
    expect(takeAnswer(s, { runs: [run('b', 95_000), run('c', 96_000)], complete: true, newestCloseMs: 96_000 }, 30_000)).toEqual([
      run('c', 96_000),
    ]);
    expect(s.caught).toBe(3);
    expect(s.handled).toEqual({ a: 90_000, b: 95_000, c: 96_000 });
  });

  it('advances the watermark to the newest close only when the answer was complete', () => {
    const s = initialState(100_000, 60_000);
    takeAnswer(s, { runs: [run('a', 90_000)], complete: false, newestCloseMs: 99_000 }, 30_000);
    expect(s.watermarkMs).toBe(40_000);
    takeAnswer(s, { runs: [], complete: true, newestCloseMs: 99_000 }, 30_000);
    expect(s.watermarkMs).toBe(99_000);
    // A late answer never moves it back.
    takeAnswer(s, { runs: [], complete: true, newestCloseMs: 50_000 }, 30_000);
    expect(s.watermarkMs).toBe(99_000);
  });

  it('forgets runs that fell out of the overlap, and past rememberedMax the oldest', () => {
    const s = initialState(100_000, 60_000);
    takeAnswer(
      s,
      { runs: [run('a', 50_000), run('b', 80_000), run('c', 85_000), run('d', 90_000)], complete: true, newestCloseMs: 100_000 },
      30_000,
      2,
    );
    expect(s.handled).toEqual({ c: 85_000, d: 90_000 });
  });

  it('refuses a carried state of another version instead of guessing', () => {
    const s = initialState(0);
    expect(carriedState(s)).toBe(s);
    expect(() => carriedState({ ...s, version: 2 })).toThrow('close watcher state version 2 is not 1');
    expect(() => carriedState(undefined)).toThrow('close watcher state version undefined is not 1');
  });

  it('asks visibility for medic runs closed unhealed after the time, with no outcome recorded', () => {
    expect(unpagedQuery(Date.UTC(2026, 0, 2, 3, 4, 5), "MedicDatacenter = 'dc1'")).toBe(
      "MedicWorkflow IS NOT NULL AND MedicOutcome IS NULL AND ExecutionStatus IN ('TimedOut', 'Terminated', 'Canceled', 'Failed')" +
        " AND CloseTime > '2026-01-02T03:04:05.000Z' AND (MedicDatacenter = 'dc1')",
    );
  });
});

describe("a run's own deadline", () => {
  it.each([
    [4_000, 1_000],
    [8_000, 2_000],
    [240_000, 60_000],
    [3_600_000, 60_000],
  ])('a timeout of %i ms keeps %i ms for the page', (timeout, reserve) => {
    expect(escalationReserveMs(timeout)).toBe(reserve);
  });

  it('the configured timeout counts from the start; Temporal kills at the execution timeout', () => {
    expect(runDeadline(1_000, 8_000, 308_000)).toEqual({ timeoutMs: 8_000, endsAt: 9_000, bodyEndsAt: 7_000, killedAt: 309_000 });
  });

  it('without a configured timeout, the execution timeout is the timeout; without either there is no deadline', () => {
    expect(runDeadline(0, undefined, 120_000)).toEqual({
      timeoutMs: 120_000,
      endsAt: 120_000,
      bodyEndsAt: 90_000,
      killedAt: 120_000,
    });
    expect(runDeadline(0, 60_000, undefined)).toEqual({ timeoutMs: 60_000, endsAt: 60_000, bodyEndsAt: 45_000 });
    expect(runDeadline(0, undefined, undefined)).toBeUndefined();
  });

  it('the page after a timeout gets the time left before the kill (2 s spare), at least 1 s and at most 30 minutes', () => {
    const d = runDeadline(0, 8_000, 308_000)!;
    expect(pageBoundMs(d, 6_000)).toBe(300_000);
    expect(pageBoundMs(d, 307_500)).toBe(1_000);
    expect(pageBoundMs({ timeoutMs: 60_000, endsAt: 60_000, bodyEndsAt: 45_000 }, 45_000)).toBe(1_800_000);
  });

  it('diagnostics get 30 s, or half of what is left of the timeout, at least 1 s', () => {
    const d = runDeadline(0, 8_000, 308_000)!;
    expect(diagnoseBoundMs(undefined, 0)).toBe(30_000);
    expect(diagnoseBoundMs(d, 6_000)).toBe(1_000);
    expect(diagnoseBoundMs(d, 2_000)).toBe(3_000);
    expect(diagnoseBoundMs(runDeadline(0, 3_600_000, undefined), 3_540_000)).toBe(30_000);
  });
});
