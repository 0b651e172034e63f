// Fleet-safety policy as pure functions: budget limits from the live fleet size (failing safe),
// freeze windows in a time zone, the circuit breaker's window, pause scopes and their ids.
import type { BudgetConfig, BudgetScope, FreezeConfig, Weekday } from '../config/fleet-safety';
import { WEEKDAYS } from '../config/fleet-safety';
import type { BudgetPlace } from '../ledger/fleet/state';
import type { Target } from '../naming/task-queues';

/** A fleet-size answer: a number, or why it is not known (percentage budgets then refuse). */
export type SizeReading = { size: number } | { unknown: string };

/** The scope value a budget counts this target under ("global", the datacenter or the node type), or why it cannot. */
export function budgetScopeValue(b: BudgetConfig, target: Target): { value: string } | { refuse: string } {
  if (b.per === 'global') return { value: 'global' };
  const v = b.per === 'datacenter' ? target.datacenter : target.node_type;
  if (!v)
    return { refuse: `budget "${b.name}" counts per ${b.per}, and the target names no ${b.per} (target.${b.per} is required)` };
  return { value: v };
}

/**
 * How many disruptive remediations the budget admits at once in its scope. A percentage of a
 * fleet of unknown or stale size admits nothing: the budget refuses and says why.
 */
export function budgetLimit(b: BudgetConfig, scopeValue: string, size: SizeReading): { limit: number } | { refuse: string } {
  if (b.max !== undefined) return { limit: b.max };
  const pct = b.maxPercent ?? 0;
  const where = b.per === 'global' ? 'the fleet' : `${b.per} ${scopeValue}`;
  if ('unknown' in size) return { refuse: `budget "${b.name}" is ${pct}% of ${where}, whose size is unknown: ${size.unknown}` };
  return { limit: Math.floor((size.size * pct) / 100) };
}

/** A budget a disruptive start cannot be placed in: no scope value, or a percentage of an unknown fleet size. */
export interface BudgetPlanRefusal {
  budget: BudgetConfig;
  /** The scope value, when the target has one (else the refusal is about the missing field). */
  scopeValue?: string;
  message: string;
}

/**
 * The places a disruptive start on `target` takes, one per budget covering it, narrowest scope
 * first (node type, datacenter, global: the order the fleet ledger checks them), or the first
 * budget that cannot place it. Percentages are resolved with `size`.
 */
export function budgetPlaces(
  budgets: readonly BudgetConfig[],
  target: Target,
  size: (per: BudgetScope, value: string) => SizeReading,
): { places: BudgetPlace[] } | { refuse: BudgetPlanRefusal } {
  const places: BudgetPlace[] = [];
  const rank = { node_type: 0, datacenter: 1, global: 2 } as const;
  for (const b of [...budgets].sort((a, c) => rank[a.per] - rank[c.per])) {
    const scope = budgetScopeValue(b, target);
    if ('refuse' in scope) return { refuse: { budget: b, message: scope.refuse } };
    const limit = budgetLimit(b, scope.value, size(b.per, scope.value));
    if ('refuse' in limit)
      return { refuse: { budget: b, scopeValue: scope.value, message: `refused (fail safe): ${limit.refuse}` } };
    places.push({
      key: `${b.name}|${scope.value}`,
      budget: b.name,
      scope: b.per === 'global' ? 'global' : `${b.per}=${scope.value}`,
      limit: limit.limit,
    });
  }
  return { places };
}

/** Wall-clock date, time and weekday of `now` in a time zone. */
export function wallClock(now: Date, timeZone: string): { date: string; time: string; weekday: Weekday } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    weekday: 'short',
  }).formatToParts(now);
  const get = (t: string): string => parts.find((p) => p.type === t)?.value ?? '';
  return {
    date: `${get('year')}-${get('month')}-${get('day')}`,
    time: `${get('hour')}:${get('minute')}`,
    weekday: get('weekday').toLowerCase().slice(0, 3) as Weekday,
  };
}

/** Whether a freeze window is in force at `now`. Daily windows that cross midnight belong to the day they start. */
export function freezeActive(f: FreezeConfig, now: Date): boolean {
  const w = wallClock(now, f.timezone);
  if (f.from.includes('T')) {
    const at = `${w.date}T${w.time}`;
    return at >= f.from && at < f.to;
  }
  const today = f.weekdays.includes(w.weekday);
  if (f.from < f.to) return today && w.time >= f.from && w.time < f.to;
  const yesterday = f.weekdays.includes(WEEKDAYS[(WEEKDAYS.indexOf(w.weekday) + 6) % 7]!);
  return (today && w.time >= f.from) || (yesterday && w.time < f.to);
}

/** Whether `pattern` (exact, or a prefix ending in "/*", or "*") names `value`. */
export function matchesName(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return value.startsWith(pattern.slice(0, -1));
  return pattern === value;
}

/** "2026-12-20T00:00-2026-12-27T00:00 UTC", "18:00-08:00 on mon,tue UTC": a freeze window as refusals word it. */
export function freezeWindow(f: FreezeConfig): string {
  return `${f.from}-${f.to}${f.from.includes('T') ? '' : ` on ${f.weekdays.join(',')}`} ${f.timezone}`;
}

export function freezeApplies(f: FreezeConfig, workflow: string): boolean {
  return f.workflows.some((p) => matchesName(p, workflow));
}

/** Whether this caller may pass the freeze with force. Nobody may when force_uris is empty. */
export function mayForce(f: FreezeConfig, identity: string | null): boolean {
  return identity !== null && f.forceUris.some((p) => matchesName(p, identity));
}

/** How an execution ended, for the breaker and the stats. */
export type Outcome = 'running' | 'healed' | 'nothing_to_heal' | 'escalated' | 'failed' | 'completed' | 'cancelled';

/** The outcome of an execution: its MedicOutcome search attribute when set, else its Temporal status. */
export function executionOutcome(status: string, medicOutcome?: string): Outcome {
  if (status === 'RUNNING') return 'running';
  if (medicOutcome && ['healed', 'nothing_to_heal', 'escalated', 'failed'].includes(medicOutcome)) return medicOutcome as Outcome;
  if (status === 'FAILED' || status === 'TERMINATED' || status === 'TIMED_OUT') return 'failed';
  if (status === 'CANCELLED' || status === 'CANCELED') return 'cancelled';
  return 'completed';
}

export function isFailure(o: Outcome): boolean {
  return o === 'failed' || o === 'escalated';
}

/** The breaker over the latest closed executions (newest first): trips at `failures` failed of the last `ofLast`. */
export function breakerState(
  outcomes: readonly Outcome[],
  cfg: { failures: number; ofLast: number },
): { trips: boolean; failed: number; counted: number } {
  const window = outcomes.filter((o) => o !== 'running').slice(0, cfg.ofLast);
  const failed = window.filter(isFailure).length;
  return { trips: failed >= cfg.failures, failed, counted: window.length };
}

/** A pause scope: each field absent means "every". */
export interface PauseScope {
  workflow?: string;
  datacenter?: string;
  nodeType?: string;
}

/** The one id of a pause scope: at most one pause per scope can exist (a deterministic workflow id). */
export function pauseId(s: PauseScope): string {
  return `medic-pause:w=${s.workflow ?? '*'}:dc=${s.datacenter ?? '*'}:t=${s.nodeType ?? '*'}`;
}

/** Every pause scope that covers a start of `workflow` on `target`: up to eight ids, all checked. */
export function coveringPauseScopes(workflow: string, target: Target): PauseScope[] {
  const out: PauseScope[] = [];
  for (const w of [workflow, undefined])
    for (const dc of target.datacenter ? [target.datacenter, undefined] : [undefined])
      for (const t of target.node_type ? [target.node_type, undefined] : [undefined])
        out.push({ ...(w && { workflow: w }), ...(dc && { datacenter: dc }), ...(t && { nodeType: t }) });
  return out;
}

/** "workflow=restartService datacenter=dc1", or "everything". */
export function describePauseScope(s: PauseScope): string {
  const parts = [
    s.workflow && `workflow=${s.workflow}`,
    s.datacenter && `datacenter=${s.datacenter}`,
    s.nodeType && `node_type=${s.nodeType}`,
  ].filter(Boolean);
  return parts.length ? parts.join(' ') : 'everything';
}
