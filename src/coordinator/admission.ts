// admitTrigger: the one path by which anything starts a medic workflow. The trigger API, the
// Alertmanager webhook and chat commands all call it with their `source`. It validates the
// target, checks every safety constraint (visibility counts, plus slot leases that make the
// decision race-free across coordinators), starts the workflow on the queue its target
// selects, and records the decision (audit line, metrics).
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Constraint, WorkflowConfig } from '../config/workflow';
import { DEFAULT_VISIBILITY_QPS } from '../config/coordinator';
import { startSearchAttributes } from '../temporal/search-attributes';
import { invalidName, queueFor, workflowQueue, type Target } from '../temporal/task-queues';
import type { WorkflowInput } from '../../workflows/input';
import type { AuditSink } from './audit';
import {
  admissionOrder,
  constraintJson,
  describeConstraint,
  retryAfterSeconds,
  scopeOf,
  visibilityQuery,
  type Scope,
} from './constraints';
import { inspectSlots, releaseLease, takeSlot, type Lease, type LeaseSpec } from './leases';
import type { CoordinatorMetrics, TriggerResult } from './metrics';
import { isTemporalUnavailable, type TemporalGateway } from './temporal-gateway';

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
}

export interface ConstraintCheck {
  constraint: Record<string, unknown>;
  /** Executions counted in the scope (visibility count, or slots held, whichever is higher). */
  count: number;
  passes: boolean;
}

export interface Refusal {
  constraint: Record<string, unknown>;
  count: number;
  retryAfterSeconds: number;
}

export type TriggerOutcome =
  | { result: 'started' | 'duplicate'; workflowId: string; runId: string; taskQueue: string }
  | { result: 'dry_run'; taskQueue: string; checks: ConstraintCheck[] }
  | { result: 'refused'; dryRun: boolean; refusal: Refusal; checks?: ConstraintCheck[] }
  | { result: 'invalid'; code: 'invalid_request' | 'unknown_workflow'; message: string; details: Record<string, unknown> }
  | { result: 'error'; code: 'temporal_unavailable' | 'internal'; message: string };

export interface AdmissionDeps {
  /** The current workflow configs (swapped atomically on reload). */
  workflows(): ReadonlyMap<string, WorkflowConfig>;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  log(message: string): void;
  /** Longest time between taking a lease and starting its execution; leases last this much longer than the period. */
  startMarginMs?: number;
  /** Deadline of one visibility count; when it passes, the leases alone decide. */
  visibilityTimeoutMs?: number;
  /** Visibility queries per second this coordinator may make for admission (0: none); beyond it the leases alone decide. */
  visibilityQps?: number;
  now?: () => number;
}

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
const PARAM_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** Workflow id of a start: derived from the idempotency key when there is one, so a repeat finds it. */
export function executionId(workflow: string, target: Target, idempotencyKey?: string): string {
  if (idempotencyKey) return `${workflow}:idempotency:${idempotencyKey}`;
  return `${workflow}:${target.node ?? target.datacenter ?? 'any'}:${randomUUID()}`;
}

function invalid(message: string, details: Record<string, unknown>): TriggerOutcome {
  return { result: 'invalid', code: 'invalid_request', message, details };
}

/** Checks a request against its workflow's config; the queue it lands on, or why it cannot. */
function validate(req: TriggerRequest, wf: WorkflowConfig): { taskQueue: string } | TriggerOutcome {
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
  for (const key of Object.keys(req.params ?? {})) {
    if (!PARAM_KEY.test(key))
      return invalid(
        `params.${key}: a parameter name starts with a letter or "_" and has up to 64 letters, digits, "_", "." or "-"`,
        {
          field: `params.${key}`,
        },
      );
  }
  if (req.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(req.idempotencyKey)) {
    return invalid('idempotency_key must be 1-128 characters of letters, digits, ".", "_", ":" or "-"', {
      field: 'idempotency_key',
    });
  }
  return { taskQueue: choice.queue };
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
  constraint: Constraint;
  scope: Scope;
  spec: LeaseSpec;
  query: string;
}

export class Admission {
  private readonly now: () => number;
  private readonly startMarginMs: number;
  private readonly visibilityTimeoutMs: number;
  private readonly visibilityBudget: TokenBucket;

  constructor(private readonly deps: AdmissionDeps) {
    this.now = deps.now ?? Date.now;
    this.visibilityBudget = new TokenBucket(deps.visibilityQps ?? DEFAULT_VISIBILITY_QPS, this.now());
    this.startMarginMs = deps.startMarginMs ?? deps.temporal.callTimeoutMs;
    this.visibilityTimeoutMs = deps.visibilityTimeoutMs ?? 2_000;
  }

  /** Decides one trigger and records the decision: the single entry point for every trigger source. */
  async admitTrigger(req: TriggerRequest): Promise<TriggerOutcome> {
    const started = process.hrtime.bigint();
    let outcome: TriggerOutcome;
    let workflowId: string | undefined;
    try {
      ({ outcome, workflowId } = await this.decide(req));
    } catch (err) {
      outcome = this.failure(err, 'admit');
    }
    this.record(req, outcome, workflowId, Number(process.hrtime.bigint() - started) / 1e9);
    return outcome;
  }

  private failure(err: unknown, operation: string): TriggerOutcome {
    this.deps.metrics.temporalErrors.inc({ operation });
    if (isTemporalUnavailable(err)) {
      return {
        result: 'error',
        code: 'temporal_unavailable',
        message: 'Temporal is unreachable or did not answer in time; retry later',
      };
    }
    this.deps.log(`trigger failed in ${operation}: ${(err as Error).name}: ${(err as Error).message}`);
    return { result: 'error', code: 'internal', message: 'the trigger failed; the coordinator log has the cause' };
  }

  private async decide(req: TriggerRequest): Promise<{ outcome: TriggerOutcome; workflowId?: string }> {
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
    const checked = validate(req, wf);
    if ('result' in checked) return { outcome: checked };
    const { taskQueue } = checked;
    const workflowId = executionId(wf.name, req.target, req.idempotencyKey);
    const trigger = req.identity ?? `anonymous:${req.source}`;
    const now = this.now();
    const evaluations: Evaluation[] = admissionOrder(wf.constraints).map((constraint) => {
      const scope = scopeOf(constraint, req.target);
      return {
        constraint,
        scope,
        query: visibilityQuery(wf.name, constraint, scope, now),
        spec: { workflow: wf.name, constraint, scope, execution: workflowId, trigger, startMarginMs: this.startMarginMs },
      };
    });

    return this.deps.temporal.withDeadline(async (client) => {
      if (req.idempotencyKey) {
        const existing = await findExecution(client, workflowId);
        if (existing) return { outcome: { result: 'duplicate', workflowId, ...existing }, workflowId };
      }
      if (req.dryRun) return { outcome: await this.dryRun(client, evaluations, taskQueue) };

      // Visibility counts run beside the leases: they see executions that hold no lease
      // (started outside medic, or before a change of `value`); the leases see what
      // visibility has not indexed yet. Either one refusing refuses.
      const counts = evaluations.map((e) => this.visibleCount(e.query));
      const leases: Lease[] = [];
      const release = (why: string): Promise<void> =>
        Promise.all(leases.map((l) => releaseLease(client, l, why))).then(() => undefined);
      try {
        const startAt = Math.floor(Math.random() * 1_000_000);
        for (const [i, e] of evaluations.entries()) {
          const slot = await takeSlot(client, e.spec, this.now, startAt);
          if (!slot.ok) {
            await release(`refused by ${describeConstraint(e.constraint)}`);
            const count = Math.max(slot.holders.length, (await counts[i]) ?? 0);
            const refusal: Refusal = {
              constraint: constraintJson(e.constraint, e.scope),
              count,
              retryAfterSeconds: retryAfterSeconds(
                slot.holders.map((h) => h.expiresAt),
                this.now(),
              ),
            };
            // A concurrent request with the same key may hold the slot for the very execution we want.
            if (req.idempotencyKey && slot.holders.some((h) => h.execution === workflowId)) {
              const twin = await this.awaitExecution(client, workflowId);
              if (twin) return { outcome: { result: 'duplicate', workflowId, ...twin }, workflowId };
            }
            return { outcome: { result: 'refused', dryRun: false, refusal }, workflowId };
          }
          leases.push(slot.lease);
        }
        for (const [i, e] of evaluations.entries()) {
          const count = await counts[i];
          if (count !== undefined && count >= e.constraint.value) {
            await release(`refused by ${describeConstraint(e.constraint)} (visibility)`);
            const retryAt = await this.visibleRetryAt(e);
            return {
              outcome: {
                result: 'refused',
                dryRun: false,
                refusal: {
                  constraint: constraintJson(e.constraint, e.scope),
                  count,
                  retryAfterSeconds: retryAfterSeconds(retryAt, this.now()),
                },
              },
              workflowId,
            };
          }
        }
        const input: WorkflowInput = {
          workflow: wf.name,
          target: req.target,
          params: { ...wf.params, ...(req.params ?? {}) },
          reason: req.reason,
          trigger,
          ...(wf.steps ? { steps: wf.steps } : {}),
          activityQueue: taskQueue,
        };
        try {
          const handle = await client.workflow.start(wf.workflowType, {
            taskQueue: workflowQueue(req.target, taskQueue),
            workflowExecutionTimeout: wf.timeoutMs,
            workflowId,
            args: [input],
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: req.idempotencyKey ? 'REJECT_DUPLICATE' : 'ALLOW_DUPLICATE',
            typedSearchAttributes: startSearchAttributes({
              workflow: wf.name,
              node: req.target.node,
              datacenter: req.target.datacenter,
              trigger,
            }),
            memo: req.reason ? { reason: req.reason } : undefined,
          });
          return { outcome: { result: 'started', workflowId, runId: handle.firstExecutionRunId, taskQueue }, workflowId };
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError && req.idempotencyKey) {
            await release('idempotent repeat');
            const first = await findExecution(client, workflowId);
            if (first) return { outcome: { result: 'duplicate', workflowId, ...first }, workflowId };
          }
          throw err;
        }
      } catch (err) {
        await release('start failed').catch(() => undefined);
        throw err;
      }
    });
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
    const now = this.now();
    const checks = await Promise.all(
      evaluations.map(async (e) => {
        const [count, slots] = await Promise.all([this.visibleCount(e.query), inspectSlots(client, e.spec, now)]);
        const seen = Math.max(count ?? 0, slots.holders.length);
        return {
          e,
          slots,
          check: {
            constraint: constraintJson(e.constraint, e.scope),
            count: seen,
            passes: seen < e.constraint.value && slots.free > 0,
          },
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
          retryAfterSeconds: retryAfterSeconds(
            failed.slots.holders.map((h) => h.expiresAt),
            now,
          ),
        },
      };
    }
    return { result: 'dry_run', taskQueue, checks: checks.map((c) => c.check) };
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
      count: outcome.result === 'refused' ? outcome.refusal.count : undefined,
      reason: outcome.result === 'invalid' || outcome.result === 'error' ? outcome.message : req.reason,
    });
  }
}
