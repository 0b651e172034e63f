// FleetSafety: the one hook admission calls after a workflow's own constraints pass and before
// its start. It refuses when a pause or freeze covers the start, the workflow's circuit breaker
// has tripped, or the node is flapping; for disruptive workflows it claims the node and a place
// in every budget at the fleet ledger (given back by the caller when the start does not happen); for shadow-mode
// workflows it answers what would have started and records it instead.
import type { Client } from '@temporalio/client';
import { emptyFleetSafety, type FleetSafetyConfig, type FreezeConfig } from '../config/fleet-safety';
import type { WorkflowConfig } from '../config/workflow';
import { queryValue } from '../naming/search-attributes';
import type { Target } from '../naming/task-queues';
import type { AuditSink } from '../telemetry/audit';
import type { TemporalGateway } from '../temporal/gateway';
import { FleetSize } from './fleet-size';
import { FLEET_MEMO } from '../ledger/fleet/activities';
import { startDeadline } from '../ledger/batcher';
import type { FleetLedgerClient } from '../ledger/fleet/client';
import type { Claim, ClaimRefusal, FleetAdmit } from '../ledger/fleet/state';
import type { AdmitAnswer, LedgerRefusal } from '../ledger/state';
import { LedgerSeedingError } from '../ledger/health';
import { claimMarker } from './markers';
import type { FleetMetrics } from './metrics';
import { BREAKER_IDENTITY, PauseCheck, setPause, type Pause } from './pauses';
import {
  breakerState,
  budgetPlaces,
  describePauseScope,
  executionOutcome,
  freezeActive,
  freezeApplies,
  freezeWindow,
  mayForce,
  type Outcome,
} from './policy';
import { formatDuration } from '../duration';
import { HELD_RETRY_AFTER_S } from '../admission/constraints';

/** Why a start was refused, in the shape admission's refusals have (HTTP 429). */
export interface FleetRefusal {
  constraint: Record<string, unknown> & { kind: string; description: string; scope: string };
  count: number;
  retryAfterSeconds: number;
  message: string;
}

export type FleetOutcome =
  | { result: 'refused'; dryRun: false; refusal: FleetRefusal }
  | { result: 'shadow'; workflowId: string; taskQueue: string; wouldStart: Record<string, unknown> };

export type FleetDecision =
  | {
      proceed: true;
      release(why: string): Promise<void>;
      /**
       * Local time by which the execution must have started, when fleet safety holds anything for
       * it: past the ledger's orphan grace its hold may be freed (not found) and given to another
       * admission, so a start after it would run beyond a budget or lock.
       */
      startBy?: number;
      /** Memo fields of the execution (what it holds, so a new fleet ledger finds its holds). */
      memo?: Record<string, string>;
      /** The admission of the workflow's own constraints, when the claim carried them. */
      admitted?: AdmitAnswer;
    }
  | { proceed: false; outcome: FleetOutcome }
  /** The workflow's own constraint refused the claim: admission words it as its own refusals. */
  | { proceed: false; constraint: LedgerRefusal };

export interface FleetRequest {
  workflow: WorkflowConfig;
  workflowId: string;
  taskQueue: string;
  target: Target;
  params?: Record<string, string>;
  reason?: string;
  identity: string | null;
  /** Who the start is recorded as triggered by. */
  trigger: string;
  /** Pass a freeze, when the identity may. */
  force?: boolean;
  /**
   * An approved `beyond_budget` start: it may take one place beyond each budget's limit. The
   * ledger checks every claim against the limits the claim carries, in one order for all
   * replicas, so this claim (and only it) is admitted with one more place; any other claim still
   * sees the budget full, and a second approved one sees it full at limit + 1.
   */
  overBudget?: boolean;
  /** The workflow's own constraints, admitted in the same claim (`admission.fleet_constraints`). */
  admit?: FleetAdmit;
}

export interface FleetSafetyDeps {
  config(): FleetSafetyConfig | undefined;
  temporal: TemporalGateway;
  /** The fleet ledger: node locks and budget places (ledger/). */
  ledger: FleetLedgerClient;
  metrics: FleetMetrics;
  audit: AuditSink;
  log(message: string): void;
  now?: () => number;
  /** How long a circuit-breaker evaluation is reused per workflow. */
  breakerCacheMs?: number;
}

const VISIBILITY_TIMEOUT_MS = 2_000;

/** The control of a refusal of a claim without its workflow's constraints, where the fleet ledger admits them. */
export const FLEET_CONSTRAINTS = 'fleet_constraints';

/** What a coordinator.hcl without fleet blocks amounts to: no budgets, freezes, breaker or flapping. */
const NO_FLEET_BLOCKS = emptyFleetSafety();

export class FleetSafety {
  readonly pauses = new PauseCheck();
  private readonly now: () => number;
  private size?: { cfg: object; source: FleetSize };
  private readonly breakerCache = new Map<string, { at: number; outcomes: Outcome[] }>();

  constructor(private readonly deps: FleetSafetyDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The fleet size source of the current config (one per config, polling while in use). */
  fleetSize(cfg: FleetSafetyConfig): FleetSize {
    if (this.size?.cfg !== cfg.fleetSize) {
      this.size?.source.stop();
      const source = new FleetSize(cfg.fleetSize, this.now, this.deps.log);
      source.start();
      this.size = { cfg: cfg.fleetSize, source };
    }
    return this.size.source;
  }

  private refuse(
    req: FleetRequest,
    control: string,
    refusal: Omit<FleetRefusal, 'constraint'> & { constraint: Record<string, unknown> & { description: string; scope: string } },
  ): FleetDecision {
    this.deps.metrics.refusals.inc({ workflow: req.workflow.name, control });
    if (req.workflow.mode === 'shadow')
      this.deps.metrics.shadowAdmissions.inc({ workflow: req.workflow.name, result: 'refused' });
    return {
      proceed: false,
      outcome: {
        result: 'refused',
        dryRun: false,
        refusal: { ...refusal, constraint: { ...refusal.constraint, kind: control } },
      },
    };
  }

  private pauseRefusal(req: FleetRequest, p: Pause): FleetDecision {
    const scope = describePauseScope(p.scope);
    const untilMs = p.until ? Date.parse(p.until) : undefined;
    return this.refuse(req, 'pause', {
      constraint: {
        description: `pause of ${scope}`,
        scope,
        pause_id: p.id,
        paused_by: p.by,
        reason: p.reason,
        since: p.since,
        ...(p.until ? { until: p.until } : {}),
      },
      count: 1,
      retryAfterSeconds: untilMs ? Math.max(1, Math.ceil((untilMs - this.now()) / 1000)) : 300,
      message: `paused: ${scope} was paused by ${p.by} at ${p.since}${p.until ? ` until ${p.until}` : ''}: ${p.reason}`,
    });
  }

  /** The hook: decides a start that passed its workflow's own constraints. */
  async admit(client: Client, req: FleetRequest): Promise<FleetDecision> {
    const cfg = this.deps.config();
    const wf = req.workflow;
    const now = this.now();

    const pause = await this.pauses.covering(client, wf.name, req.target, now);
    if (pause) return this.pauseRefusal(req, pause);
    // Without fleet blocks in coordinator.hcl a disruptive workflow still takes its node's lock.
    if (!cfg) return wf.disruptive ? this.holdDisruptive(client, req, NO_FLEET_BLOCKS) : this.finish(client, req);

    for (const f of cfg.freezes) {
      if (!freezeApplies(f, wf.name) || !freezeActive(f, new Date(now))) continue;
      if (req.force && mayForce(f, req.identity)) {
        this.deps.metrics.forced.inc({ workflow: wf.name });
        this.deps.audit({
          decision: 'freeze_forced',
          identity: req.identity,
          workflow: wf.name,
          target: req.target,
          constraint: `freeze ${f.name}`,
          reason: req.reason,
        });
        continue;
      }
      return this.freezeRefusal(req, f);
    }

    if (cfg.circuitBreaker) {
      const tripped = await this.checkBreaker(client, req, cfg.circuitBreaker);
      if (tripped) return tripped;
    }
    if (cfg.flapping && req.target.node) {
      const flapping = await this.checkFlapping(client, req, cfg.flapping);
      if (flapping) return flapping;
    }
    if (!wf.disruptive) return this.finish(client, req);
    return this.holdDisruptive(client, req, cfg);
  }

  /** A disruptive start: its node lock and budget slots, taken (or, in shadow mode, inspected). */
  private holdDisruptive(client: Client, req: FleetRequest, cfg: FleetSafetyConfig): Promise<FleetDecision> {
    return req.workflow.mode === 'shadow' ? this.inspectDisruptive(client, req, cfg) : this.takeDisruptive(client, req, cfg);
  }

  private freezeRefusal(req: FleetRequest, f: FreezeConfig): FleetDecision {
    const window = freezeWindow(f);
    const force = f.forceUris.length
      ? req.force
        ? `; ${req.identity ?? 'this caller'} may not force it`
        : '; an identity allowed to force may retry with force'
      : '; nobody may force it';
    return this.refuse(req, 'freeze', {
      constraint: {
        description: `freeze ${f.name} (${window})`,
        scope: f.workflows.join(','),
        freeze: f.name,
        from: f.from,
        to: f.to,
        timezone: f.timezone,
        forcible: f.forceUris.length > 0,
      },
      count: 1,
      retryAfterSeconds: 300,
      message: `change freeze "${f.name}" is in force (${window})${force}`,
    });
  }

  /** The latest closed executions of a workflow since its last pause ended, newest first (cached briefly). */
  private async recentOutcomes(client: Client, workflow: string, ofLast: number): Promise<Outcome[]> {
    const hit = this.breakerCache.get(workflow);
    const now = this.now();
    if (hit && now - hit.at < (this.deps.breakerCacheMs ?? 5_000)) return hit.outcomes;
    let since = 0;
    try {
      const d = await client.workflow.getHandle(`medic-pause:w=${workflow}:dc=*:t=*`).describe();
      if (d.closeTime) since = d.closeTime.getTime();
    } catch {
      // Never paused.
    }
    const closed: Array<{ at: number; o: Outcome }> = [];
    await this.deps.temporal.visibility(async (c) => {
      const query = `MedicWorkflow = ${queryValue(workflow)} AND ExecutionStatus != 'Running'${since ? ` AND CloseTime > ${queryValue(new Date(since).toISOString())}` : ''}`;
      for await (const e of c.workflow.list({ query, pageSize: 100 })) {
        const attr = e.searchAttributes?.MedicOutcome;
        const outcome = Array.isArray(attr) && typeof attr[0] === 'string' ? attr[0] : undefined;
        closed.push({ at: e.closeTime?.getTime() ?? 0, o: executionOutcome(e.status.name, outcome) });
        if (closed.length >= Math.max(100, ofLast * 4)) break;
      }
    }, VISIBILITY_TIMEOUT_MS);
    const outcomes = closed.sort((a, b) => b.at - a.at).map((c) => c.o);
    this.breakerCache.set(workflow, { at: now, outcomes });
    return outcomes;
  }

  private async checkBreaker(
    client: Client,
    req: FleetRequest,
    cfg: { failures: number; ofLast: number },
  ): Promise<FleetDecision | undefined> {
    const wf = req.workflow.name;
    let outcomes: Outcome[];
    try {
      outcomes = await this.recentOutcomes(client, wf, cfg.ofLast);
    } catch (err) {
      this.deps.log(`circuit breaker of ${wf} not evaluated: ${(err as Error).message}`);
      return undefined;
    }
    const state = breakerState(outcomes, cfg);
    if (!state.trips) return undefined;
    // Evaluate afresh after a resume (the pause refuses until then, so this costs nothing meanwhile).
    this.breakerCache.delete(wf);
    const reason = `circuit breaker: ${state.failed} of the last ${state.counted} executions failed or escalated; the remedy is not working`;
    const { created, pause } = await setPause(client, { workflow: wf }, { reason, by: BREAKER_IDENTITY });
    this.pauses.forget({ workflow: wf });
    if (created) {
      this.deps.metrics.pauseChanges.inc({ action: 'pause', by: 'circuit_breaker' });
      this.escalate(req, 'circuit_breaker', `${wf} paused itself: ${reason}. Resume with: medic resume --workflow ${wf}`);
      this.deps.audit({
        decision: 'paused',
        identity: BREAKER_IDENTITY,
        workflow: wf,
        constraint: `pause of workflow=${wf}`,
        reason,
      });
    }
    return this.pauseRefusal(req, pause);
  }

  private async checkFlapping(
    client: Client,
    req: FleetRequest,
    cfg: { count: number; windowMs: number },
  ): Promise<FleetDecision | undefined> {
    const wf = req.workflow.name;
    const node = req.target.node!;
    let count: number;
    try {
      const query = `MedicWorkflow = ${queryValue(wf)} AND MedicNode = ${queryValue(node)} AND StartTime > ${queryValue(new Date(this.now() - cfg.windowMs).toISOString())}`;
      ({ count } = await this.deps.temporal.visibility((c) => c.workflow.count(query), VISIBILITY_TIMEOUT_MS));
    } catch (err) {
      this.deps.log(`flapping check of ${wf} on ${node} not evaluated: ${(err as Error).message}`);
      return undefined;
    }
    if (count < cfg.count) return undefined;
    const window = formatDuration(cfg.windowMs);
    const message = `node ${node} was remediated by ${wf} ${count} times within ${window}; it is flapping, so it is escalated instead of remediated again`;
    // One escalation per node and window, whichever coordinator sees it first.
    const first = await claimMarker(
      client,
      'flap',
      `medic-fleet:flap:${wf}:${node}`,
      { workflow: wf, node, count },
      cfg.windowMs,
    );
    if (first) this.escalate(req, 'flapping', message);
    return this.refuse(req, 'flapping', {
      constraint: { description: `flapping ${count}/${window} per node`, scope: `node=${node}`, count_limit: cfg.count, window },
      count,
      retryAfterSeconds: Math.ceil(cfg.windowMs / 1000),
      message,
    });
  }

  private escalate(req: FleetRequest, reason: 'circuit_breaker' | 'flapping', message: string): void {
    this.deps.metrics.escalations.inc({ workflow: req.workflow.name, reason });
    this.deps.audit({
      decision: 'escalated',
      identity: req.identity,
      workflow: req.workflow.name,
      target: req.target,
      constraint: reason,
      reason: message,
    });
    this.deps.log(`ESCALATION (${reason}): ${message}`);
  }

  /** What a disruptive start claims at the fleet ledger: its node and a place in every budget covering it, or a refusal. */
  private plan(req: FleetRequest, cfg: FleetSafetyConfig): Claim | FleetDecision {
    const planned = budgetPlaces(cfg.budgets, req.target, (per, value) => this.fleetSize(cfg).reading(per, value));
    if ('refuse' in planned) {
      const { budget: b, scopeValue, message } = planned.refuse;
      return this.refuse(req, 'budget', {
        constraint:
          scopeValue === undefined
            ? { description: `budget ${b.name}`, scope: b.per, budget: b.name }
            : {
                description: `budget ${b.name} (${b.maxPercent}% per ${b.per})`,
                scope: `${b.per}=${scopeValue}`,
                budget: b.name,
              },
        count: 0,
        retryAfterSeconds: 60,
        message,
      });
    }
    return {
      id: req.workflowId,
      workflow: req.workflow.name,
      trigger: req.trigger,
      ...(req.target.node ? { node: req.target.node } : {}),
      // An approved start beyond its budget takes one place more than the limit (approval { when = "beyond_budget" }).
      budgets: req.overBudget ? planned.places.map((p) => ({ ...p, limit: p.limit + 1 })) : planned.places,
      holdMaxMs: cfg.holdMaxMs,
      ...(req.admit && { admit: req.admit }),
    };
  }

  private holdRefusal(req: FleetRequest, r: ClaimRefusal): FleetDecision {
    if (r.kind === 'constraint') return { proceed: false, constraint: r.refusal };
    if (r.kind === 'seeding') throw new LedgerSeedingError(this.deps.ledger.ledgerId);
    if (r.kind === 'budget' && r.moved)
      return this.refuse(req, FLEET_CONSTRAINTS, {
        constraint: { description: `${r.moved}'s constraints at the fleet ledger`, scope: 'global' },
        count: 0,
        retryAfterSeconds: HELD_RETRY_AFTER_S,
        message:
          `the fleet ledger admits ${r.moved}'s constraints now (another coordinator has admission.fleet_constraints on) ` +
          "and this coordinator admits them at the workflow's own ledger",
      });
    if (r.kind === 'node') {
      const h = r.holders[0];
      return this.refuse(req, 'disruptive_lock', {
        constraint: {
          description: 'one disruptive remediation per node',
          scope: `node=${r.node}`,
          ...(h ? { held_by: h.execution, held_by_workflow: h.workflow, since: h.since } : {}),
        },
        count: r.holders.length,
        retryAfterSeconds: HELD_RETRY_AFTER_S,
        message: `node ${r.node} is held by disruptive execution ${h?.execution ?? '(unknown)'}${h?.workflow ? ` (${h.workflow})` : ''} since ${h?.since ?? '?'}`,
      });
    }
    if (r.kind === 'full')
      return this.refuse(req, 'ledger_full', {
        constraint: { description: 'the fleet ledger holds at most this many bytes of holds', scope: 'global', limit: r.limit },
        count: r.holds,
        retryAfterSeconds: HELD_RETRY_AFTER_S,
        message:
          `the fleet ledger is full: ${r.holds} disruptive remediations hold ${Math.round(r.bytes / 1024)} KiB of its ` +
          `${Math.round(r.limit / 1024)} KiB (each hold ends when its execution closes); add budgets to keep fewer running at once`,
      });
    const held = r.holders.map((h) => h.execution);
    const more = r.held - held.length;
    // An approved beyond_budget claim carried limit + 1: the budget's own limit is one less.
    const limit = r.limit - (req.overBudget ? 1 : 0);
    const beyond = req.overBudget ? ' (even one approved start beyond it would exceed it by more than one)' : '';
    return this.refuse(req, 'budget', {
      constraint: {
        description: `budget ${r.budget}: ${limit} concurrent disruptive per ${r.scope === 'global' ? 'global' : r.scope.split('=')[0]}`,
        scope: r.scope,
        budget: r.budget,
        limit,
        held_by: held,
      },
      count: r.held,
      retryAfterSeconds: HELD_RETRY_AFTER_S,
      message: `budget "${r.budget}" allows ${limit} concurrent disruptive remediations in ${r.scope}; ${r.held} running: ${held.join(', ')}${more > 0 ? ` and ${more} more` : ''}${beyond}`,
    });
  }

  private async takeDisruptive(client: Client, req: FleetRequest, cfg: FleetSafetyConfig): Promise<FleetDecision> {
    const claim = this.plan(req, cfg);
    if (!('budgets' in claim)) return claim;
    const sent = Date.now();
    const answer = await this.deps.ledger.claim(client, claim);
    if (!answer.ok) return this.holdRefusal(req, answer.refusal);
    return {
      proceed: true,
      startBy: startDeadline(sent, answer.graceMs ?? this.deps.ledger.graceMs),
      ...(answer.answer && { admitted: answer.answer }),
      release: () => this.deps.ledger.release(client, [claim.id], true),
      memo: { [FLEET_MEMO]: JSON.stringify({ node: claim.node ?? '', budgets: claim.budgets.map((b) => b.key) }) },
    };
  }

  private async inspectDisruptive(client: Client, req: FleetRequest, cfg: FleetSafetyConfig): Promise<FleetDecision> {
    const claim = this.plan(req, cfg);
    if (!('budgets' in claim)) return claim;
    const refusal = await this.deps.ledger.check(client, claim);
    return refusal ? this.holdRefusal(req, refusal) : this.finish(client, req);
  }

  private async finish(client: Client, req: FleetRequest): Promise<FleetDecision> {
    if (req.workflow.mode !== 'shadow') return { proceed: true, release: async () => {} };
    const wouldStart = {
      workflow: req.workflow.name,
      workflow_type: req.workflow.workflowType,
      task_queue: req.taskQueue,
      target: req.target,
      params: { ...req.workflow.params, ...(req.params ?? {}) },
      ...(req.reason ? { reason: req.reason } : {}),
      disruptive: req.workflow.disruptive ?? false,
    };
    // The record for `medic list --shadow`: a marker that ends by itself a second later.
    await claimMarker(
      client,
      'shadow',
      `medic-shadow:${req.workflowId}`,
      { ...wouldStart, trigger: req.trigger, workflow_id: req.workflowId },
      1_000,
    );
    this.deps.metrics.shadowAdmissions.inc({ workflow: req.workflow.name, result: 'would_start' });
    return { proceed: false, outcome: { result: 'shadow', workflowId: req.workflowId, taskQueue: req.taskQueue, wouldStart } };
  }

  /** Stops polling the fleet size. */
  stop(): void {
    this.size?.source.stop();
  }
}
