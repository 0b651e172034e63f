// A Prometheus rule's history for the backtest: the state before the window, rebuilt as the
// daemon rebuilds it after a restart, and the window itself, in range queries of at most
// MAX_REPLAY_POINTS points each (Prometheus refuses more than 11,000 per series).
import type { PrometheusRule } from '../../config/trigger';
import { MAX_REPLAY_POINTS, rebuildState, type PrometheusApi } from '../daemon';
import { seriesKey, type SeriesHistory, type SeriesState } from '../rule-state';
import { rangeChunks, type Grid } from './grid';

/** The answers of consecutive range queries as one history per series (chunks are in time order). */
export function mergeChunks(chunks: ReadonlyArray<readonly SeriesHistory[]>): SeriesHistory[] {
  const bySeries = new Map<string, SeriesHistory>();
  for (const chunk of chunks)
    for (const h of chunk) {
      const key = seriesKey(h.labels);
      const known = bySeries.get(key);
      if (known) known.points.push(...h.points);
      else bySeries.set(key, { labels: h.labels, points: [...h.points] });
    }
  return [...bySeries.values()];
}

/** The rule's query over every point of the grid, chunked; one history per series. */
export async function windowHistory(
  api: PrometheusApi,
  query: string,
  grid: Grid,
  signal?: AbortSignal,
  maxPoints = MAX_REPLAY_POINTS,
): Promise<SeriesHistory[]> {
  const answers: SeriesHistory[][] = [];
  // One at a time: a week of a busy rule is a large answer, and Prometheus serves the daemon too.
  for (const chunk of rangeChunks(grid, maxPoints)) answers.push(await api.range(query, chunk, signal));
  return mergeChunks(answers);
}

/** The rule's state at the grid point before the window's first, rebuilt as a restarted daemon rebuilds it. */
export async function stateBefore(
  api: PrometheusApi,
  rule: PrometheusRule,
  grid: Grid,
  signal?: AbortSignal,
): Promise<Map<string, SeriesState>> {
  return (await rebuildState(api, rule, grid.first - grid.step, grid.step, signal)).state;
}
