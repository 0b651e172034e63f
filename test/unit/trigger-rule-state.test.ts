import fc from 'fast-check';
import {
  episodeKey,
  evaluateRule,
  gridPoint,
  replayHistory,
  seriesKey,
  type Series,
  type SeriesHistory,
  type SeriesState,
} from '../../src/trigger/rule-state';

const a: Series = { labels: { instance: 'a' }, value: '1' };
const b: Series = { labels: { instance: 'b' }, value: '2' };

/** Runs evaluations at the given times with the given results; returns the events of each. */
function run(
  forMs: number,
  steps: Array<[number, Series[]]>,
  keepFiringForMs = 0,
): { events: string[][]; state: ReadonlyMap<string, SeriesState> } {
  let state: ReadonlyMap<string, SeriesState> = new Map();
  const events: string[][] = [];
  for (const [now, results] of steps) {
    const r = evaluateRule(state, results, now, { forMs, keepFiringForMs });
    state = r.next;
    events.push(r.events.map((e) => `${e.kind}:${e.series.labels.instance}`));
  }
  return { events, state };
}

describe('rule state (pending -> firing -> resolved)', () => {
  it('fires at once when for = 0, exactly once per episode', () => {
    expect(
      run(0, [
        [0, [a]],
        [1000, [a]],
        [2000, [a]],
      ]).events,
    ).toEqual([['fired:a'], [], []]);
  });

  it('stays pending until the series has been returned for `for`, then fires once', () => {
    const { events, state } = run(5000, [
      [0, [a]],
      [3000, [a]],
      [5000, [a]],
      [6000, [a]],
    ]);
    expect(events).toEqual([['pending:a'], [], ['fired:a'], []]);
    expect(state.get(seriesKey(a.labels))).toMatchObject({ state: 'firing', activeSince: 0 });
  });

  it('resets a series that disappears before it fires', () => {
    expect(
      run(5000, [
        [0, [a]],
        [3000, []],
        [4000, [a]],
        [8000, [a]],
        [9000, [a]],
      ]).events,
    ).toEqual([['pending:a'], ['resolved:a'], ['pending:a'], [], ['fired:a']]);
  });

  it('starts a new episode after a firing series resolves and comes back', () => {
    const { events } = run(0, [
      [0, [a]],
      [1000, []],
      [2000, [a]],
    ]);
    expect(events).toEqual([['fired:a'], ['resolved:a'], ['fired:a']]);
  });

  it('keeps series apart by label set, whatever the label order', () => {
    const reordered: Series = { labels: { z: '1', instance: 'a' }, value: '1' };
    const same: Series = { labels: { instance: 'a', z: '1' }, value: '3' };
    expect(seriesKey(reordered.labels)).toBe(seriesKey(same.labels));
    expect(
      run(0, [
        [0, [a, b]],
        [1000, [b]],
      ]).events,
    ).toEqual([['fired:a', 'fired:b'], ['resolved:a']]);
  });

  it('gives one episode key per rule, label set and episode start', () => {
    const s = { key: seriesKey(a.labels), activeSince: 1_700_000_000_000 };
    expect(episodeKey('r', s)).toBe(episodeKey('r', { ...s }));
    expect(episodeKey('r', s)).not.toBe(episodeKey('other', s));
    expect(episodeKey('r', s)).not.toBe(episodeKey('r', { ...s, activeSince: s.activeSince + 1 }));
    expect(episodeKey('r', s)).not.toBe(episodeKey('r', { ...s, key: seriesKey(b.labels) }));
    expect(episodeKey('r', s)).toMatch(/^[a-z0-9-]{1,64}$/);
  });

  it('keeps a firing series firing for keep_firing_for after it stops being returned', () => {
    const { events } = run(
      0,
      [
        [0, [a]],
        [1000, []], // missing since 1000: still firing
        [2000, [a]], // back within keep_firing_for: same episode
        [3000, []],
        [4000, []],
        [5000, []], // missing for 2000 ms = keep_firing_for: resolved
        [6000, [a]],
      ],
      2000,
    );
    expect(events).toEqual([['fired:a'], [], [], [], [], ['resolved:a'], ['fired:a']]);
  });

  it('does not keep a pending series for keep_firing_for', () => {
    expect(
      run(
        3000,
        [
          [0, [a]],
          [1000, []],
        ],
        5000,
      ).events,
    ).toEqual([['pending:a'], ['resolved:a']]);
  });
});

describe('replaying history', () => {
  const STEP = 1000;
  /** A presence pattern (one boolean per grid point from 0) as a range query answer. */
  const history = (pattern: boolean[]): SeriesHistory[] => [
    { labels: a.labels, points: pattern.flatMap((p, i): Array<[number, string]> => (p ? [[i * STEP, '1']] : [])) },
  ];

  it('finds the start of the current episode, as live evaluation did', () => {
    const pattern = [true, true, false, false, true, true, true];
    const { state, uncertain } = replayHistory(history(pattern), 0, 6000, STEP, { forMs: 1000, keepFiringForMs: 0 });
    expect(state.get(seriesKey(a.labels))).toMatchObject({ state: 'firing', activeSince: 4000 });
    expect(uncertain.size).toBe(0);
  });

  it('says when an episode may have begun before the window', () => {
    const { uncertain } = replayHistory(history([true, true, true]), 0, 2000, STEP, { forMs: 0, keepFiringForMs: 0 });
    expect([...uncertain]).toEqual([seriesKey(a.labels)]);
    // Missing for less than keep_firing_for: an earlier firing episode could still bridge the gap.
    const late = replayHistory(history([true, false, true]), 0, 2000, STEP, { forMs: 0, keepFiringForMs: 1000 });
    expect(late.uncertain.size).toBe(1);
    const clear = replayHistory(history([false, false, true]), 0, 2000, STEP, { forMs: 0, keepFiringForMs: 1000 });
    expect(clear.uncertain.size).toBe(0);
  });

  it('gives every daemon the episode start live evaluation gives, from any window that covers the episode', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 59 }),
        (pattern, forSteps, keepSteps, windowStart) => {
          const timing = { forMs: forSteps * STEP, keepFiringForMs: keepSteps * STEP };
          const end = (pattern.length - 1) * STEP;
          let live: ReadonlyMap<string, SeriesState> = new Map();
          pattern.forEach((p, i) => (live = evaluateRule(live, p ? [a] : [], i * STEP, timing).next));
          const from = Math.min(windowStart, pattern.length - 1) * STEP;
          const { state, uncertain } = replayHistory(history(pattern), from, end, STEP, timing);
          const key = seriesKey(a.labels);
          // The daemon looks further back when the episode may be older than the window, and
          // its windows are always longer than keep_firing_for.
          if (uncertain.has(key) || end - from < timing.keepFiringForMs) return;
          expect(state.get(key)?.activeSince).toBe(live.get(key)?.activeSince);
          expect(state.get(key)?.state).toBe(live.get(key)?.state);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('puts grid points on multiples of the poll interval', () => {
    expect(gridPoint(1_700_000_001_234, 1000)).toBe(1_700_000_001_000);
    expect(gridPoint(1_700_000_029_999, 30_000)).toBe(1_700_000_010_000);
  });
});
