// Slot leases: the race-free half of constraint admission. A constraint with value N in a
// scope has N slot IDs; taking a slot is starting a lease workflow with that ID and
// workflowIdConflictPolicy FAIL, which Temporal accepts for at most one running execution per
// ID, whatever the number of coordinators. A lease never runs (its start is delayed past its
// execution timeout and nothing polls its queue); Temporal closes it when the timeout fires,
// which frees the slot. Concurrency leases are also freed as soon as their execution closes.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Constraint } from '../config/workflow';
import { ADMISSION_LEASE_QUEUE } from '../temporal/task-queues';
import { leaseTimeoutMs, leaseWorkflowId, slotOrder, type Scope } from './constraints';

/** The workflow type of leases. No worker registers it: leases are never meant to run. */
export const LEASE_WORKFLOW_TYPE = 'medicAdmissionLease';

/** A lease whose execution cannot be found is stale after this long (its coordinator died before starting it). */
export const ORPHAN_GRACE_MS = 60_000;

export interface LeaseSpec {
  workflow: string;
  constraint: Constraint;
  scope: Scope;
  /** The workflow id of the execution this admission will start. */
  execution: string;
  trigger: string;
  /** Longest time between taking a lease and the start of its execution. */
  startMarginMs: number;
}

export interface Lease {
  workflowId: string;
  runId: string;
}

/** A running lease that holds a slot. */
export interface SlotHolder {
  slot: number;
  leaseId: string;
  runId: string;
  startTime: number;
  /** When the slot frees at the latest (the lease's execution timeout). */
  expiresAt: number;
  /** The execution admitted under this lease. */
  execution?: string;
}

async function describeHolder(client: Client, spec: LeaseSpec, slot: number): Promise<SlotHolder | undefined> {
  const leaseId = leaseWorkflowId(spec.workflow, spec.constraint, spec.scope, slot);
  try {
    const d = await client.workflow.getHandle(leaseId).describe();
    if (d.status.name !== 'RUNNING') return undefined;
    const startTime = d.startTime.getTime();
    const execution = typeof d.memo?.execution === 'string' ? d.memo.execution : undefined;
    return {
      slot,
      leaseId,
      runId: d.runId,
      startTime,
      expiresAt: startTime + leaseTimeoutMs(spec.constraint, spec.startMarginMs),
      execution,
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * A concurrency slot is held only while its execution runs. A lease whose execution has closed,
 * or never appeared within ORPHAN_GRACE_MS, no longer holds its slot.
 */
async function holderIsDone(client: Client, holder: SlotHolder, now: number): Promise<boolean> {
  if (!holder.execution) return now - holder.startTime > ORPHAN_GRACE_MS;
  try {
    const d = await client.workflow.getHandle(holder.execution).describe();
    return d.status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return now - holder.startTime > ORPHAN_GRACE_MS;
    throw err;
  }
}

/** Ends a lease early. Only this run: a newer lease in the same slot is never touched. */
export async function releaseLease(client: Client, lease: Lease, reason: string): Promise<void> {
  try {
    await client.workflow.getHandle(lease.workflowId, lease.runId).terminate(reason);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

async function startLease(client: Client, spec: LeaseSpec, slot: number, now: number): Promise<Lease> {
  const workflowId = leaseWorkflowId(spec.workflow, spec.constraint, spec.scope, slot);
  const timeoutMs = leaseTimeoutMs(spec.constraint, spec.startMarginMs);
  const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, {
    taskQueue: ADMISSION_LEASE_QUEUE,
    workflowId,
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    workflowExecutionTimeout: timeoutMs,
    // Never dispatched: the execution timeout closes the lease before its first task is due.
    startDelay: timeoutMs + 3_600_000,
    memo: { execution: spec.execution, workflow: spec.workflow, trigger: spec.trigger, admitted_at: new Date(now).toISOString() },
  });
  return { workflowId, runId: handle.firstExecutionRunId };
}

export type SlotResult = { ok: true; lease: Lease } | { ok: false; holders: SlotHolder[] };

/**
 * Takes a free slot of the constraint in the scope, or reports the leases holding all of them.
 * Each slot is tried a few times: a lease that closes, or a concurrency lease whose execution
 * has ended, frees its slot between one attempt and the next.
 */
export async function takeSlot(client: Client, spec: LeaseSpec, now: () => number, startAt: number): Promise<SlotResult> {
  const holders: SlotHolder[] = [];
  for (const slot of slotOrder(spec.constraint.value, startAt)) {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        return { ok: true, lease: await startLease(client, spec, slot, now()) };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      const holder = await describeHolder(client, spec, slot);
      if (!holder) continue; // closed since our attempt: try again
      if (spec.constraint.kind === 'concurrency' && (await holderIsDone(client, holder, now()))) {
        await releaseLease(
          client,
          { workflowId: holder.leaseId, runId: holder.runId },
          `execution ${holder.execution ?? '(none)'} is no longer running`,
        );
        continue;
      }
      holders.push(holder);
      break;
    }
  }
  return { ok: false, holders };
}

/** For dry runs: how many slots are free and who holds the others, without taking any. */
export async function inspectSlots(
  client: Client,
  spec: LeaseSpec,
  now: number,
): Promise<{ free: number; holders: SlotHolder[] }> {
  const found = await Promise.all(slotOrder(spec.constraint.value, 0).map((slot) => describeHolder(client, spec, slot)));
  const holders: SlotHolder[] = [];
  for (const h of found) {
    if (!h) continue;
    if (spec.constraint.kind === 'concurrency' && (await holderIsDone(client, h, now))) continue;
    holders.push(h);
  }
  return { free: spec.constraint.value - holders.length, holders };
}
