// Episodes of a log rule, per group of matches (the values of its `group_by` captures): an episode
// opens at the match that makes `count` matches within `window`, and ends `keep_firing_for` after
// that stops being true (the count-th latest match left the window). Pure: match times come in,
// and each group keeps only its latest `count` match times, so a burst costs nothing more.
// The episode is named after the match that opened it, which every reader of the same log sees.
import { createHash } from 'node:crypto';
import { seriesKey } from '../rule-state';

export interface LogTiming {
  count: number;
  windowMs: number;
  keepFiringForMs: number;
}

export interface LogMatch {
  /** When it happened (journal timestamp) or was read (files), in ms. */
  time: number;
  /** The match's identity for every reader: file identity and byte offset, or journal cursor. */
  origin: string;
  /** Its named captures. */
  labels: Record<string, string>;
  line: string;
}

export interface LogGroup {
  key: string;
  /** The `group_by` captures this group is for. */
  group: Record<string, string>;
  /** The latest match times, oldest first, at most `count`. */
  recent: number[];
  firing?: {
    /** The time of the opening match. */
    since: number;
    origin: string;
    /** Captures and line of the opening match: what the trigger's templates see. */
    labels: Record<string, string>;
    line: string;
  };
}

export type LogGroups = Map<string, LogGroup>;

/** The longest `$value` (the opening line) handed to templates. */
export const VALUE_MAX_CHARS = 512;

/** When the group stops having `count` matches within the window (undefined: it does not now). */
export function conditionEndsAt(g: LogGroup, timing: LogTiming): number | undefined {
  return g.recent.length >= timing.count ? g.recent[0]! + timing.windowMs : undefined;
}

/** When a firing group resolves if no match comes first. */
export function resolvesAt(g: LogGroup, timing: LogTiming): number {
  return (conditionEndsAt(g, timing) ?? 0) + timing.keepFiringForMs;
}

/**
 * Time passes to `now`: firing groups whose condition ended `keep_firing_for` ago resolve, and
 * groups that are not firing and have no match in the window are forgotten. Returns the resolved.
 */
export function advance(groups: LogGroups, now: number, timing: LogTiming): LogGroup[] {
  const resolved: LogGroup[] = [];
  for (const [key, g] of groups) {
    if (g.firing) {
      if (now < resolvesAt(g, timing)) continue;
      resolved.push(g);
      g.firing = undefined;
    }
    const last = g.recent[g.recent.length - 1];
    if (last === undefined || now - last >= timing.windowMs) groups.delete(key);
  }
  return resolved;
}

/**
 * One match: resolves what ended before it, then counts it in its group. Returns the group whose
 * episode it opened, the resolved groups, and `dropped` when the group is new and `maxGroups`
 * groups are firing (the match is not counted; memory stays bounded).
 */
export function onMatch(
  groups: LogGroups,
  m: LogMatch,
  timing: LogTiming,
  groupBy: readonly string[],
  maxGroups: number,
): { opened?: LogGroup; resolved: LogGroup[]; dropped: boolean } {
  const resolved = advance(groups, m.time, timing);
  const group = Object.fromEntries(groupBy.map((k) => [k, m.labels[k] ?? '']));
  const key = seriesKey(group);
  let g = groups.get(key);
  if (!g) {
    if (groups.size >= maxGroups && !evictOne(groups)) return { resolved, dropped: true };
    g = { key, group, recent: [] };
    groups.set(key, g);
  }
  g.recent.push(m.time);
  if (g.recent.length > timing.count) g.recent.shift();
  let opened: LogGroup | undefined;
  if (!g.firing && m.time - g.recent[0]! < timing.windowMs && g.recent.length >= timing.count) {
    g.firing = { since: m.time, origin: m.origin, labels: m.labels, line: m.line.slice(0, VALUE_MAX_CHARS) };
    opened = g;
  }
  return { opened, resolved, dropped: false };
}

/** Forgets the group that is not firing and matched least recently; false when all are firing. */
function evictOne(groups: LogGroups): boolean {
  let oldest: LogGroup | undefined;
  for (const g of groups.values()) {
    if (g.firing) continue;
    if (!oldest || (g.recent.at(-1) ?? 0) < (oldest.recent.at(-1) ?? 0)) oldest = g;
  }
  if (!oldest) return false;
  groups.delete(oldest.key);
  return true;
}

/**
 * The idempotency key of a log episode: rule, group and the opening match's identity (file and
 * byte offset, or journal cursor), so two daemons reading the same log, or one restarted and
 * reading on from its saved position, name the same episode alike.
 */
export function logEpisodeKey(rule: string, group: string, origin: string): string {
  const digest = createHash('sha256').update(rule).update('\0').update(group).update('\0').update(origin).digest('hex');
  return `trigger-log-${digest.slice(0, 40)}`;
}
