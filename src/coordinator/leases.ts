// Slots: the race-free core of admission. A constraint with value N in a scope has N slot IDs;
// taking a slot is starting a workflow execution under that ID with workflowIdConflictPolicy
// FAIL, which Temporal accepts for at most one running execution per ID, whatever the number of
// coordinators. The execution holding a slot is the admitted workflow itself (one write per
// admission); the slots of a second concurrency constraint, and the slot of an idempotent
// trigger, are held by leases naming their execution: executions that never run (their start is
// delayed past their execution timeout and nothing polls their queue) and hold only while the
// execution they name runs. maxExecution windows are the admission ledger's (src/ledger/).
// A start whose outcome is unknown is resolved by describing the ID, never assumed.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { ADMISSION_LEASE_QUEUE } from '../naming/task-queues';
import { TemporalUnavailableError } from '../temporal/gateway';
import { isUnknownOutcome } from '../temporal/call-errors';

/** The workflow type of leases. No worker registers it: leases are never meant to run. */
export const LEASE_WORKFLOW_TYPE = 'medicAdmissionLease';

/** A lease whose execution cannot be found is stale after this long (its coordinator died before starting it). */
export const ORPHAN_GRACE_MS = 60_000;

/** Memo field with the nonce of the admission that started an execution or lease. */
export const NONCE_MEMO = 'medic_admission';

/** A running execution or lease that holds a slot. */
export interface SlotHolder {
  slot: number;
  workflowId: string;
  runId: string;
  startTime: number;
  /** The nonce of the admission that started it (its memo), when medic did. */
  nonce?: string;
}

export interface Claimed {
  workflowId: string;
  runId: string;
}

/** One slot kind: how its IDs are named, how to start a holder, and when a holder stops holding. */
export interface SlotSpec {
  /** The slot's workflow ID. */
  id(slot: number): string;
  /** Slots the config allows now. */
  value: number;
  /** The highest value this coordinator has known for the constraint: slots value..highWater-1 still running count. */
  highWater: number;
  /** Starts the holder under `workflowId` (memo NONCE_MEMO = nonce); its run id. */
  start(workflowId: string): Promise<string>;
  nonce: string;
  now(): number;
}

async function describe(client: Client, workflowId: string, runId?: string): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await client.workflow.getHandle(workflowId, runId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

function holderOf(slot: number, workflowId: string, d: WorkflowExecutionDescription): SlotHolder {
  const nonce = d.memo?.[NONCE_MEMO];
  return { slot, workflowId, runId: d.runId, startTime: d.startTime.getTime(), ...(typeof nonce === 'string' && { nonce }) };
}

/** Ends a lease early. Only this run: a newer lease in the same slot is never touched. */
export async function releaseLease(client: Client, lease: Claimed, reason: string): Promise<void> {
  try {
    await client.workflow.getHandle(lease.workflowId, lease.runId).terminate(reason);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/**
 * The holder of a slot, or undefined when the slot is free or only held by a lease whose
 * execution has closed (that lease run is then terminated).
 */
async function liveHolder(client: Client, spec: SlotSpec, slot: number): Promise<SlotHolder | undefined> {
  const workflowId = spec.id(slot);
  const d = await describe(client, workflowId);
  if (!d || d.status.name !== 'RUNNING') return undefined;
  const holder = holderOf(slot, workflowId, d);
  // A lease holds only while the execution it names runs.
  if (d.type !== LEASE_WORKFLOW_TYPE) return holder;
  const execution = typeof d.memo?.execution === 'string' ? d.memo.execution : undefined;
  const e = execution ? await describe(client, execution) : undefined;
  const done = e ? e.status.name !== 'RUNNING' : spec.now() - holder.startTime > ORPHAN_GRACE_MS;
  if (!done) return holder;
  await releaseLease(client, holder, `execution ${execution ?? '(none)'} is no longer running`);
  return undefined;
}

/** Starts the holder of one slot: claimed, held by someone else, or free again (try once more). */
async function tryStart(client: Client, spec: SlotSpec, slot: number): Promise<Claimed | SlotHolder | 'retry'> {
  const workflowId = spec.id(slot);
  try {
    return { workflowId, runId: await spec.start(workflowId) };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return (await liveHolder(client, spec, slot)) ?? 'retry';
    }
    if (!isUnknownOutcome(err)) throw err;
    // The start may have happened: the ID says whether it did, and whether it was ours.
    const d = await describe(client, workflowId).catch(() => {
      throw new TemporalUnavailableError(`the start of ${workflowId} has an unknown outcome and cannot be looked up`);
    });
    if (d && d.status.name === 'RUNNING' && d.memo?.[NONCE_MEMO] === spec.nonce) return { workflowId, runId: d.runId };
    if (d && d.status.name === 'RUNNING') return holderOf(slot, workflowId, d);
    // Not there (yet): a start still in flight would hold its own slot, so nothing leaks;
    // answering "unavailable" lets the caller retry instead of guessing.
    throw new TemporalUnavailableError(`the start of ${workflowId} has an unknown outcome: ${(err as Error).message}`);
  }
}

/** `full`: the claim took the last slot it could see free (a hint: the next admission reads before it writes). */
export type SlotResult = { ok: true; claimed: Claimed; full: boolean } | { ok: false; holders: SlotHolder[] };

/**
 * Takes a free slot, or reports the holders of all of them. After `value` was lowered, slots
 * from the higher value that still run count against the lower one: the usable slot ids shrink
 * to u, the largest with u = value - (live holders in slots u..highWater-1), so running
 * executions never exceed `value` and callers still race for the same ids.
 */
export async function claimSlot(client: Client, spec: SlotSpec, startAt: number): Promise<SlotResult> {
  let usable = spec.value;
  const holders: SlotHolder[] = [];
  if (spec.highWater > spec.value) {
    const all = Array.from({ length: spec.highWater }, (_, i) => i);
    const live = (await Promise.all(all.map((slot) => liveHolder(client, spec, slot)))).filter(
      (h): h is SlotHolder => h !== undefined,
    );
    for (;;) {
      const u = spec.value - live.filter((h) => h.slot >= usable).length;
      if (u >= usable) break;
      usable = Math.max(0, u);
      if (usable === 0) break;
    }
    holders.push(...live.filter((h) => h.slot >= usable));
  }
  if (usable <= 0) return { ok: false, holders };
  const first = startAt % usable;
  for (let i = 0; i < usable; i++) {
    const slot = (first + i) % usable;
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await tryStart(client, spec, slot);
      if (r === 'retry') continue;
      if ('slot' in r) holders.push(r);
      else return { ok: true, claimed: r, full: holders.length + 1 >= usable };
      break;
    }
  }
  return { ok: false, holders };
}

/** Slots a dry run inspects at most; beyond it (a large global value) the visibility count speaks. */
export const INSPECT_MAX_SLOTS = 64;

/** For dry runs and refusals without writes: the live holders of every slot, taking none. */
export async function inspectSlots(client: Client, spec: SlotSpec): Promise<SlotHolder[]> {
  const slots = Array.from({ length: Math.min(INSPECT_MAX_SLOTS, Math.max(spec.value, spec.highWater)) }, (_, i) => i);
  const found = await Promise.all(slots.map((slot) => liveHolder(client, spec, slot)));
  return found.filter((h): h is SlotHolder => h !== undefined);
}

/** Starts a lease: a never-running execution under `workflowId` that Temporal closes after `timeoutMs`. */
export async function startLease(
  client: Client,
  workflowId: string,
  timeoutMs: number,
  memo: Record<string, string>,
): Promise<string> {
  const handle = await client.workflow.start(LEASE_WORKFLOW_TYPE, {
    taskQueue: ADMISSION_LEASE_QUEUE,
    workflowId,
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    workflowExecutionTimeout: timeoutMs,
    // Never dispatched: the execution timeout closes the lease before its first task is due.
    startDelay: timeoutMs + 3_600_000,
    memo,
  });
  return handle.firstExecutionRunId;
}
