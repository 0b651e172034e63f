// Health-check rules' pure part: consecutive failures on the check grid open an episode named
// after the first failed grid point, successes for keep_firing_for end it, and saved state is
// continued after a restart only while no other episode could have come and gone unseen.
import { episodeKey, seriesKey } from '../../src/trigger/rule-state';
import {
  initialHttpState,
  nextCheckAt,
  onCheck,
  resumable,
  RESTART_GRACE_MS,
  type HttpState,
  type HttpTiming,
} from '../../src/trigger/sources/http-episodes';

const T: HttpTiming = { failures: 3, everyMs: 5000, keepFiringForMs: 0 };

/** Runs checks at grid points 0, 5 s, 10 s, ... ('x' failed, '.' healthy); returns what happened at which point. */
function run(results: string, timing = T, state: HttpState = initialHttpState()) {
  const events: string[] = [];
  [...results].forEach((r, i) => {
    const at = i * timing.everyMs;
    const e = onCheck(state, at, r === 'x' ? { ok: false, detail: 'HTTP 503' } : { ok: true, detail: 'HTTP 200' }, timing);
    if (e.opened) events.push(`opened@${at / 1000}s since ${state.firing!.since / 1000}s`);
    if (e.resolved) events.push(`resolved@${at / 1000}s`);
  });
  return { events, state };
}

describe('health-check rule episodes', () => {
  it.each([
    ['three failures in a row open an episode that starts at the first', '..xxx', ['opened@20s since 10s']],
    ['a success between failures starts the count again', 'xx.xx.xx', []],
    ['one success ends the episode (keep_firing_for 0)', 'xxx..', ['opened@10s since 0s', 'resolved@15s']],
    [
      'failures after the end open a new episode at a new grid point',
      'xxx.xxx',
      ['opened@10s since 0s', 'resolved@15s', 'opened@30s since 20s'],
    ],
    ['failures while firing keep the one episode', 'xxxxxxxx', ['opened@10s since 0s']],
  ])('%s', (_what, results, expected) => {
    expect(run(results).events).toEqual(expected);
  });

  it('needs successes for keep_firing_for to end, and a failure meanwhile starts that over', () => {
    const timing = { ...T, keepFiringForMs: 10_000 };
    expect(run('xxx...', timing).events).toEqual(['opened@10s since 0s', 'resolved@25s']);
    expect(run('xxx..x...', timing).events).toEqual(['opened@10s since 0s', 'resolved@40s']);
  });

  it('keys an episode by rule and the grid point of its first failure, as every daemon on the grid does', () => {
    const { state } = run('.xxx');
    const key = episodeKey('api_health', { key: seriesKey({}), activeSince: state.firing!.since });
    expect(key).toBe(episodeKey('api_health', { key: seriesKey({}), activeSince: 5000 }));
  });

  it('puts checks on multiples of every since the epoch', () => {
    expect([
      nextCheckAt(0, 5000),
      nextCheckAt(4999, 5000),
      nextCheckAt(5000, 5000),
      nextCheckAt(1_700_000_001_234, 5000),
    ]).toEqual([5000, 5000, 10_000, 1_700_000_005_000]);
  });

  it('continues saved state only within keep_firing_for plus `failures` checks (and a restart grace) of its last check', () => {
    const { state } = run('xxx'); // last check at 10 s
    const timing = { ...T, keepFiringForMs: 30_000 };
    expect(resumable(state, 10_000 + 45_000 + RESTART_GRACE_MS, timing)).toBe(true);
    expect(resumable(state, 10_000 + 45_001 + RESTART_GRACE_MS, timing)).toBe(false);
    expect(resumable(initialHttpState(), 0, timing)).toBe(false);
  });
});
