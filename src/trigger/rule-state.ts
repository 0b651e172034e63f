// Per-series state of one trigger rule, like a Prometheus alerting rule: a series returned by
// the query is pending, becomes firing once it has been returned continuously for `for`, and
// is resolved (forgotten) the first evaluation it is missing. Pure: time comes in as `now`.
import { createHash } from 'node:crypto';

export interface Series {
  labels: Record<string, string>;
  value: string;
}

export interface SeriesState {
  key: string;
  labels: Record<string, string>;
  value: string;
  /** When the series was first returned in this episode (ms since epoch). */
  activeSince: number;
  state: 'pending' | 'firing';
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
 * (the evaluation where a series has been active for `forMs`), `resolved` when it vanishes.
 */
export function evaluateRule(
  prev: RuleState,
  results: Series[],
  now: number,
  forMs: number,
): { next: Map<string, SeriesState>; events: RuleEvent[] } {
  const next = new Map<string, SeriesState>();
  const events: RuleEvent[] = [];
  for (const s of results) {
    const key = seriesKey(s.labels);
    if (next.has(key)) continue; // a query returning one label set twice: keep the first
    const before = prev.get(key);
    const activeSince = before?.activeSince ?? now;
    const firing = before?.state === 'firing' || now - activeSince >= forMs;
    const state: SeriesState = { key, labels: s.labels, value: s.value, activeSince, state: firing ? 'firing' : 'pending' };
    next.set(key, state);
    if (firing && before?.state !== 'firing') events.push({ kind: 'fired', series: state });
    else if (!before) events.push({ kind: 'pending', series: state });
  }
  for (const [key, before] of prev) if (!next.has(key)) events.push({ kind: 'resolved', series: before });
  return { next, events };
}

/**
 * The idempotency key of one firing episode: the same rule, label set and start of the episode
 * always give the same key, so daemon restarts (state is persisted) and retries never start a
 * second execution for one episode, while the next episode gets a new key.
 */
export function episodeKey(rule: string, series: Pick<SeriesState, 'key' | 'activeSince'>): string {
  const digest = createHash('sha256').update(rule).update('\0').update(series.key).digest('hex').slice(0, 20);
  return `trigger-${digest}-${series.activeSince.toString(36)}`;
}
