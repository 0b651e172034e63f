// Constraint arithmetic: scopes, the visibility query that counts executions in a scope,
// the IDs of the slot leases that make admission race-free, and when a refusal may pass.
// Pure: no I/O, table-tested. The I/O lives in leases.ts and admission.ts.
import type { Constraint } from '../config/workflow';
import { formatDuration } from '../config/duration';
import { queryValue } from '../temporal/search-attributes';
import type { Target } from '../temporal/task-queues';

/** What a constraint counts over: every execution of the workflow, or those on one target. */
export interface Scope {
  /** "global", "node=<node>", or "datacenter=<dc>" for targets without a node. */
  key: string;
  global: boolean;
  node?: string;
  datacenter?: string;
}

/**
 * The scope of a constraint for a target. Per-target scope is the node; a target without a
 * node (general or node-type queues) is scoped to its datacenter, which is wider, so safe.
 */
export function scopeOf(c: Constraint, target: Target): Scope {
  if (c.isGlobal) return { key: 'global', global: true };
  if (target.node) return { key: `node=${target.node}`, global: false, node: target.node };
  return { key: `datacenter=${target.datacenter ?? ''}`, global: false, datacenter: target.datacenter ?? '' };
}

/** "concurrency 1/15m per target", "maxExecution 3/24h global". */
export function describeConstraint(c: Constraint): string {
  return `${c.kind} ${c.value}/${formatDuration(c.periodMs)} ${c.isGlobal ? 'global' : 'per target'}`;
}

/** The constraint as API responses show it. */
export function constraintJson(c: Constraint, scope?: Scope): Record<string, unknown> {
  return {
    kind: c.kind,
    value: c.value,
    period: formatDuration(c.periodMs),
    is_global: c.isGlobal,
    ...(scope ? { scope: scope.key } : {}),
    description: describeConstraint(c),
  };
}

/**
 * Counts executions of `workflow` in the scope that this constraint counts: started within the
 * period, and for concurrency only those still running. Values pass through queryValue.
 */
export function visibilityQuery(workflow: string, c: Constraint, scope: Scope, now: number): string {
  const parts = [`MedicWorkflow = ${queryValue(workflow)}`];
  if (scope.node !== undefined) parts.push(`MedicNode = ${queryValue(scope.node)}`);
  if (scope.datacenter !== undefined) parts.push(`MedicDatacenter = ${queryValue(scope.datacenter)}`);
  parts.push(`StartTime > ${queryValue(new Date(now - c.periodMs).toISOString())}`);
  if (c.kind === 'concurrency') parts.push(`ExecutionStatus = 'Running'`);
  return parts.join(' AND ');
}

/**
 * The workflow ID of slot `slot` of a constraint in a scope. At most one lease per ID can run
 * (workflowIdConflictPolicy FAIL), so `value` IDs admit at most `value` starts. Workflow
 * names and target names never contain ':', so IDs of different scopes cannot collide.
 */
export function leaseWorkflowId(workflow: string, c: Constraint, scope: Scope, slot: number): string {
  return `medic-lease:${workflow}:${scope.key}:${c.kind}:${c.periodMs}:${slot}`;
}

/**
 * How long a lease holds its slot: the period, plus the longest a start may take after its
 * lease was taken, so the lease covers the whole period from the execution's start time.
 */
export function leaseTimeoutMs(c: Constraint, startMarginMs: number): number {
  return c.periodMs + startMarginMs;
}

/** Slots in the order to try them: all of them, from a starting point (spreads concurrent callers). */
export function slotOrder(value: number, start: number): number[] {
  const first = ((start % value) + value) % value;
  return Array.from({ length: value }, (_, i) => (first + i) % value);
}

/** Whole seconds until the earliest of `times` (ms since epoch), at least 1: for Retry-After. */
export function retryAfterSeconds(times: number[], now: number): number {
  if (times.length === 0) return 1;
  return Math.max(1, Math.ceil((Math.min(...times) - now) / 1000));
}

/**
 * Constraints in the order admission takes their leases: per-target before global (a busy
 * node fails fast without holding a fleet-wide slot meanwhile), concurrency before maxExecution.
 */
export function admissionOrder(constraints: readonly Constraint[]): Constraint[] {
  const rank = (c: Constraint): number => (c.isGlobal ? 2 : 0) + (c.kind === 'concurrency' ? 0 : 1);
  return [...constraints].sort((a, b) => rank(a) - rank(b));
}
