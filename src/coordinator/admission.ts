// admitTrigger: the one path by which anything starts a medic workflow. The trigger API, the
// Alertmanager webhook and chat commands all call it with their `source`. It validates the
// target, checks every safety constraint (visibility counts, plus slot leases that make the
// decision race-free across coordinators), starts the workflow on the queue its target
// selects, and records the decision (audit line, metrics).
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { constraintKey, paramSchemaOf, type Constraint, type WorkflowConfig } from '../config/workflow';
import { resolveParams } from '../params/resolve';
import { DEFAULT_VISIBILITY_QPS } from '../config/coordinator';
import { startSearchAttributes } from '../naming/search-attributes';
import { invalidName, queueFor, workflowQueue, type Target } from '../naming/task-queues';
import type { WorkflowInput } from '../../workflows/shared/input';
import { LADDER_MEMO, type LadderContext } from '../../workflows/shared/ladder';
import { TIMEOUT_BACKSTOP_MS } from '../../workflows/deadline';
import type { AuditSink } from '../telemetry/audit';
import { FLEET_CONSTRAINTS, type FleetOutcome, type FleetSafety } from '../fleet/gate';
import {
  admissionOrder,
  constraintJson,
  describeConstraint,
  leaseTimeoutMs,
  leaseWorkflowId,
  refusalRetryAfter,
  scopeOf,
  slotWorkflowId,
  unusedTargetField,
  visibilityQuery,
  type Scope,
} from '../admission/constraints';
import {
  claimSlot,
  inspectSlots,
  NONCE_MEMO,
  releaseLease,
  startLease,
  type Claimed,
  type SlotHolder,
  type SlotSpec,
} from './leases';
import type { CoordinatorMetrics, TriggerResult } from './metrics';
import type { ConfigsInUse } from './configs-in-use';
import { reconcile, type Discrepancy } from './reconcile';
import { nodeLockCovers, usesLedger, type LedgerClient } from '../ledger/client';
import type { Enforced, LedgerRefusal } from '../ledger/state';
import { SCOPES_MEMO } from '../ledger/activities';
import { isTemporalUnavailable, TemporalUnavailableError, type TemporalGateway } from '../temporal/gateway';
import { isUnknownOutcome } from '../temporal/call-errors';
import { LedgerFailedError, LedgerSeedingError, LedgerTooOldError } from '../ledger/health';
import { startDeadline } from '../ledger/batcher';
import { failpoint } from '../failpoints';
import { settledWithin, STOP_WAIT_MS } from '../temporal/connect';

export interface TriggerRequest {
  /** The configured workflow name (config/workflows/<name>.hcl). */
  workflow: string;
  target: Target;
  params?: Record<string, string>;
  reason?: string;
  /** The same key twice (for the same workflow) returns the first execution. */
  idempotencyKey?: string;
  /** The caller: its verified SPIFFE ID, a chat user (`slack:<team>/<user>`), or null (public or TLS-less development). */
  identity: string | null;
  /** Which front door: "api", "alertmanager", "slack", ... (a metrics label). */
  source: string;
  /** Evaluate everything, start nothing. */
  dryRun?: boolean;
  /** Pass a change freeze (only for identities the freeze allows to force). */
  force?: boolean;
  /** A step of an escalation ladder (src/coordinator/ladder.ts): the episode and the steps before it. */
  ladder?: LadderContext;
  /**
   * A start a human approved (src/approval/): the approval id keys the execution, so it starts
   * once whichever replica and however many approvers ask; `beyondBudget` lets it take one place
   * beyond each fleet budget (`approval { when = "beyond_budget" }`).
   */
  approval?: { id: string; by: string; beyondBudget: boolean };
}

/** Refusals a `when = "beyond_budget"` approval replaces: the workflow's constraints and fleet budgets. */
export const BEYOND_BUDGET_KINDS: readonly string[] = ['concurrency', 'maxExecution', 'budget'];

/** Creates an approval request for a start that waits for a human (src/coordinator/approvals.ts). */
export interface ApprovalRequester {
  request(
    req: TriggerRequest,
    wf: WorkflowConfig,
    params: Record<string, string>,
    why: string,
  ): Promise<{ id: string; expiresAt: string }>;
}

export interface ConstraintCheck {
  constraint: Record<string, unknown>;
  /** Executions counted in the scope (visibility count, or slots held, whichever is higher). */
  count: number;
  passes: boolean;
}

export interface Refusal {
  /** The answer's message, when the refusing control words it itself (fleet safety). */
  message?: string;
  constraint: Record<string, unknown>;
  count: number;
  retryAfterSeconds: number;
}

/** What an audit line says about a refusal besides its constraint: the control, and who holds what was asked for. */
function refusalAudit(r: Refusal): { control?: string; holders?: string[]; message?: string } {
  const heldBy = r.constraint.held_by;
  const holders = typeof heldBy === 'string' ? [heldBy] : Array.isArray(heldBy) ? heldBy.map(String) : [];
  return {
    ...(typeof r.constraint.kind === 'string' && { control: r.constraint.kind }),
    ...(holders.length > 0 && { holders }),
    ...(r.message !== undefined && { message: r.message }),
  };
}

export type TriggerOutcome =
  | { result: 'started' | 'duplicate'; workflowId: string; runId: string; taskQueue: string }
  | { result: 'dry_run'; taskQueue: string; checks: ConstraintCheck[] }
  | { result: 'awaiting_approval'; approvalId: string; expiresAt: string; why: string }
  | Extract<FleetOutcome, { result: 'shadow' }>
  | { result: 'refused'; dryRun: boolean; refusal: Refusal; checks?: ConstraintCheck[] }
  | { result: 'invalid'; code: 'invalid_request' | 'unknown_workflow'; message: string; details: Record<string, unknown> }
  | { result: 'error'; code: 'temporal_unavailable' | 'internal'; message: string; details: StartState }
  | { result: 'error'; code: 'ledger_failed'; message: string; details: StartState & { ledger: string; reason: string } };

/**
 * What a failed admission says of its start: `started: false` when no start was sent (Temporal
 * has nothing for it); `"unknown"` when one was sent and not confirmed, with the execution's id
 * when it was chosen (the caller can look it up).
 */
export type StartState = { started: false } | { started: 'unknown'; workflow_id?: string };

/** Where an admission's start stands while it decides (what its failure answer says). */
interface PendingStart {
  workflowId?: string;
  sent?: boolean;
}

export interface AdmissionDeps {
  /** The current workflow configs (swapped atomically on reload). */
  workflows(): ReadonlyMap<string, WorkflowConfig>;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  log(message: string): void;
  /** Fleet safety (src/fleet): checked after the workflow's own constraints, before the start. */
  fleet?: FleetSafety;
  /** Every replica's constraint configs, as the ledgers enforce them: the strictest in use governs (configs-in-use.ts). */
  configs?: ConfigsInUse;
  /**
   * The admission ledgers (src/ledger/): a workflow with a maxExecution constraint is admitted by
   * one update to its ledger, which holds its windows in Temporal's time and every replica's config.
   */
  ledger: LedgerClient;
  /**
   * Whether the fleet ledger admits this workflow's own constraints with its claim (one update:
   * `admission.fleet_constraints` and admitsAtFleet); otherwise its ledger admits them first.
   */
  atFleet?: (wf: WorkflowConfig) => boolean;
  /** Told that the fleet ledger admits a workflow's constraints, so atFleet says so from now on (whatever this replica's setting). */
  followFleet?: (workflow: string) => void;
  /** Approval requests (`approval { ... }` in a workflow file); without it such workflows start as usual. */
  approvals?: ApprovalRequester;
  /** Longest time between taking a lease and starting its execution; leases last this much longer than the period. */
  startMarginMs?: number;
  /** Deadline of one visibility count; when it passes, the leases alone decide. */
  visibilityTimeoutMs?: number;
  /** Visibility queries per second this coordinator may make for admission (0: none); beyond it the leases alone decide. */
  visibilityQps?: number;
  /** How long a concurrency scope found full is refused again without asking Temporal (0: never cached). */
  refusalCacheMs?: number;
  now?: () => number;
  /** Tests: runs between fleet safety's claim and the start (a stalled coordinator). */
  afterFleetClaim?: () => Promise<void>;
}

/** Fleet safety's claim reached its orphan grace before the start was sent: nothing was started, the claim is given back. */
export class ClaimExpiredError extends Error {
  override name = 'ClaimExpiredError';
}

/** Timeout of a lease holding a concurrency slot for an idempotent execution; it is freed as soon as that execution closes. */
const FOLLOWING_LEASE_MS = 30 * 24 * 3_600_000;

/** Allows `rate` events per second, in bursts of up to `rate`. */
export class TokenBucket {
  private tokens: number;

  constructor(
    private readonly rate: number,
    private at: number,
  ) {
    this.tokens = rate;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Workflow id of an idempotent start: a hash of the caller's identity, the source and the key,
 * so a repeat from the same caller finds it and another caller's identical key never does.
 * Trigger-daemon replicas share one identity, so their repeats still dedupe.
 */
export function idempotentExecutionId(workflow: string, caller: string, source: string, idempotencyKey: string): string {
  const hash = createHash('sha256').update(`${caller}\n${source}\n${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${workflow}:key-${hash}`;
}

/** Workflow id of a start without a concurrency slot or key. */
export function freeExecutionId(workflow: string): string {
  return `${workflow}:${randomUUID()}`;
}

function invalid(message: string, details: Record<string, unknown>): TriggerOutcome {
  return { result: 'invalid', code: 'invalid_request', message, details };
}

/**
 * Checks a request against its workflow's config: target names, the target fields the workflow
 * uses, the params against the workflow's schema, the idempotency key. The queue it lands on and
 * the params the execution gets, or why it cannot.
 */
export function validateTrigger(
  req: TriggerRequest,
  wf: WorkflowConfig,
): { taskQueue: string; params: Record<string, string> } | TriggerOutcome {
  for (const field of ['node', 'datacenter', 'node_type'] as const) {
    const v = req.target[field];
    if (v !== undefined) {
      const problem = invalidName(field, v);
      if (problem) return invalid(`target.${problem}`, { field: `target.${field}` });
    }
  }
  const choice = queueFor(wf.taskQueueTarget, req.target);
  if (!choice.ok) {
    return invalid(choice.message, {
      field: `target.${choice.missing[0]}`,
      missing: choice.missing.map((f) => `target.${f}`),
      task_queue_target: wf.taskQueueTarget,
    });
  }
  const unused = unusedTargetField(wf.workflowType, wf.taskQueueTarget, req.target);
  if (unused) {
    return invalid(`target.${unused}: not used by ${wf.taskQueueTarget} workflow ${JSON.stringify(wf.name)}`, {
      field: `target.${unused}`,
      task_queue_target: wf.taskQueueTarget,
    });
  }
  const resolved = resolveParams(paramSchemaOf(wf), req.params);
  if (!resolved.ok) {
    const [first] = resolved.problems;
    return invalid(first!.message, { field: first!.field, problems: resolved.problems });
  }
  if (req.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(req.idempotencyKey)) {
    return invalid('idempotency_key must be 1-128 characters of letters, digits, ".", "_", ":" or "-"', {
      field: 'idempotency_key',
    });
  }
  return { taskQueue: choice.queue, params: resolved.params };
}

async function findExecution(client: Client, workflowId: string): Promise<{ runId: string; taskQueue: string } | undefined> {
  try {
    // The first run is the execution the key created; an idempotent id never gets a second.
    const d = await client.workflow.getHandle(workflowId).describe();
    return { runId: d.runId, taskQueue: d.taskQueue };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

interface Evaluation {
  /** The constraint enforced: the configured one, tightened by stricter configs other replicas use. */
  constraint: Constraint;
  /** The constraint as this coordinator's config has it. */
  configured: Constraint;
  /** constraintKey(): stable across period changes. */
  key: string;
  scope: Scope;
  query: string;
  spec: SlotSpec;
}

/** A scope found full, remembered so repeats are refused without any Temporal call. */
interface FullScope {
  until: number;
  count: number;
  retryAt: number[];
  /** The workflow config it was found under (a ledger refusal): a reload asks again. */
  config?: WorkflowConfig;
  /** The constraint as the ledger enforced it. */
  enforced?: Constraint;
}

export class Admission {
  private readonly now: () => number;
  private readonly startMarginMs: number;
  private readonly visibilityTimeoutMs: number;
  private readonly visibilityBudget: TokenBucket;
  private readonly refusalCacheMs: number;
  /** Highest value seen per workflow constraint since start: slots above a lowered value still count. */
  private readonly highWater = new Map<string, number>();
  /** Scopes found full: refused again without a Temporal call until `until`. */
  private readonly full = new Map<string, FullScope>();

  constructor(private readonly deps: AdmissionDeps) {
    this.now = deps.now ?? Date.now;
    this.visibilityBudget = new TokenBucket(deps.visibilityQps ?? DEFAULT_VISIBILITY_QPS, this.now());
    this.startMarginMs = deps.startMarginMs ?? deps.temporal.callTimeoutMs;
    this.visibilityTimeoutMs = deps.visibilityTimeoutMs ?? 2_000;
    this.refusalCacheMs = deps.refusalCacheMs ?? 1_000;
  }

  /** Decides one trigger and records the decision: the single entry point for every trigger source. */
  async admitTrigger(req: TriggerRequest): Promise<TriggerOutcome> {
    const started = process.hrtime.bigint();
    let outcome: TriggerOutcome;
    let workflowId: string | undefined;
    const pending: PendingStart = {};
    try {
      ({ outcome, workflowId } = await this.decide(req, pending).catch((err: unknown) => {
        // A rolling upgrade: the fleet ledger still runs on an earlier release's worker, which
        // takes claims without constraints only. Nothing was recorded: decide the earlier way.
        if (err instanceof LedgerTooOldError) return this.decide(req, pending, true);
        throw err;
      }));
      // The fleet ledger admits this workflow's constraints now (another replica turned
      // fleet_constraints on): this replica follows it from now on, and decides again.
      if (outcome.result === 'refused' && outcome.refusal.constraint.kind === FLEET_CONSTRAINTS && this.deps.followFleet) {
        this.deps.followFleet(req.workflow);
        ({ outcome, workflowId } = await this.decide(req, pending));
      }
      outcome = await this.beyondBudget(req, outcome);
    } catch (err) {
      outcome = this.failure(err, 'admit', pending);
    }
    this.record(req, outcome, workflowId, Number(process.hrtime.bigint() - started) / 1e9);
    return outcome;
  }

  /** A request for a human when the workflow asks for one, or undefined when it starts as usual. */
  private async askApproval(
    req: TriggerRequest,
    when: 'always' | 'beyond_budget',
    why: string,
  ): Promise<TriggerOutcome | undefined> {
    const wf = this.deps.workflows().get(req.workflow);
    if (!wf?.approval || wf.approval.when !== when || req.approval || req.dryRun || !this.deps.approvals) return undefined;
    const checked = validateTrigger(req, wf);
    if ('result' in checked) return checked;
    const { id, expiresAt } = await this.deps.approvals.request(req, wf, checked.params, why);
    return { result: 'awaiting_approval', approvalId: id, expiresAt, why };
  }

  /** `when = "beyond_budget"`: a start refused by a constraint or a budget waits for a human instead. */
  private async beyondBudget(req: TriggerRequest, outcome: TriggerOutcome): Promise<TriggerOutcome> {
    if (outcome.result !== 'refused' || outcome.dryRun) return outcome;
    if (!BEYOND_BUDGET_KINDS.includes(String(outcome.refusal.constraint.kind))) return outcome;
    const r = outcome.refusal;
    const why =
      r.message ?? `refused by ${String(r.constraint.description)}: ${r.count} counted in scope ${String(r.constraint.scope)}`;
    return (await this.askApproval(req, 'beyond_budget', why)) ?? outcome;
  }

  private failure(err: unknown, operation: string, pending: PendingStart): TriggerOutcome {
    this.deps.metrics.temporalErrors.inc({ operation });
    const start: StartState = pending.sent
      ? { started: 'unknown', ...(pending.workflowId && { workflow_id: pending.workflowId }) }
      : { started: false };
    if (err instanceof LedgerFailedError) {
      // Only the workflows this ledger governs wait; everything else is admitted as usual.
      this.deps.log(err.message);
      return {
        result: 'error',
        code: 'ledger_failed',
        message: `${err.message}; the triggers it governs are refused until it runs again (see the upgrade docs)`,
        details: { ledger: err.ledger, reason: err.reason, ...start },
      };
    }
    if (err instanceof ClaimExpiredError || err instanceof LedgerSeedingError) {
      const given =
        err instanceof ClaimExpiredError ? ': nothing started, the claim is given back (Temporal answers slowly)' : '';
      this.deps.log(`${err.message}${given}`);
      return {
        result: 'error',
        code: 'temporal_unavailable',
        message: `${err.message}; nothing was started; retry later`,
        details: { started: false },
      };
    }
    if (isTemporalUnavailable(err)) {
      return {
        result: 'error',
        code: 'temporal_unavailable',
        message: 'Temporal is unreachable or did not answer in time; retry later',
        details: start,
      };
    }
    this.deps.log(`trigger failed in ${operation}: ${(err as Error).name}: ${(err as Error).message}`);
    return {
      result: 'error',
      code: 'internal',
      message: 'the trigger failed; the coordinator log has the cause',
      details: start,
    };
  }

  /** The slots of one constraint in one scope, and how a holder is started in them. */
  private evaluation(
    wf: WorkflowConfig,
    configured: Constraint,
    req: TriggerRequest,
    now: number,
    nonce: string,
    start: (c: Constraint, workflowId: string, enforced: Constraint) => Promise<string>,
    ledger?: readonly Enforced[],
  ): Evaluation {
    const key = constraintKey(configured, wf.constraints);
    const scope = scopeOf(configured, wf.taskQueueTarget, req.target);
    const hw = `${wf.name}|${key}`;
    // The ledger knows every replica's config in use: this admission's answer, else its latest announce.
    const eff = ledger?.find((l) => l.key === key && l.kind === configured.kind) ?? this.deps.configs?.effective(wf, configured);
    const value = eff?.value ?? configured.value;
    const periodMs = eff?.periodMs ?? configured.periodMs;
    const constraint: Constraint =
      value !== configured.value || periodMs !== configured.periodMs ? { ...configured, value, periodMs } : configured;
    const highWater = Math.max(this.highWater.get(hw) ?? 0, configured.value, eff?.highWater ?? 0);
    this.highWater.set(hw, Math.max(this.highWater.get(hw) ?? 0, configured.value));
    return {
      constraint,
      configured,
      key,
      scope,
      query: visibilityQuery(wf.name, constraint, scope, now),
      spec: {
        id: (slot) =>
          constraint.kind === 'concurrency' ? slotWorkflowId(wf.name, scope, slot) : leaseWorkflowId(wf.name, key, scope, slot),
        value: constraint.value,
        highWater,
        nonce,
        now: this.now,
        start: (workflowId) => start(configured, workflowId, constraint),
      },
    };
  }

  private cacheKey(wf: string, e: Evaluation): string {
    return `${wf}|${e.key}|${e.constraint.value}|${e.constraint.periodMs}|${e.scope.key}`;
  }

  /** When a holder frees its slot at the latest (concurrency: the end of its period; it may free earlier). */
  private expiry(c: Constraint, h: SlotHolder): number {
    return h.startTime + leaseTimeoutMs(c, this.startMarginMs);
  }

  /** A full concurrency scope: remembered for refusalCacheMs (a holder may close any moment). */
  private refusal(wfName: string, e: Evaluation, holders: SlotHolder[]): TriggerOutcome {
    const retryAt = holders.map((h) => this.expiry(e.constraint, h));
    if (this.refusalCacheMs > 0)
      this.full.set(this.cacheKey(wfName, e), { until: this.now() + this.refusalCacheMs, count: holders.length, retryAt });
    return this.refused(e, holders.length, retryAt);
  }

  private refused(e: Evaluation, count: number, retryAt: number[]): TriggerOutcome {
    return {
      result: 'refused',
      dryRun: false,
      refusal: {
        constraint: {
          ...constraintJson(e.constraint, e.scope),
          ...(e.constraint !== e.configured && { configured: describeConstraint(e.configured), stricter_config_in_use: true }),
        },
        count,
        retryAfterSeconds: refusalRetryAfter(e.constraint, retryAt, this.now()),
      },
    };
  }

  private async decide(
    req: TriggerRequest,
    pending: PendingStart,
    earlierWay = false,
  ): Promise<{ outcome: TriggerOutcome; workflowId?: string }> {
    const wf = this.deps.workflows().get(req.workflow);
    if (!wf) {
      return {
        outcome: {
          result: 'invalid',
          code: 'unknown_workflow',
          message: `no workflow named ${JSON.stringify(req.workflow)}`,
          details: {},
        },
      };
    }
    const checked = validateTrigger(req, wf);
    if ('result' in checked) return { outcome: checked };
    const asked = await this.askApproval(req, 'always', 'this workflow is always approved by a human first');
    if (asked) return { outcome: asked };
    // Other replicas' configs must be known before deciding (a stricter one governs).
    await this.deps.configs?.ready(wf);
    const { taskQueue, params } = checked;
    const trigger = req.identity ?? `anonymous:${req.source}`;
    // An approved start is keyed by its approval: every approver and replica finds the one execution.
    const keyedId = req.approval
      ? idempotentExecutionId(wf.name, trigger, 'approval', req.approval.id)
      : req.idempotencyKey
        ? idempotentExecutionId(wf.name, trigger, req.source, req.idempotencyKey)
        : undefined;
    // An execution whose id must be known before it starts: a keyed one (repeats find it), and
    // one fleet safety holds the node or a budget for, or records in shadow mode. Its concurrency
    // slot is then held by a lease naming it; any other takes its slot by starting under the slot's id.
    const fleetNamed = this.deps.fleet && (wf.disruptive || wf.mode === 'shadow');
    const namedId = keyedId ?? (fleetNamed ? freeExecutionId(wf.name) : undefined);
    const nonce = randomUUID();
    const now = this.now();
    const input: WorkflowInput = {
      workflow: wf.name,
      target: req.target,
      params,
      paramSchema: paramSchemaOf(wf),
      reason: req.reason,
      trigger,
      ...(wf.steps ? { steps: wf.steps } : {}),
      ...(wf.diagnose ? { diagnose: wf.diagnose } : {}),
      // Machine steps run on the target's queue; the workflow itself off the machine (workflowQueue).
      activityQueue: taskQueue,
      timeoutMs: wf.timeoutMs,
      ...(wf.onUnhealed && { onUnhealed: wf.onUnhealed }),
      ...(req.ladder && { ladder: req.ladder }),
    };

    // The fleet ledger admits the workflow's constraints with its node and budgets: one update, no slot or lease.
    const atFleet = !req.dryRun && !earlierWay && this.deps.fleet !== undefined && this.deps.atFleet?.(wf) === true;
    const viaLedger = usesLedger(wf) && !atFleet ? this.deps.ledger : undefined;
    return this.deps.temporal.withDeadline(async (client) => {
      // What fleet safety holds for the execution, in its memo (set once fleet safety has admitted it).
      let fleetMemo: Record<string, string> = {};
      const startExecution = async (workflowId: string): Promise<string> => {
        Object.assign(pending, { workflowId, sent: true });
        const handle = await client.workflow.start(wf.workflowType, {
          taskQueue: workflowQueue(req.target, taskQueue),
          workflowExecutionTimeout: wf.timeoutMs + TIMEOUT_BACKSTOP_MS, // the run pages by timeoutMs; this is the backstop
          workflowId,
          args: [input],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: keyedId ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE',
          typedSearchAttributes: startSearchAttributes({
            workflow: wf.name,
            node: req.target.node,
            datacenter: req.target.datacenter,
            trigger,
            ladder: req.ladder?.episode,
          }),
          memo: {
            [NONCE_MEMO]: nonce,
            ...((viaLedger || atFleet) && { [SCOPES_MEMO]: JSON.stringify(scopes) }),
            ...fleetMemo,
            ...(req.reason ? { reason: req.reason } : {}),
            ...(req.ladder && { [LADDER_MEMO]: JSON.stringify(req.ladder.steps) }),
          },
        });
        return handle.firstExecutionRunId;
      };
      // A concurrency lease holds while the execution it names runs.
      const leaseMemo = (c: Constraint): Record<string, string> => ({
        [NONCE_MEMO]: nonce,
        execution: namedId ?? freeId ?? '',
        workflow: wf.name,
        constraint: describeConstraint(c),
        trigger,
      });
      // The first concurrency constraint is held by the execution itself (or, with a key, by a lease naming it).
      const start = (c: Constraint, workflowId: string, enforced: Constraint): Promise<string> =>
        c === primaryConstraint && !namedId
          ? startExecution(workflowId)
          : startLease(client, workflowId, FOLLOWING_LEASE_MS, leaseMemo(enforced));
      // A disruptive workflow's per-node concurrency is implied by its node lock at the fleet
      // ledger (one disruptive remediation per node, whatever the value, and every release takes
      // it): no slot or lease of its own. Dry runs still show it.
      const lockCovers = (c: Constraint): boolean => !req.dryRun && Boolean(fleetNamed) && nodeLockCovers(wf, c);
      const ordered = admissionOrder(wf.constraints).filter((c) => !lockCovers(c));
      const primaryConstraint = atFleet ? undefined : ordered.find((c) => c.kind === 'concurrency');
      const freeId = primaryConstraint ? undefined : freeExecutionId(wf.name);
      let evaluations = ordered.map((c) => this.evaluation(wf, c, req, now, nonce, start));
      const scopes = Object.fromEntries(evaluations.map((e) => [e.key, e.scope.key]));

      if (keyedId) {
        const existing = await findExecution(client, keyedId);
        if (existing) return { outcome: { result: 'duplicate', workflowId: keyedId, ...existing }, workflowId: keyedId };
      }
      if (req.dryRun) {
        // The ledger's view of the configs in use, without recording anything.
        const fromLedger = viaLedger ? await viaLedger.enforced(client, wf) : undefined;
        if (fromLedger) evaluations = ordered.map((c) => this.evaluation(wf, c, req, now, nonce, start, fromLedger));
        return { outcome: await this.dryRun(client, evaluations, taskQueue) };
      }

      for (const e of evaluations) {
        const full = this.full.get(this.cacheKey(wf.name, e));
        if (full && full.until > this.now()) return { outcome: this.refused(e, full.count, full.retryAt) };
        // Expired: this admission asks Temporal again; the ones arriving meanwhile are still
        // refused from memory (one call per expiry, not one per waiting caller).
        if (full) full.until = this.now() + this.refusalCacheMs;
        const windowFull: FullScope | undefined =
          viaLedger || atFleet ? this.full.get(this.ledgerCacheKey(wf.name, e)) : undefined;
        if (windowFull && windowFull.config === wf && windowFull.until > this.now())
          return { outcome: this.refused({ ...e, constraint: windowFull.enforced! }, windowFull.count, windowFull.retryAt) };
      }
      let ledgerAdmitted = false;
      // Past the admission ledger's orphan grace its admission may be freed: the start must come before.
      let ledgerStartBy: number | undefined;
      const held = evaluations.filter((e) => e.constraint.kind === 'concurrency');
      if (viaLedger && (held.length || ordered.some((c) => c.kind === 'maxExecution'))) {
        // One update decides every maxExecution window and the places of every concurrency
        // constraint, and returns the constraints as every replica's configs allow.
        const running: Record<string, string[]> = {};
        const ask = (): ReturnType<LedgerClient['admit']> =>
          viaLedger.admit(client, wf, {
            id: nonce,
            scopes,
            where: { execution: namedId ?? freeId, slots: primaryConstraint && !namedId ? `${wf.name}:` : undefined },
            ...(held.length && {
              hold: { keys: held.map((e) => e.key), forMs: wf.timeoutMs + TIMEOUT_BACKSTOP_MS + this.startMarginMs },
              running,
            }),
          });
        let sentAt = Date.now();
        let answer = await ask();
        for (let asked = 0; !answer.ok && answer.refusal.kind === 'concurrency' && asked < held.length; asked++) {
          // The ledger's holds are a mirror: the slots and leases say which still run (reads
          // only). Full: refused, nothing written. Not: the closed ones' holds end with this admission.
          const r = answer.refusal;
          const first = held.find((e) => e.key === r.key);
          if (!first || running[r.key]) break;
          const e = { ...first, constraint: { ...first.constraint, value: r.value } };
          const holders = await inspectSlots(client, { ...e.spec, value: r.value });
          if (holders.length >= r.value) return { outcome: this.refusal(wf.name, e, holders) };
          running[r.key] = holders.map((h) => h.nonce ?? h.workflowId);
          sentAt = Date.now();
          answer = await ask();
        }
        if (!answer.ok) return { outcome: this.ledgerRefusal(wf, evaluations, answer.refusal) };
        ledgerAdmitted = true;
        if (answer.answer.graceMs !== undefined) ledgerStartBy = startDeadline(sentAt, answer.answer.graceMs);
        this.deps.configs?.observe(wf, answer.answer.enforced);
        await failpoint('admission.after_ledger_admit');
        const enforced = answer.answer.enforced;
        evaluations = ordered.map((c) => this.evaluation(wf, c, req, now, nonce, start, enforced));
      }
      const primary = evaluations.find((e) => e.configured === primaryConstraint);
      // The ledger decided the maxExecution windows: further concurrency constraints take leases.
      const leased = atFleet ? [] : evaluations.filter((e) => e !== primary && e.constraint.kind === 'concurrency');
      // A refusal writes nothing: before taking leases, a full concurrency scope refuses on reads alone.
      if (primary && leased.length) {
        const holders = await inspectSlots(client, primary.spec);
        if (holders.length >= primary.constraint.value) {
          if (ledgerAdmitted) await this.giveBack(client, wf, nonce);
          return { outcome: this.refusal(wf.name, primary, holders) };
        }
      }
      // Visibility counts run beside the slots: they see executions that hold no slot (started
      // outside medic); the slots see what visibility has not indexed yet. Either refusing refuses.
      // A ledger needs no count: it is exact, and reconciliation compares it with visibility.
      const counts = viaLedger || atFleet ? [] : evaluations.map((e) => this.visibleCount(e.query));
      const taken: Claimed[] = [];
      let keepLeases = false;
      let releaseFleet: ((why: string) => Promise<void>) | undefined;
      try {
        const startAt = Math.floor(Math.random() * 1_000_000);
        for (const e of leased) {
          const r = await claimSlot(client, e.spec, startAt);
          if (!r.ok) return { outcome: this.refusal(wf.name, e, r.holders) };
          taken.push(r.claimed);
        }
        for (const [i, e] of evaluations.entries()) {
          if (i >= counts.length) break;
          const count = await counts[i];
          if (count !== undefined && count >= e.constraint.value) {
            const retryAt = await this.visibleRetryAt(e);
            return { outcome: this.refused(e, count, retryAt) };
          }
        }
        let workflowId = namedId ?? freeId ?? freeExecutionId(wf.name);
        let tookLast = false;
        // Fleet safety: pauses, freezes, circuit breaker, flapping, the per-node lock and budgets
        // (holds released with the leases when the start does not happen); shadow mode answers here.
        const fleet = await this.deps.fleet?.admit(client, {
          ...req,
          params,
          workflow: wf,
          workflowId,
          taskQueue,
          trigger,
          overBudget: req.approval?.beyondBudget,
          ...(atFleet && {
            admit: this.deps.ledger.fleetAdmit(wf, scopes, wf.timeoutMs + TIMEOUT_BACKSTOP_MS + this.startMarginMs, workflowId),
          }),
        });
        if (fleet && !fleet.proceed)
          return 'constraint' in fleet
            ? { outcome: this.ledgerRefusal(wf, evaluations, fleet.constraint) }
            : { outcome: fleet.outcome, workflowId };
        if (fleet?.admitted) this.deps.configs?.observe(wf, fleet.admitted.enforced);
        releaseFleet = fleet?.release;
        fleetMemo = fleet?.memo ?? {};
        await failpoint('fleet.after_claim');
        await this.deps.afterFleetClaim?.();
        // Past a ledger's orphan grace (the admission ledger's, the fleet ledger's) its place may be
        // freed and taken: a start is sent only before the earlier, under a deadline that ends there.
        const bounds = [ledgerStartBy, fleet?.startBy].filter((t): t is number => t !== undefined);
        const startBy = bounds.length ? Math.min(...bounds) : undefined;
        const inTime = <T>(start: () => Promise<T>): Promise<T> => {
          if (startBy === undefined) return start();
          if (Date.now() >= startBy)
            throw new ClaimExpiredError(`the ledgers' places for ${workflowId} passed their orphan grace before the start`);
          return client.connection.withDeadline(startBy, start);
        };
        let runId: string;
        if (primary) {
          // Unkeyed, the execution starts under the first free slot's id (unknown until claimed).
          if (!namedId) Object.assign(pending, { workflowId: undefined, sent: true });
          const r = await inTime(() => claimSlot(client, primary.spec, startAt));
          tookLast = r.ok && r.full;
          if (!r.ok) return { outcome: this.refusal(wf.name, primary, r.holders) };
          if (namedId) taken.push(r.claimed);
          else ({ workflowId, runId } = r.claimed);
        }
        if (!primary || namedId) {
          try {
            runId = await this.resolved(client, workflowId, nonce, () => inTime(() => startExecution(workflowId)));
          } catch (err) {
            if (err instanceof WorkflowExecutionAlreadyStartedError && keyedId) {
              // The fleet ledger's hold is the execution's (a keyed claim has its id): the one
              // that runs keeps it, so this attempt gives nothing back there.
              releaseFleet = undefined;
              const first = await this.awaitExecution(client, keyedId);
              if (first) return { outcome: { result: 'duplicate', workflowId, ...first }, workflowId };
            }
            throw err;
          }
        }
        await failpoint('admission.after_start');
        keepLeases = true;
        for (const e of evaluations) this.full.delete(this.cacheKey(wf.name, e));
        // This start took the last free slot: callers arriving now are refused from memory.
        if (primary && tookLast && this.refusalCacheMs > 0) {
          const retryAt = [this.now() + leaseTimeoutMs(primary.constraint, this.startMarginMs)];
          this.full.set(this.cacheKey(wf.name, primary), {
            until: this.now() + this.refusalCacheMs,
            count: primary.constraint.value,
            retryAt,
          });
        }
        return { outcome: { result: 'started', workflowId, runId: runId!, taskQueue }, workflowId };
      } catch (err) {
        // After an unknown outcome the execution may run: its leases stay until they expire.
        if (isUnknownOutcome(err) || err instanceof TemporalUnavailableError) keepLeases = true;
        throw err;
      } finally {
        if (!keepLeases && (taken.length || releaseFleet || ledgerAdmitted)) {
          const why = 'admission did not start its execution';
          await Promise.all([
            ...taken.map((l) => releaseLease(client, l, why)),
            releaseFleet?.(why),
            ledgerAdmitted && this.giveBack(client, wf, nonce),
          ]).catch((err: unknown) =>
            this.deps.log(`releasing leases failed (they expire by themselves): ${(err as Error).message}`),
          );
        }
      }
    });
  }

  private ledgerCacheKey(wf: string, e: Evaluation): string {
    return `${wf}|${e.key}|${e.scope.key}|ledger`;
  }

  /**
   * A ledger refusal as an answer, remembered for refusalCacheMs only: the ledger, not this
   * replica, says when the window has room (an admission given back or swept frees a place
   * before the window rolls; a refusal remembered until then would under-admit).
   */
  private ledgerRefusal(wf: WorkflowConfig, evaluations: Evaluation[], r: LedgerRefusal): TriggerOutcome {
    const e = evaluations.find((x) => x.key === r.key) ?? evaluations[0]!;
    const enforced: Constraint = { ...e.configured, value: r.value, periodMs: r.periodMs };
    const now = this.now();
    // Ledger times are Temporal's: what counts here is how long until the window has room.
    const retryAt = [now + Math.max(0, r.retryAt - r.now)];
    const shown = enforced.value === e.configured.value && enforced.periodMs === e.configured.periodMs ? e.configured : enforced;
    if (this.refusalCacheMs > 0) {
      this.full.set(this.ledgerCacheKey(wf.name, e), {
        until: now + this.refusalCacheMs,
        count: r.count,
        retryAt,
        config: wf,
        enforced: shown,
      });
    }
    return this.refused({ ...e, constraint: shown }, r.count, retryAt);
  }

  /** Gives a ledger admission back after its execution was not started (best effort: the ledger's orphan sweep frees it otherwise). */
  private async giveBack(client: Client, wf: WorkflowConfig, id: string): Promise<void> {
    try {
      await this.deps.ledger!.release(client, wf, id);
    } catch (err) {
      this.deps.log(`giving back a ledger admission failed (the ledger frees it within a minute): ${(err as Error).message}`);
    }
  }

  /** Runs a start; when its outcome is unknown, the id says whether it happened (our nonce) instead of a guess. */
  private async resolved(client: Client, workflowId: string, nonce: string, start: () => Promise<string>): Promise<string> {
    try {
      return await start();
    } catch (err) {
      if (!isUnknownOutcome(err)) throw err;
      const d = await client.workflow
        .getHandle(workflowId)
        .describe()
        .catch(() => undefined);
      if (d && d.memo?.[NONCE_MEMO] === nonce) return d.runId;
      throw new TemporalUnavailableError(`the start of ${workflowId} has an unknown outcome: ${(err as Error).message}`);
    }
  }

  /** A visibility count, or undefined when visibility does not answer in time (the leases still decide). */
  private async visibleCount(query: string): Promise<number | undefined> {
    if (!this.visibilityBudget.take(this.now())) {
      this.deps.metrics.visibilitySkipped.inc();
      return undefined;
    }
    try {
      const { count } = await this.deps.temporal.visibility((c) => c.workflow.count(query), this.visibilityTimeoutMs);
      return count;
    } catch {
      this.deps.metrics.temporalErrors.inc({ operation: 'visibility_count' });
      return undefined;
    }
  }

  /** When the oldest counted execution leaves the window. */
  private async visibleRetryAt(e: Evaluation): Promise<number[]> {
    const starts: number[] = [];
    try {
      await this.deps.temporal.visibility(async (c) => {
        for await (const wf of c.workflow.list({ query: e.query, pageSize: 100 })) {
          starts.push(wf.startTime.getTime() + e.constraint.periodMs);
          if (starts.length >= 1000) break;
        }
      }, this.visibilityTimeoutMs);
    } catch {
      this.deps.metrics.temporalErrors.inc({ operation: 'visibility_list' });
    }
    return starts;
  }

  private async awaitExecution(client: Client, workflowId: string): Promise<{ runId: string; taskQueue: string } | undefined> {
    const deadline = this.now() + 3_000;
    for (;;) {
      const found = await findExecution(client, workflowId);
      if (found || this.now() > deadline) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async dryRun(client: Client, evaluations: Evaluation[], taskQueue: string): Promise<TriggerOutcome> {
    const checks = await Promise.all(
      evaluations.map(async (e) => {
        // Concurrency slots are looked at; maxExecution windows are counted in visibility, the ledger's witness.
        const [count, holders] = await Promise.all([
          this.visibleCount(e.query),
          e.constraint.kind === 'concurrency' ? inspectSlots(client, e.spec) : [],
        ]);
        const seen = Math.max(count ?? 0, holders.length);
        return {
          e,
          holders,
          check: { constraint: constraintJson(e.constraint, e.scope), count: seen, passes: seen < e.constraint.value },
        };
      }),
    );
    const failed = checks.find((c) => !c.check.passes);
    if (failed) {
      return {
        result: 'refused',
        dryRun: true,
        checks: checks.map((c) => c.check),
        refusal: {
          constraint: failed.check.constraint,
          count: failed.check.count,
          retryAfterSeconds: refusalRetryAfter(
            failed.e.constraint,
            failed.holders.map((h) => this.expiry(failed.e.constraint, h)),
            this.now(),
          ),
        },
      };
    }
    return { result: 'dry_run', taskQueue, checks: checks.map((c) => c.check) };
  }

  /**
   * Compares what admission allowed with what Temporal visibility shows, once: sets
   * medic_coordinator_admission_drift per workflow and kind, and logs each scope over its limit.
   */
  async reconcileNow(): Promise<Discrepancy[]> {
    const workflows = [...this.deps.workflows().values()];
    const found = await this.deps.temporal.visibility((c) => reconcile(c, workflows, this.now()), 30_000);
    this.deps.metrics.admissionDrift.reset();
    for (const wf of workflows)
      for (const c of wf.constraints) this.deps.metrics.admissionDrift.set({ workflow: wf.name, kind: c.kind }, 0);
    for (const d of found) {
      this.deps.metrics.admissionDrift.inc({ workflow: d.workflow, kind: d.kind }, d.count - d.value);
      this.deps.log(
        `admission drift: ${d.workflow} ${d.constraint} in ${d.scope}: visibility shows ${d.count}, the limit is ${d.value}` +
          (d.outside.length ? `; started outside medic: ${d.outside.slice(0, 5).join(', ')}` : ''),
      );
    }
    return found;
  }

  /** Runs reconcileNow every `intervalMs` until the returned function is called (it resolves once no round is in flight). */
  startReconciliation(intervalMs: number): () => Promise<void> {
    let running: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      if (running) return;
      running = this.reconcileNow()
        .catch((err: unknown) => {
          if (!isTemporalUnavailable(err)) this.deps.log(`reconciliation failed: ${(err as Error).message}`);
        })
        .finally(() => (running = undefined));
    }, intervalMs);
    timer.unref();
    // Stopping waits for a round in flight: no call may outlive the coordinator's connection.
    return async () => {
      clearInterval(timer);
      await settledWithin(running, STOP_WAIT_MS);
    };
  }

  /** Records a trigger refused before admission because its caller may not run the workflow (chat allow rules). */
  recordDenial(req: Pick<TriggerRequest, 'workflow' | 'target' | 'identity' | 'source'>, reason: string): void {
    const known = this.deps.workflows().has(req.workflow);
    this.deps.metrics.triggers.inc({ workflow: known ? req.workflow : '_unknown', result: 'denied', source: req.source });
    this.deps.audit({
      decision: 'denied',
      identity: req.identity,
      source: req.source,
      workflow: req.workflow,
      target: req.target,
      reason,
    });
  }

  /** Records a decision made outside admitTrigger (a trigger body that failed schema validation). */
  recordDecision(req: TriggerRequest, outcome: TriggerOutcome): void {
    this.record(req, outcome, undefined, 0);
  }

  private record(req: TriggerRequest, outcome: TriggerOutcome, workflowId: string | undefined, seconds: number): void {
    const { metrics } = this.deps;
    const known = this.deps.workflows().has(req.workflow);
    // Unknown names come from callers: never a label value (unbounded cardinality).
    const workflowLabel = known ? req.workflow : '_unknown';
    const result: TriggerResult = outcome.result;
    metrics.triggers.inc({ workflow: workflowLabel, result, source: req.source });
    metrics.triggerSeconds.observe({ result }, seconds);
    if (outcome.result === 'refused' && !outcome.dryRun) {
      const c = outcome.refusal.constraint;
      metrics.refusals.inc({ workflow: workflowLabel, kind: String(c.kind), scope: c.is_global ? 'global' : 'target' });
    }
    this.deps.audit({
      decision: outcome.result === 'refused' && outcome.dryRun ? 'dry_run_refused' : outcome.result,
      identity: req.identity,
      source: req.source,
      workflow: req.workflow,
      target: req.target,
      workflow_id: 'workflowId' in outcome ? outcome.workflowId : outcome.result === 'refused' ? undefined : workflowId,
      run_id: 'runId' in outcome ? outcome.runId : undefined,
      task_queue: 'taskQueue' in outcome ? outcome.taskQueue : undefined,
      constraint: outcome.result === 'refused' ? String(outcome.refusal.constraint.description) : undefined,
      ...(outcome.result === 'refused' && refusalAudit(outcome.refusal)),
      count: outcome.result === 'refused' ? outcome.refusal.count : undefined,
      reason:
        outcome.result === 'invalid' || outcome.result === 'error'
          ? outcome.message
          : outcome.result === 'awaiting_approval'
            ? `awaiting approval (${outcome.why})${req.reason ? `: ${req.reason}` : ''}`
            : req.reason,
      ...(outcome.result === 'awaiting_approval' ? { approval_id: outcome.approvalId } : {}),
      ...(req.approval ? { approval_id: req.approval.id, approver: req.approval.by } : {}),
    });
  }
}
