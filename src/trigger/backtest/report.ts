// The backtest's report as people read it (a timeline and a summary) and as programs read it
// (one JSON document with the same content, times in ISO 8601 UTC, keys in snake_case).
import { formatDuration } from '../../duration';
import type { Target } from '../../naming/task-queues';
import type { Peak } from './admission';
import type { AssumedDuration, BacktestReport, EpisodeReport, RuleSummary, TimelineEntry } from './backtest';

/** What the backtest cannot know, said in every report. */
export const UNKNOWN_THEN = [
  'pauses as of then are unknown: none is applied',
  'the circuit breaker depends on how executions ended: not applied',
  'admission starts empty at --from: executions started before the window hold no places',
] as const;

const iso = (t: number | undefined): string | null => (t === undefined ? null : new Date(t).toISOString());

function assumption(d: AssumedDuration): string {
  return d === 'timeout'
    ? "each would-be execution holds its places for its workflow's timeout (--assume-duration timeout)"
    : `each would-be execution holds its places for ${formatDuration(d.ms)} (--assume-duration)`;
}

function peaksJson(peaks: Record<string, Peak>): Record<string, { peak: number; at: string | null; limit?: number }> {
  return Object.fromEntries(
    Object.entries(peaks).map(([k, p]) => [k, { peak: p.peak, at: iso(p.at), ...(p.limit !== undefined && { limit: p.limit }) }]),
  );
}

function episodeJson(e: EpisodeReport): Record<string, unknown> {
  return {
    rule: e.rule,
    workflow: e.workflow,
    key: e.key,
    labels: e.labels,
    ...(e.target && { target: e.target }),
    active_since: iso(e.activeSince),
    fired_at: iso(e.firedAt),
    ended_at: iso(e.endedAt),
    outcome: e.outcome,
    ...(e.startedAt !== undefined && { started_at: iso(e.startedAt) }),
    refusals: e.refusals,
    ...(e.refusedBy && { refused_by: e.refusedBy }),
    ...(e.stoppedBecause && { stopped_because: e.stoppedBecause }),
    ...(e.coalescedWith && { coalesced_with: e.coalescedWith }),
    ...(e.message && { message: e.message }),
  };
}

function entryJson(t: TimelineEntry): Record<string, unknown> {
  return {
    at: iso(t.at),
    rule: t.rule,
    workflow: t.workflow,
    episode: t.episode,
    ...(t.coalesced && { coalesced: t.coalesced }),
    labels: t.labels,
    target: t.target,
    attempt: t.attempt,
    decision: t.decision,
    ...(t.until !== undefined && { until: iso(t.until) }),
    ...(t.control && { control: t.control, scope: t.scope, holders: t.holders }),
    ...(t.message && { message: t.message }),
  };
}

function summaryJson(s: RuleSummary): Record<string, unknown> {
  return {
    rule: s.rule,
    workflow: s.workflow,
    episodes: s.episodes,
    firing_at_from: s.firingAtFrom,
    would_start: s.wouldStart,
    started_after_refusal: s.startedAfterRefusal,
    refused: s.refused,
    shadow: s.shadow,
    rejected: s.rejected,
    invalid: s.invalid,
    coalesced: s.coalesced,
    still_firing: s.stillFiring,
  };
}

/** The whole report as one JSON document. */
export function reportJson(r: BacktestReport): Record<string, unknown> {
  return {
    from: iso(r.from),
    to: iso(r.to),
    step_seconds: r.stepMs / 1000,
    points: r.points,
    assumptions: {
      duration: r.assumeDuration === 'timeout' ? 'timeout' : formatDuration(r.assumeDuration.ms),
      held: assumption(r.assumeDuration),
      unknown: UNKNOWN_THEN,
    },
    summary: r.rules.map(summaryJson),
    not_backtestable: r.notBacktestable,
    peaks: { datacenters: peaksJson(r.peaks.datacenters), budgets: peaksJson(r.peaks.budgets) },
    episodes: r.episodes.map(episodeJson),
    timeline: r.timeline.map(entryJson),
  };
}

function describeTarget(t: Target | undefined): string {
  if (!t) return '-';
  return (['node', 'datacenter', 'node_type'] as const)
    .filter((k) => t[k])
    .map((k) => `${k}=${t[k]}`)
    .join(' ');
}

function describeLabels(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;
}

/** A holder as people know it: the node and rule of the would-be execution, and when it started. */
function describeHolder(id: string, byKey: ReadonlyMap<string, EpisodeReport>): string {
  const e = byKey.get(id);
  if (!e?.startedAt) return id;
  return `${e.target?.node ?? e.target?.datacenter ?? id} (${e.rule}, since ${iso(e.startedAt)})`;
}

function describeDecision(t: TimelineEntry, byKey: ReadonlyMap<string, EpisodeReport>): string {
  const attempt =
    (t.attempt > 1 ? ` (attempt ${t.attempt})` : '') + (t.coalesced ? ` (one request with ${t.coalesced.join(', ')})` : '');
  switch (t.decision) {
    case 'start':
      return `would start ${t.workflow}${attempt}, holding its places until ${iso(t.until)}`;
    case 'shadow':
      return `would be recorded in shadow mode (${t.workflow} starts nothing)`;
    case 'rejected':
      return `would be rejected (400): ${t.message}`;
    case 'refused': {
      const holders = t.holders?.length ? ` (held by ${t.holders.map((h) => describeHolder(h, byKey)).join(', ')})` : '';
      return `would be refused by ${t.control} ${t.scope}${holders}${attempt}: ${t.message}`;
    }
  }
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

/** The report as text: window and assumptions, the timeline, the summary, the peaks. */
export function reportText(r: BacktestReport): string {
  const lines = [
    `Backtest of ${iso(r.from)} .. ${iso(r.to)}: ${r.points} evaluations on the daemon's ${formatDuration(r.stepMs)} grid.`,
    `Assumed: ${assumption(r.assumeDuration)}.`,
    ...UNKNOWN_THEN.map((u) => `Unknown: ${u}.`),
  ];
  for (const n of r.notBacktestable) lines.push(`Not backtestable: rule ${n.rule} (source = "${n.source}"): ${n.why}.`);
  const byKey = new Map(r.episodes.map((e) => [e.key, e]));
  lines.push('', 'Timeline');
  if (r.timeline.length === 0) lines.push('  (no episode fired within the window)');
  for (const t of r.timeline)
    lines.push(
      `  ${iso(t.at)}  ${t.rule}  ${describeTarget(t.target)} ${describeLabels(t.labels)}  ${describeDecision(t, byKey)}`,
    );
  const invalid = r.episodes.filter((e) => e.outcome === 'invalid');
  for (const e of invalid) lines.push(`  ${iso(e.firedAt)}  ${e.rule}  ${describeLabels(e.labels)}  invalid: ${e.message}`);

  lines.push('', 'Episodes per rule');
  const refused = (s: RuleSummary): string =>
    Object.entries(s.refused)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || '0';
  lines.push(
    ...table([
      [
        'RULE',
        'WORKFLOW',
        'EPISODES',
        'FIRING AT FROM',
        'WOULD START',
        'AFTER REFUSALS',
        'REFUSED BY',
        'SHADOW',
        'REJECTED',
        'INVALID',
      ],
      ...r.rules.map((s) => [
        s.rule,
        s.workflow,
        String(s.episodes),
        String(s.firingAtFrom),
        String(s.wouldStart),
        String(s.startedAfterRefusal),
        refused(s),
        String(s.coalesced),
        String(s.shadow),
        String(s.rejected),
        String(s.invalid),
      ]),
    ]).map((l) => `  ${l}`),
  );
  lines.push('', 'Peak concurrent would-be executions');
  const peakLines = (what: string, peaks: Record<string, Peak>): void => {
    for (const [k, p] of Object.entries(peaks))
      lines.push(`  ${what} ${k || '(none)'}: ${p.peak}${p.limit !== undefined ? ` of ${p.limit}` : ''} at ${iso(p.at)}`);
  };
  peakLines('datacenter', r.peaks.datacenters);
  peakLines('budget', r.peaks.budgets);
  if (!Object.keys(r.peaks.datacenters).length) lines.push('  (none started)');
  return lines.join('\n') + '\n';
}
