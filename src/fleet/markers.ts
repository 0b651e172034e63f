// Markers: durable, exact fleet state in Temporal. A marker is a workflow execution with a
// deterministic id started with workflowIdConflictPolicy FAIL, so at most one runs per id
// whatever the number of coordinators; it never runs (nothing polls its queue, and its first
// task is delayed past its timeout); its memo holds the data; terminating it ends it.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';

/** Nothing polls this queue. No "medic:" prefix, so no datacenter or node name produces it. */
export const FLEET_STATE_QUEUE = 'medic-fleet-state';

/** The workflow types of markers, so visibility can list each kind. No worker registers them. */
export const MARKER_TYPES = {
  hold: 'medicFleetHold',
  pause: 'medicFleetPause',
  flap: 'medicFleetFlapping',
  shadow: 'medicShadowAdmission',
} as const;

/** A marker without a timeout still needs its first task delayed past any plausible lifetime. */
const NEVER_MS = 10 * 365 * 86_400_000;

export interface Marker {
  id: string;
  runId: string;
  startTime: number;
  /** When Temporal ends it by itself (its execution timeout), if ever. */
  expiresAt?: number;
  memo: Record<string, unknown>;
}

/** Starts the marker; false when a running one already has this id. */
export async function claimMarker(
  client: Client,
  type: keyof typeof MARKER_TYPES,
  id: string,
  memo: Record<string, unknown>,
  timeoutMs?: number,
): Promise<{ runId: string } | undefined> {
  try {
    const handle = await client.workflow.start(MARKER_TYPES[type], {
      taskQueue: FLEET_STATE_QUEUE,
      workflowId: id,
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      ...(timeoutMs !== undefined ? { workflowExecutionTimeout: timeoutMs } : {}),
      startDelay: (timeoutMs ?? NEVER_MS) + 3_600_000,
      memo,
    });
    return { runId: handle.firstExecutionRunId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
    throw err;
  }
}

/** The running marker with this id, or undefined. Strongly consistent (not visibility). */
export async function readMarker(client: Client, id: string): Promise<Marker | undefined> {
  try {
    const d = await client.workflow.getHandle(id).describe();
    if (d.status.name !== 'RUNNING') return undefined;
    const startTime = d.startTime.getTime();
    const timeout = d.raw.executionConfig?.workflowExecutionTimeout;
    const timeoutMs = timeout ? Number(timeout.seconds ?? 0) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6) : 0;
    return {
      id,
      runId: d.runId,
      startTime,
      ...(timeoutMs > 0 ? { expiresAt: startTime + timeoutMs } : {}),
      memo: (d.memo ?? {}) as Record<string, unknown>,
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Ends a marker: only the given run when one is named, so a newer marker with the same id is never touched. */
export async function endMarker(client: Client, id: string, runId: string | undefined, reason: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(id, runId).terminate(reason);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    // Already closed between our read and the terminate.
    if ((err as Error).message?.includes('already completed')) return false;
    throw err;
  }
}
