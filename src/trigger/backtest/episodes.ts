// A rule's firing episodes over a window of its history, found by driving the daemon's own
// per-series state (rule-state.ts) through every grid point, so `for`, `keep_firing_for` and
// the episode keys are exactly those the live daemon would have had. Pure.
import { episodeKey, evaluateRule, pointsByTime, type RuleTiming, type SeriesHistory, type SeriesState } from '../rule-state';
import type { Grid } from './grid';

export interface Episode {
  rule: string;
  /** The idempotency key the daemon would have sent (episodeKey). */
  key: string;
  /** The series when the episode fired (labels and value fill the rule's templates). */
  series: SeriesState;
  /** The grid point where it fired; undefined when it was firing already at the window's first point. */
  firedAt?: number;
  /** The first grid point where it no longer fired; undefined when it was still firing at the window's last point. */
  endedAt?: number;
}

/**
 * Evaluates the rule at every point of the grid, starting from `initial` (the state at the point
 * before the first, rebuilt from the history before the window as the daemon rebuilds it).
 * Episodes firing in `initial` are reported without a firing time; the others in firing order.
 */
export function ruleEpisodes(
  rule: string,
  timing: RuleTiming,
  history: readonly SeriesHistory[],
  grid: Grid,
  initial: ReadonlyMap<string, SeriesState> = new Map(),
): Episode[] {
  const byTime = pointsByTime(history);
  const episodes: Episode[] = [];
  const open = new Map<string, Episode>();
  for (const s of initial.values()) {
    if (s.state !== 'firing') continue;
    const e: Episode = { rule, key: episodeKey(rule, s), series: s };
    episodes.push(e);
    open.set(s.key, e);
  }
  let state: ReadonlyMap<string, SeriesState> = initial;
  for (let t = grid.first; t <= grid.last; t += grid.step) {
    const { next, events } = evaluateRule(state, byTime.get(t) ?? [], t, timing);
    for (const ev of events) {
      if (ev.kind === 'fired') {
        const e: Episode = { rule, key: episodeKey(rule, ev.series), series: ev.series, firedAt: t };
        episodes.push(e);
        open.set(ev.series.key, e);
      } else if (ev.kind === 'resolved' && ev.series.state === 'firing') {
        const e = open.get(ev.series.key);
        if (e) e.endedAt = t;
        open.delete(ev.series.key);
      }
    }
    state = next;
  }
  return episodes;
}
