import { episodeKey, evaluateRule, seriesKey, type Series, type SeriesState } from '../../src/trigger/rule-state';

const a: Series = { labels: { instance: 'a' }, value: '1' };
const b: Series = { labels: { instance: 'b' }, value: '2' };

/** Runs evaluations at the given times with the given results; returns the events of each. */
function run(forMs: number, steps: Array<[number, Series[]]>): { events: string[][]; state: ReadonlyMap<string, SeriesState> } {
  let state: ReadonlyMap<string, SeriesState> = new Map();
  const events: string[][] = [];
  for (const [now, results] of steps) {
    const r = evaluateRule(state, results, now, forMs);
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
});
