// Constraint arithmetic: scopes, the visibility query that counts executions in a scope,
// the IDs of the slots that make admission race-free, and when a refusal may pass.
// Pure: no I/O, table-tested; shared by admission (src/coordinator) and the trigger backtest.
import type { Constraint } from '../config/workflow';
import { formatDuration } from '../duration';
import { queryValue } from '../naming/search-attributes';
import type { QueueTarget, Target } from '../naming/task-queues';

/** What a constraint counts over: every execution of the workflow, or those with one routing key. */
export interface Scope {
  /** "global", "datacenter=<dc>", "datacenter=<dc>,node_type=<t>" or "node=<node>". */
  key: string;
  global: boolean;
  node?: string;
  datacenter?: string;
}

/**
 * The scope of a constraint: the routing key of the workflow's task_queue_target (general:
 * datacenter; node_type: datacenter and node type; node: the node), or everything when global.
 * Never a field the workflow does not route by, so a caller cannot widen its own budget by
 * adding target fields.
 */
export function scopeOf(c: Constraint, queueTarget: QueueTarget, target: Target): Scope {
  if (c.isGlobal) return { key: 'global', global: true };
  switch (queueTarget) {
    case 'node':
      return { key: `node=${target.node ?? ''}`, global: false, node: target.node ?? '' };
    case 'node_type':
      // Visibility has no node-type attribute: it counts the whole datacenter (wider, so safe).
      return {
        key: `datacenter=${target.datacenter ?? ''},node_type=${target.node_type ?? ''}`,
        global: false,
        datacenter: target.datacenter ?? '',
      };
    case 'general':
      return { key: `datacenter=${target.datacenter ?? ''}`, global: false, datacenter: target.datacenter ?? '' };
  }
}

/** Target fields a workflow type reads beyond its routing key (rebootNode reboots target.node). */
export const TYPE_TARGET_FIELDS: Readonly<Record<string, ReadonlyArray<keyof Target>>> = { rebootNode: ['node'] };

/**
 * A target field the workflow neither routes by nor reads: `node` on a general or node_type
 * workflow would suggest a per-node scope that does not exist, so it is refused. datacenter and
 * node_type next to a node are descriptive metadata (a node has one of each) and never scope.
 */
export function unusedTargetField(workflowType: string, queueTarget: QueueTarget, target: Target): keyof Target | undefined {
  if (target.node === undefined || queueTarget === 'node') return undefined;
  if ((TYPE_TARGET_FIELDS[workflowType] ?? []).includes('node')) return undefined;
  return 'node';
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
 * The workflow ID of lease slot `slot` of a constraint in a scope. At most one lease per ID can
 * run (workflowIdConflictPolicy FAIL). Workflow and target names never contain ':', so IDs of
 * different scopes cannot collide. The ID holds neither period nor value.
 */
export function leaseWorkflowId(workflow: string, key: string, scope: Scope, slot: number): string {
  return `medic-lease:${workflow}:${scope.key}:${key}:${slot}`;
}

/**
 * The workflow ID of concurrency slot `slot`: the execution itself runs under it (or, for an
 * idempotent trigger, a lease naming its execution), so "fewer than N running" is Temporal's
 * own one-running-execution-per-ID rule.
 */
export function slotWorkflowId(workflow: string, scope: Scope, slot: number): string {
  return `${workflow}:${scope.key}:slot-${slot}`;
}

/**
 * How long a lease holds its slot: the period, plus the longest a start may take after its
 * lease was taken, so the lease covers the whole period from the execution's start time.
 */
export function leaseTimeoutMs(c: Constraint, startMarginMs: number): number {
  return c.periodMs + startMarginMs;
}

/** Whole seconds until the earliest of `times` (ms since epoch), at least 1: for Retry-After. */
export function retryAfterSeconds(times: number[], now: number): number {
  if (times.length === 0) return 1;
  return Math.max(1, Math.ceil((Math.min(...times) - now) / 1000));
}

/**
 * The Retry-After of a refusal by held places (a concurrency constraint, a node lock, a budget):
 * a holder may close any moment, so a caller asks again after this at the latest, not at the
 * holder's latest end (a reboot of a minute held the next node of its datacenter for the
 * constraint's period, 15 minutes, in bench:fleet).
 */
export const HELD_RETRY_AFTER_S = 30;

/** Retry-After of a refusal by `c`: a window's room is exact, a concurrency place's at most HELD_RETRY_AFTER_S away. */
export function refusalRetryAfter(c: Pick<Constraint, 'kind'>, times: number[], now: number): number {
  const s = retryAfterSeconds(times, now);
  return c.kind === 'concurrency' ? Math.min(s, HELD_RETRY_AFTER_S) : s;
}

/**
 * Constraints in the order admission takes their leases: per-target before global (a busy
 * node fails fast without holding a fleet-wide slot meanwhile), concurrency before maxExecution.
 */
export function admissionOrder(constraints: readonly Constraint[]): Constraint[] {
  const rank = (c: Constraint): number => (c.isGlobal ? 2 : 0) + (c.kind === 'concurrency' ? 0 : 1);
  return [...constraints].sort((a, b) => rank(a) - rank(b));
}
