// Per-series state of one trigger rule, like a Prometheus alerting rule: a series returned by
// the query is pending, becomes firing once it has been returned continuously for `for`, and
// is resolved once it has been missing for `keep_firing_for` (a pending series resets at once).
// Pure: time comes in as `now`, always a point of the rule's evaluation grid, so replaying the
// series' history from Prometheus gives every daemon the same episodes and the same keys.
import { createHash } from 'node:crypto';
import type { Series, SeriesHistory } from '../prometheus/client';

export type { Series, SeriesHistory };

export interface SeriesState {
  key: string;
  labels: Record<string, string>;
  value: string;
  /** The first evaluation (grid time, ms) of this episode: part of the episode's identity. */
  activeSince: number;
  /** The last evaluation that returned the series. */
  lastSeen: number;
  /** The first evaluation that missed a firing series (kept firing for `keep_firing_for`). */
  missingSince?: number;
  state: 'pending' | 'firing';
}

export interface RuleTiming {
  forMs: number;
  keepFiringForMs: number;
}

export type RuleState = ReadonlyMap<string, SeriesState>;

export type RuleEvent =
  { kind: 'fired'; series: SeriesState } | { kind: 'resolved'; series: SeriesState } | { kind: 'pending'; series: SeriesState };

/** The identity of a series: its label set, order-independent. */
export function seriesKey(labels: Record<string, string>): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}

/**
 * One evaluation. Returns the next state and what changed: `fired` exactly once per episode
 * (the evaluation where a series has been active for `forMs`), `resolved` when it ends.
 */
export function evaluateRule(
  prev: RuleState,
  results: Series[],
  now: number,
  timing: RuleTiming,
): { next: Map<string, SeriesState>; events: RuleEvent[] } {
  const next = new Map<string, SeriesState>();
  const events: RuleEvent[] = [];
  for (const s of results) {
    const key = seriesKey(s.labels);
    if (next.has(key)) continue; // a query returning one label set twice: keep the first
    const before = prev.get(key);
    const activeSince = before?.activeSince ?? now;
    const firing = before?.state === 'firing' || now - activeSince >= timing.forMs;
    const state: SeriesState = {
      key,
      labels: s.labels,
      value: s.value,
      activeSince,
      lastSeen: now,
      state: firing ? 'firing' : 'pending',
    };
    next.set(key, state);
    if (firing && before?.state !== 'firing') events.push({ kind: 'fired', series: state });
    else if (!before) events.push({ kind: 'pending', series: state });
  }
  for (const [key, before] of prev) {
    if (next.has(key)) continue;
    const missingSince = before.missingSince ?? now;
    if (before.state === 'firing' && now - missingSince < timing.keepFiringForMs) {
      next.set(key, { ...before, missingSince });
      continue;
    }
    events.push({ kind: 'resolved', series: before });
  }
  return { next, events };
}

/** The series of a range query's answer by grid point, as an instant query at each point returns them. */
export function pointsByTime(history: readonly SeriesHistory[]): Map<number, Series[]> {
  const byTime = new Map<number, Series[]>();
  for (const h of history)
    for (const [t, value] of h.points) {
      const at = byTime.get(t) ?? [];
      at.push({ labels: h.labels, value });
      byTime.set(t, at);
    }
  return byTime;
}

/**
 * Replays the rule over the grid points `from`, `from + step`, ... `to` of a range query, starting
 * from no state. Returns the state at `to`, and the keys of the series the replay cannot vouch
 * for: those never missing from the window long enough to have reset (one point if pending,
 * `keep_firing_for` more if firing), whose state may carry over from before the window.
 */
export function replayHistory(
  history: SeriesHistory[],
  from: number,
  to: number,
  step: number,
  timing: RuleTiming,
): { state: Map<string, SeriesState>; uncertain: Set<string> } {
  const byTime = pointsByTime(history);
  const uncertain = new Set<string>();
  const resetPoints = Math.ceil(timing.keepFiringForMs / step) + 1;
  for (const h of history) {
    const present = new Set(h.points.map(([t]) => t));
    let missing = 0;
    let reset = false;
    for (let t = from; t <= to && !reset; t += step) {
      missing = present.has(t) ? 0 : missing + 1;
      reset = missing >= resetPoints;
    }
    if (!reset) uncertain.add(seriesKey(h.labels));
  }
  let state = new Map<string, SeriesState>();
  for (let t = from; t <= to; t += step) state = evaluateRule(state, byTime.get(t) ?? [], t, timing).next;
  return { state, uncertain };
}

/** The latest point of the evaluation grid (multiples of `step` since the epoch) at or before `t`. */
export function gridPoint(t: number, step: number): number {
  return Math.floor(t / step) * step;
}

/**
 * The idempotency key of one firing episode: the same rule, label set and start of the episode
 * always give the same key, on any daemon (the start is a grid point derived from Prometheus'
 * own history), so restarts, replicas and retries never start a second execution for one
 * episode, while the next episode gets a new key.
 */
export function episodeKey(rule: string, series: Pick<SeriesState, 'key' | 'activeSince'>): string {
  const digest = createHash('sha256').update(rule).update('\0').update(series.key).digest('hex').slice(0, 20);
  return `trigger-${digest}-${series.activeSince.toString(36)}`;
}
