// The backtest's window on the daemon's evaluation grid: --from/--to read as times, the grid
// points inside the window, and the range queries (chunks) that cover them within Prometheus'
// points-per-series limit.
import { parseDuration } from '../../duration';
import { gridPoint } from '../rule-state';

/** --from/--to that are neither a duration before now nor a time. */
export class TimeSpecError extends Error {
  override name = 'TimeSpecError';
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time given on the command line: "now", a duration before now ("7d", "36h", "1h30m"), or an
 * ISO 8601 time ("2026-12-01", "2026-12-01T06:00Z"; without a zone it is UTC, as Prometheus reads times).
 */
export function parseTimeSpec(flag: string, text: string, now: number): number {
  const s = text.trim();
  if (s === 'now') return now;
  const ago = parseDuration(s);
  if (ago !== undefined) return now - ago;
  if (ISO_TIME.test(s)) {
    const zoned = /T.*(Z|[+-]\d{2}:?\d{2})$/.test(s) ? s : s.includes('T') ? `${s}Z` : `${s}T00:00Z`;
    const t = Date.parse(zoned);
    if (Number.isFinite(t)) return t;
  }
  throw new TimeSpecError(
    `--${flag} ${JSON.stringify(text)} is neither "now", a duration before now (7d, 36h, 1h30m) nor a time (2026-12-01T06:00Z)`,
  );
}

/** The grid points of a window: first, first + step, ... last (all multiples of step since the epoch). */
export interface Grid {
  first: number;
  last: number;
  step: number;
}

/**
 * The daemon's grid points within [from, to]: multiples of the poll interval, the last one no
 * later than `to` less the evaluation delay (the daemon evaluates a point once its scrapes
 * have had that long to land). Undefined when the window holds no grid point.
 */
export function windowGrid(from: number, to: number, step: number, evaluationDelayMs: number): Grid | undefined {
  const first = Math.ceil(from / step) * step;
  const last = gridPoint(to - evaluationDelayMs, step);
  return last < first ? undefined : { first, last, step };
}

/** How many grid points a grid has. */
export function gridPoints(g: Grid): number {
  return (g.last - g.first) / g.step + 1;
}

/**
 * Consecutive range queries covering the grid, each of at most `maxPoints` points (Prometheus
 * refuses more than 11,000 per series); each chunk starts one step after the previous one ends,
 * so every grid point is asked for exactly once.
 */
export function rangeChunks(g: Grid, maxPoints: number): Array<{ start: number; end: number; step: number }> {
  if (!Number.isInteger(maxPoints) || maxPoints < 1)
    throw new RangeError(`maxPoints must be a positive integer, got ${maxPoints}`);
  const chunks: Array<{ start: number; end: number; step: number }> = [];
  for (let start = g.first; start <= g.last; start += maxPoints * g.step)
    chunks.push({ start, end: Math.min(g.last, start + (maxPoints - 1) * g.step), step: g.step });
  return chunks;
}
