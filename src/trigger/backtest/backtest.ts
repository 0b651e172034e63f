// `medic trigger backtest`'s core: each Prometheus rule's episodes over a window of Prometheus'
// history, then every would-be start through admission offline, in time order, retried after
// each refusal while its episode fires as the daemon's send loop retries it; the result is the
// report (report.ts prints it).
import type { MedicConfig } from '../../config/load';
import type { PrometheusRule, TriggerRule } from '../../config/trigger';
import type { WorkflowConfig } from '../../config/workflow';
import type { Target } from '../../naming/task-queues';
import { PrometheusError } from '../../prometheus/client';
import { buildRequest, compileRule, refusalsExhausted, timingOf, type PrometheusApi } from '../daemon';
import { OfflineAdmission, type Control, type Decision, type Peak } from './admission';
import { ruleEpisodes, type Episode } from './episodes';
import { fleetSizeHistory } from './fleet-size';
import { gridPoints, type Grid } from './grid';
import { stateBefore, windowHistory } from './history';

/** How long a would-be execution holds its places: a fixed duration, or each workflow's `timeout`. */
export type AssumedDuration = { ms: number } | 'timeout';

export interface BacktestOptions {
  grid: Grid;
  /** Only this rule (its name); all rules otherwise. */
  rule?: string;
  assumeDuration: AssumedDuration;
  /** `{{ $node }}` in templates: the node the daemon would run on. */
  node: string;
  /** The largest range query, in points (the daemon's MAX_REPLAY_POINTS unless a test sets it). */
  maxPoints?: number;
  /** How long a range query of the fleet size may take (the rules' go through the given api). */
  queryTimeoutMs?: number;
  /** Where `api` asks, for messages (default: the prometheus block's address). */
  address?: string;
  signal?: AbortSignal;
}

export type AttemptDecision = 'start' | 'refused' | 'shadow' | 'rejected';

export interface TimelineEntry {
  at: number;
  rule: string;
  workflow: string;
  episode: string;
  /** Episodes whose identical requests went with this one (the send loop coalesces them). */
  coalesced?: string[];
  labels: Record<string, string>;
  target: Target;
  /** 1 for the first attempt of the episode, then one more per retry after a refusal. */
  attempt: number;
  decision: AttemptDecision;
  /** A start: until when the would-be execution holds its places. */
  until?: number;
  control?: Control;
  scope?: string;
  holders?: string[];
  message?: string;
}

export type EpisodeOutcome =
  /** Admitted (at once or after refusals). */
  | 'started'
  /** Refused until the episode ended, the daemon gave up, or the window ended. */
  | 'refused'
  | 'shadow'
  /** The coordinator would answer 400 (the target lacks a field its queue needs). */
  | 'rejected'
  /** The rule's templates cannot be filled from the series: the daemon never sends it. */
  | 'invalid'
  /** Firing already at the window's first point: started (or not) before the window. */
  | 'firing_at_from'
  /** Its request was identical to another episode's due at once: sent as one, answered by that one's (coalescedWith). */
  | 'coalesced';

export interface EpisodeReport {
  rule: string;
  workflow: string;
  key: string;
  labels: Record<string, string>;
  target?: Target;
  activeSince: number;
  firedAt?: number;
  endedAt?: number;
  outcome: EpisodeOutcome;
  startedAt?: number;
  refusals: number;
  /** The control of the last refusal. */
  refusedBy?: Control;
  /** The episode whose identical request answered this one's. */
  coalescedWith?: string;
  /** Why a refused episode was not tried again: it ended, the daemon gave up (refusalsExhausted), or the window ended. */
  stoppedBecause?: 'episode_ended' | 'gave_up' | 'window_ended';
  message?: string;
}

export interface RuleSummary {
  rule: string;
  workflow: string;
  /** Episodes that fired within the window. */
  episodes: number;
  firingAtFrom: number;
  wouldStart: number;
  /** Of wouldStart: started only after one refusal or more. */
  startedAfterRefusal: number;
  /** Episodes never started, by the control of their last refusal. */
  refused: Partial<Record<Control, number>>;
  shadow: number;
  rejected: number;
  invalid: number;
  coalesced: number;
  /** Episodes still firing at the window's last point. */
  stillFiring: number;
}

export interface BacktestReport {
  from: number;
  to: number;
  stepMs: number;
  points: number;
  assumeDuration: AssumedDuration;
  rules: RuleSummary[];
  notBacktestable: Array<{ rule: string; source: TriggerRule['source']; why: string }>;
  episodes: EpisodeReport[];
  timeline: TimelineEntry[];
  peaks: { datacenters: Record<string, Peak>; budgets: Record<string, Peak> };
}

/** A rule named by --rule that does not exist. */
export class UnknownRuleError extends Error {
  override name = 'UnknownRuleError';
}

/** What a daemon needs that a rule of this source lacks for a backtest. */
const NO_HISTORY: Record<'log' | 'http', string> = {
  log: 'log lines are not kept in Prometheus: no history to replay',
  http: 'health checks are made live: no history to replay',
};

/** The rules to backtest, and those that cannot be; throws UnknownRuleError for an unknown --rule. */
export function selectRules(
  rules: readonly TriggerRule[],
  only?: string,
): { prometheus: PrometheusRule[]; notBacktestable: BacktestReport['notBacktestable'] } {
  const chosen = only === undefined ? rules : rules.filter((r) => r.name === only);
  if (only !== undefined && chosen.length === 0)
    throw new UnknownRuleError(
      `no rule ${JSON.stringify(only)} in triggers/*.hcl (rules: ${rules.map((r) => r.name).join(', ') || 'none'})`,
    );
  return {
    prometheus: chosen.filter((r): r is PrometheusRule => r.source === 'prometheus'),
    notBacktestable: chosen
      .filter((r) => r.source !== 'prometheus')
      .map((r) => ({ rule: r.name, source: r.source, why: NO_HISTORY[r.source as 'log' | 'http'] })),
  };
}

/** Prometheus failed to answer a history query: which one, and where. */
export class HistoryError extends Error {
  override name = 'HistoryError';
  constructor(
    readonly address: string,
    what: string,
    override readonly cause: PrometheusError,
  ) {
    super(`cannot read ${what} from Prometheus at ${address}: ${cause.message}`);
  }
}

async function reading<T>(address: string, what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    throw err instanceof PrometheusError ? new HistoryError(address, what, err) : err;
  }
}

/** Reads each rule's episodes from Prometheus (at `address`, through `api`), then decides them offline. */
export async function runBacktest(config: MedicConfig, api: PrometheusApi, opts: BacktestOptions): Promise<BacktestReport> {
  const { prometheus, notBacktestable } = selectRules(config.triggers.rules, opts.rule);
  const address = opts.address ?? config.triggers.prometheus?.address ?? '';
  const found: Episode[][] = [];
  for (const rule of prometheus) {
    const history = await reading(address, `the history of rule ${rule.name}`, async () => ({
      initial: await stateBefore(api, rule, opts.grid, opts.signal),
      window: await windowHistory(api, rule.query, opts.grid, opts.signal, opts.maxPoints),
    }));
    found.push(ruleEpisodes(rule.name, timingOf(rule), history.window, opts.grid, history.initial));
  }
  const durationMs = (wf: WorkflowConfig): number => (opts.assumeDuration === 'timeout' ? wf.timeoutMs : opts.assumeDuration.ms);
  const fleet = config.coordinator?.fleet;
  // Percentage budgets divide by the fleet of then: fleet_size's query over the same window.
  const fleetSize = fleet?.budgets.some((b) => b.maxPercent !== undefined)
    ? await reading(fleet.fleetSize.prometheus ?? '', 'the fleet size', () =>
        fleetSizeHistory(fleet.fleetSize, opts.grid, opts.queryTimeoutMs ?? 60_000, opts.signal),
      )
    : undefined;
  const admission = new OfflineAdmission(fleet, { durationMs, ...(fleetSize && { fleetSize }) });
  const decided = decideEpisodes(prometheus, found, config.workflows, admission, opts);
  return {
    from: opts.grid.first,
    to: opts.grid.last,
    stepMs: opts.grid.step,
    points: gridPoints(opts.grid),
    assumeDuration: opts.assumeDuration,
    rules: summarise(prometheus, decided.episodes),
    notBacktestable,
    ...decided,
    peaks: {
      datacenters: Object.fromEntries([...admission.datacenterPeaks].sort(([a], [b]) => a.localeCompare(b))),
      budgets: Object.fromEntries([...admission.budgetPeaks].sort(([a], [b]) => a.localeCompare(b))),
    },
  };
}

interface Pending {
  at: number;
  report: EpisodeReport;
  workflow: WorkflowConfig;
  target: Target;
  /** Workflow, target and params: the send loop coalesces identical requests due together. */
  request: string;
  endedAt?: number;
}

/** The daemon's next attempt after a refusal: Retry-After in whole seconds, at least one. */
function retryTime(at: number, retryAt: number): number {
  return at + Math.max(1, Math.ceil((retryAt - at) / 1000)) * 1000;
}

/** The send loop's order: the oldest due first; among equals the episode that began first, then the key. */
const earlier = (a: Pending, b: Pending): boolean =>
  a.at !== b.at
    ? a.at < b.at
    : a.report.activeSince !== b.report.activeSince
      ? a.report.activeSince < b.report.activeSince
      : a.report.key < b.report.key;

function enqueue(queue: Pending[], p: Pending): void {
  const i = queue.findIndex((q) => earlier(p, q));
  queue.splice(i < 0 ? queue.length : i, 0, p);
}

/**
 * Every episode that fired within the window, through admission in time order, as the daemon's
 * send loop sends them: identical requests due at once (one node's disk seen through two
 * devices) go as one, answered for all; a refused one is tried again at its Retry-After while it
 * still fires, until the daemon would give up (refusalsExhausted). Pure apart from the admission model it drives.
 */
export function decideEpisodes(
  rules: readonly PrometheusRule[],
  episodes: readonly Episode[][],
  workflows: ReadonlyMap<string, WorkflowConfig>,
  admission: Pick<OfflineAdmission, 'decide'>,
  opts: Pick<BacktestOptions, 'grid' | 'node'>,
): { episodes: EpisodeReport[]; timeline: TimelineEntry[] } {
  const reports: EpisodeReport[] = [];
  const queue: Pending[] = [];
  rules.forEach((rule, r) => {
    const compiled = compileRule(rule);
    const workflow = workflows.get(rule.workflow)!;
    for (const e of episodes[r]!) {
      const report: EpisodeReport = {
        rule: rule.name,
        workflow: rule.workflow,
        key: e.key,
        labels: e.series.labels,
        activeSince: e.series.activeSince,
        ...(e.firedAt !== undefined && { firedAt: e.firedAt }),
        ...(e.endedAt !== undefined && { endedAt: e.endedAt }),
        outcome: 'firing_at_from',
        refusals: 0,
      };
      reports.push(report);
      if (e.firedAt === undefined) continue;
      let built: ReturnType<typeof buildRequest>;
      try {
        built = buildRequest(compiled, e.series, e.key, opts.node);
      } catch (err) {
        report.outcome = 'invalid';
        report.message = (err as Error).message;
        continue;
      }
      report.target = built.target;
      const request = JSON.stringify([rule.workflow, built.target, built.params]);
      enqueue(queue, { at: e.firedAt, report, workflow, target: built.target, request, endedAt: e.endedAt });
    }
  });

  const timeline: TimelineEntry[] = [];
  const firstRefused = new Map<EpisodeReport, number>();
  while (queue.length) {
    const p = queue.shift()!;
    const { report } = p;
    if (p.endedAt !== undefined && p.at >= p.endedAt) {
      report.stoppedBecause = 'episode_ended';
      continue;
    }
    if (p.at > opts.grid.last) {
      report.stoppedBecause = 'window_ended';
      continue;
    }
    const peers = queue.filter((q) => q.at === p.at && q.request === p.request && (q.endedAt === undefined || q.at < q.endedAt));
    for (const q of peers) queue.splice(queue.indexOf(q), 1);
    const d: Decision = admission.decide({ id: report.key, at: p.at, workflow: p.workflow, target: p.target });
    const entry: TimelineEntry = {
      at: p.at,
      rule: report.rule,
      workflow: report.workflow,
      episode: report.key,
      ...(peers.length && { coalesced: peers.map((q) => q.report.key) }),
      labels: report.labels,
      target: p.target,
      attempt: report.refusals + 1,
      decision: d.kind,
    };
    timeline.push(entry);
    let next: number | undefined;
    switch (d.kind) {
      case 'start':
        entry.until = d.until;
        report.outcome = 'started';
        report.startedAt = p.at;
        break;
      case 'shadow':
        report.outcome = 'shadow';
        break;
      case 'rejected':
        report.outcome = 'rejected';
        entry.message = report.message = d.message;
        break;
      case 'refused': {
        const { control, scope, holders, message, retryAt } = d.refusal;
        Object.assign(entry, { control, scope, holders, message });
        report.outcome = 'refused';
        report.refusedBy = control;
        report.message = message;
        report.refusals += 1;
        if (!firstRefused.has(report)) firstRefused.set(report, p.at);
        next = retryTime(p.at, retryAt);
        if (refusalsExhausted(report.refusals, firstRefused.get(report)!, p.at)) report.stoppedBecause = 'gave_up';
        else enqueue(queue, { ...p, at: next });
        break;
      }
    }
    // The leader's answer is theirs: done with it, or waiting as long as it waits.
    for (const q of peers) {
      q.report.coalescedWith = report.key;
      if (d.kind === 'start' || d.kind === 'rejected') q.report.outcome = 'coalesced';
      else if (d.kind === 'shadow') q.report.outcome = 'shadow';
      else {
        Object.assign(q.report, { outcome: 'refused', refusedBy: report.refusedBy, message: report.message });
        enqueue(queue, { ...q, at: next! });
      }
    }
  }
  return { episodes: reports, timeline };
}

/** Per rule: episodes, and what admission made of them. */
export function summarise(rules: readonly PrometheusRule[], episodes: readonly EpisodeReport[]): RuleSummary[] {
  return rules.map((rule) => {
    const mine = episodes.filter((e) => e.rule === rule.name);
    const count = (o: EpisodeOutcome): number => mine.filter((e) => e.outcome === o).length;
    const refused: Partial<Record<Control, number>> = {};
    for (const e of mine) if (e.outcome === 'refused') refused[e.refusedBy!] = (refused[e.refusedBy!] ?? 0) + 1;
    return {
      rule: rule.name,
      workflow: rule.workflow,
      episodes: mine.filter((e) => e.firedAt !== undefined).length,
      firingAtFrom: count('firing_at_from'),
      wouldStart: count('started'),
      startedAfterRefusal: mine.filter((e) => e.outcome === 'started' && e.refusals > 0).length,
      refused,
      shadow: count('shadow'),
      rejected: count('rejected'),
      invalid: count('invalid'),
      coalesced: count('coalesced'),
      stillFiring: mine.filter((e) => e.endedAt === undefined).length,
    };
  });
}
