// Admission offline, for the backtest: would-be starts, in time order, through the workflow's
// constraints (the admission ledger's windows for maxExecution, concurrency places), freezes,
// flapping, the per-node disruptive lock and the budgets (the fleet ledger's arithmetic), with the
// coordinator's own pure pieces. A start holds its places for an assumed duration. Pauses and
// the circuit breaker depend on what happened then (who paused, how executions ended): unknown here.
import type { BudgetScope, FleetSafetyConfig } from '../../config/fleet-safety';
import { constraintKey, type Constraint, type WorkflowConfig } from '../../config/workflow';
import { admissionOrder, describeConstraint as describe, HELD_RETRY_AFTER_S, scopeOf } from '../../admission/constraints';
import { formatDuration } from '../../duration';
import { FleetSize } from '../../fleet/fleet-size';
import { budgetPlaces, freezeActive, freezeApplies, freezeWindow, type SizeReading } from '../../fleet/policy';
import * as fleetLedger from '../../ledger/fleet/state';
import * as ledger from '../../ledger/state';
import { queueFor, type Target } from '../../naming/task-queues';

/** The control that refuses a start, as the coordinator names it in its 429 answers and metrics. */
export type Control = 'maxExecution' | 'concurrency' | 'freeze' | 'flapping' | 'disruptive_lock' | 'budget' | 'ledger_full';

export interface OfflineRefusal {
  control: Control;
  /** "maxExecution 3/24h per target", "budget dc-reboots", "freeze weekend". */
  description: string;
  /** "node=web-1", "datacenter=dc1", "global". */
  scope: string;
  /** The would-be starts holding the places (their ids), oldest first. */
  holders: string[];
  /** When the coordinator would tell the caller to retry (its Retry-After). */
  retryAt: number;
  message: string;
}

export type Decision =
  | { kind: 'start'; until: number }
  /** A shadow-mode workflow: admission passed, nothing starts and nothing is held. */
  | { kind: 'shadow' }
  | { kind: 'refused'; refusal: OfflineRefusal }
  /** The coordinator would answer 400 (the target lacks a field its queue needs): the daemon does not retry. */
  | { kind: 'rejected'; message: string };

export interface Attempt {
  /** The would-be execution's id (the episode key): holders are named by it. */
  id: string;
  at: number;
  workflow: WorkflowConfig;
  target: Target;
}

export interface Peak {
  peak: number;
  /** When the peak was first reached. */
  at?: number;
  /** For budgets: the limit. */
  limit?: number;
}

export interface AdmissionOptions {
  /** How long a start of this workflow holds its places. */
  durationMs(wf: WorkflowConfig): number;
  /** The fleet size percentage budgets divide by, at a time (default: fleet_size's static sizes; a measured one is unknown). */
  fleetSize?(per: BudgetScope, value: string, at: number): SizeReading;
}

/** Retry-After of the refusals the coordinator words itself (src/fleet/gate.ts). */
const HELD_MS = HELD_RETRY_AFTER_S * 1000;
const RETRY_MS = { freeze: 300_000, disruptive_lock: HELD_MS, budget: HELD_MS, budget_plan: 60_000, ledger_full: HELD_MS };
/** What the fleet ledger records as the trigger of an offline hold. */
const TRIGGER = 'backtest';

interface Place {
  id: string;
  until: number;
}

export class OfflineAdmission {
  /** Per workflow: its admission ledger's state (maxExecution windows). */
  private readonly ledgers = new Map<string, ledger.LedgerState>();
  /** `${workflow}|${constraintKey}|${scope}` -> concurrency places. */
  private readonly concurrency = new Map<string, Place[]>();
  private readonly fleet = fleetLedger.emptyFleetState();
  /** Started would-be executions: for flapping and the peaks. */
  private readonly started: Array<{
    id: string;
    workflow: string;
    node?: string;
    datacenter: string;
    at: number;
    until: number;
  }> = [];
  private now = -Infinity;
  readonly datacenterPeaks = new Map<string, Peak>();
  readonly budgetPeaks = new Map<string, Peak>();

  constructor(
    private readonly fleetCfg: FleetSafetyConfig | undefined,
    private readonly opts: AdmissionOptions,
  ) {}

  /** Decides one attempt; attempts come in time order. A start takes its places at once. */
  decide(a: Attempt): Decision {
    if (a.at < this.now) throw new RangeError(`attempts must come in time order: ${a.at} after ${this.now}`);
    this.now = a.at;
    const wf = a.workflow;
    const queue = queueFor(wf.taskQueueTarget, a.target);
    if (!queue.ok) return { kind: 'rejected', message: queue.message };
    fleetLedger.release(this.fleet, fleetLedger.expired(this.fleet, a.at));
    const durationMs = this.opts.durationMs(wf);
    const constraints = admissionOrder(wf.constraints);
    const ledgerReq = this.ledgerRequest(a, constraints);

    this.forgetEnded(a.at);

    const refused =
      this.checkWindows(a, ledgerReq) ?? this.checkConcurrency(a, constraints) ?? this.checkFreezes(a) ?? this.checkFlapping(a);
    if (refused) return { kind: 'refused', refusal: refused };
    const disruptive = this.planDisruptive(a, durationMs);
    if (disruptive && 'control' in disruptive) return { kind: 'refused', refusal: disruptive };
    if (wf.mode === 'shadow') return { kind: 'shadow' };

    const until = a.at + durationMs;
    if (ledgerReq) ledger.admit(this.ledgerOf(wf.name), ledgerReq, a.at);
    for (const c of constraints) {
      if (c.kind !== 'concurrency') continue;
      const places = this.concurrency.get(this.concurrencyKey(a, c, wf.constraints)) ?? [];
      // A place counts while its execution runs and started within the period.
      places.push({ id: a.id, until: a.at + Math.min(durationMs, c.periodMs) });
      this.concurrency.set(this.concurrencyKey(a, c, wf.constraints), places);
    }
    if (disruptive) fleetLedger.claim(this.fleet, disruptive.claim, a.at);
    this.started.push({
      id: a.id,
      workflow: wf.name,
      node: a.target.node,
      datacenter: a.target.datacenter ?? '',
      at: a.at,
      until,
    });
    this.notePeaks(a, disruptive?.claim);
    return { kind: 'start', until };
  }

  /** Drops the starts that neither run any more nor count for flapping: the model stays as small as what is live. */
  private forgetEnded(now: number): void {
    const flappingMs = this.fleetCfg?.flapping?.windowMs ?? 0;
    const kept = this.started.filter((s) => s.until > now || s.at > now - flappingMs);
    if (kept.length !== this.started.length) this.started.splice(0, this.started.length, ...kept);
  }

  private ledgerOf(workflow: string): ledger.LedgerState {
    let state = this.ledgers.get(workflow);
    if (!state) this.ledgers.set(workflow, (state = ledger.emptyState()));
    return state;
  }

  /** The admission the coordinator would ask the workflow's ledger for (only maxExecution windows live there). */
  private ledgerRequest(a: Attempt, constraints: readonly Constraint[]): ledger.AdmitRequest | undefined {
    const all = a.workflow.constraints;
    if (!all.some((c) => c.kind === 'maxExecution')) return undefined;
    return {
      id: a.id,
      constraints: all.map((c) => ({ key: constraintKey(c, all), kind: c.kind, value: c.value, periodMs: c.periodMs })),
      scopes: Object.fromEntries(
        constraints.map((c) => [constraintKey(c, all), scopeOf(c, a.workflow.taskQueueTarget, a.target).key]),
      ),
      where: {},
    };
  }

  private checkWindows(a: Attempt, req: ledger.AdmitRequest | undefined): OfflineRefusal | undefined {
    if (!req) return undefined;
    const state = this.ledgerOf(a.workflow.name);
    const r = ledger.check(state, req, a.at);
    if (!r) return undefined;
    const c = a.workflow.constraints.find((x) => constraintKey(x, a.workflow.constraints) === r.key)!;
    const holders = (state.windows[ledger.windowKey(r.key, r.scope)] ?? [])
      .filter(([at]) => at > a.at - r.periodMs)
      .map(([, id]) => id);
    return {
      control: 'maxExecution',
      description: describe(c),
      scope: r.scope,
      holders,
      retryAt: r.retryAt,
      message: `${describe(c)}: ${r.count} started within ${formatDuration(r.periodMs)} in ${r.scope}`,
    };
  }

  private concurrencyKey(a: Attempt, c: Constraint, all: readonly Constraint[]): string {
    return `${a.workflow.name}|${constraintKey(c, all)}|${scopeOf(c, a.workflow.taskQueueTarget, a.target).key}`;
  }

  private checkConcurrency(a: Attempt, constraints: readonly Constraint[]): OfflineRefusal | undefined {
    for (const c of constraints) {
      if (c.kind !== 'concurrency') continue;
      const key = this.concurrencyKey(a, c, a.workflow.constraints);
      const live = (this.concurrency.get(key) ?? []).filter((p) => p.until > a.at);
      this.concurrency.set(key, live);
      if (live.length < c.value) continue;
      const scope = scopeOf(c, a.workflow.taskQueueTarget, a.target).key;
      return {
        control: 'concurrency',
        description: describe(c),
        scope,
        holders: live.map((p) => p.id),
        // The coordinator's Retry-After: the first place to free, at most HELD_RETRY_AFTER_S away.
        retryAt: Math.min(...live.map((p) => p.until), a.at + HELD_MS),
        message: `${describe(c)}: ${live.length} running in ${scope}`,
      };
    }
    return undefined;
  }

  private checkFreezes(a: Attempt): OfflineRefusal | undefined {
    for (const f of this.fleetCfg?.freezes ?? []) {
      if (!freezeApplies(f, a.workflow.name) || !freezeActive(f, new Date(a.at))) continue;
      // Triggers never force a freeze.
      const window = freezeWindow(f);
      return {
        control: 'freeze',
        description: `freeze ${f.name} (${window})`,
        scope: `workflows=${f.workflows.join(',')}`,
        holders: [],
        retryAt: a.at + RETRY_MS.freeze,
        message: `change freeze "${f.name}" is in force (${window})`,
      };
    }
    return undefined;
  }

  /** Flapping counts the would-be starts of the workflow on the node within the window (the coordinator counts visibility's). */
  private checkFlapping(a: Attempt): OfflineRefusal | undefined {
    const cfg = this.fleetCfg?.flapping;
    const node = a.target.node;
    if (!cfg || !node) return undefined;
    const recent = this.started.filter((s) => s.workflow === a.workflow.name && s.node === node && s.at > a.at - cfg.windowMs);
    if (recent.length < cfg.count) return undefined;
    const window = formatDuration(cfg.windowMs);
    return {
      control: 'flapping',
      description: `flapping ${cfg.count}/${window} per node`,
      scope: `node=${node}`,
      holders: recent.map((s) => s.id),
      retryAt: a.at + cfg.windowMs,
      message: `node ${node} was remediated by ${a.workflow.name} ${recent.length} times within ${window}: escalated instead`,
    };
  }

  /** A disruptive start's claim (node lock and budget places), or why it cannot be taken. */
  private planDisruptive(a: Attempt, durationMs: number): OfflineRefusal | { claim: fleetLedger.Claim } | undefined {
    if (!a.workflow.disruptive) return undefined;
    const cfg = this.fleetCfg;
    const sizeAt = (per: BudgetScope, value: string): SizeReading =>
      this.opts.fleetSize ? this.opts.fleetSize(per, value, a.at) : new FleetSize(cfg!.fleetSize).reading(per, value);
    const planned = cfg ? budgetPlaces(cfg.budgets, a.target, sizeAt) : { places: [] };
    if ('refuse' in planned) {
      const { budget, scopeValue, message } = planned.refuse;
      return {
        control: 'budget',
        description: `budget ${budget.name}`,
        scope: scopeValue === undefined || budget.per === 'global' ? budget.per : `${budget.per}=${scopeValue}`,
        holders: [],
        retryAt: a.at + RETRY_MS.budget_plan,
        message,
      };
    }
    const claim: fleetLedger.Claim = {
      id: a.id,
      workflow: a.workflow.name,
      trigger: TRIGGER,
      ...(a.target.node ? { node: a.target.node } : {}),
      budgets: planned.places,
      // The hold ends when the would-be execution does (never later than the configured backstop).
      holdMaxMs: Math.min(durationMs, cfg?.holdMaxMs ?? durationMs),
    };
    const r = fleetLedger.check(this.fleet, claim, a.at);
    // The backtest's claims never carry their workflow's constraints (it checks them itself, above).
    if (!r || r.kind === 'constraint' || r.kind === 'seeding') return { claim };
    // A budget refusal names its oldest holders (HOLDERS_SHOWN), as the coordinator's does.
    const ids = r.holders.map((h) => h.execution);
    const freeAt = Math.min(...ids.map((id) => this.fleet.holds[id]?.until ?? a.at));
    switch (r.kind) {
      case 'node':
        return {
          control: 'disruptive_lock',
          description: 'one disruptive remediation per node',
          scope: `node=${r.node}`,
          holders: ids,
          retryAt: a.at + RETRY_MS.disruptive_lock,
          message: `node ${r.node} is held by ${ids.join(', ')} until ${new Date(freeAt).toISOString()}`,
        };
      case 'budget':
        return {
          control: 'budget',
          description: `budget ${r.budget}: ${r.limit} concurrent disruptive`,
          scope: r.scope,
          holders: ids,
          retryAt: a.at + RETRY_MS.budget,
          message: `budget "${r.budget}" allows ${r.limit} concurrent disruptive remediations in ${r.scope}; ${r.held} running`,
        };
      case 'full':
        return {
          control: 'ledger_full',
          description: 'the fleet ledger holds at most this many bytes of holds',
          scope: 'global',
          holders: ids,
          retryAt: a.at + RETRY_MS.ledger_full,
          message: `the fleet ledger is full: ${r.holds} holds`,
        };
    }
  }

  private notePeaks(a: Attempt, claim: fleetLedger.Claim | undefined): void {
    const dc = a.target.datacenter ?? '';
    const running = this.started.filter((s) => s.datacenter === dc && s.until > a.at).length;
    raise(this.datacenterPeaks, dc, running, a.at);
    for (const b of claim?.budgets ?? []) raise(this.budgetPeaks, b.key, this.fleet.places[b.key]?.length ?? 0, a.at, b.limit);
  }
}

function raise(peaks: Map<string, Peak>, key: string, value: number, at: number, limit?: number): void {
  const p = peaks.get(key);
  if (!p || value > p.peak) peaks.set(key, { peak: value, at, ...(limit !== undefined && { limit }) });
}
