// What a coordinator asks of approval requests: create one (its workflow on the approvals queue),
// decide one (the `decide` update; a closed request answers with its final state), list the pending.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { APPROVAL_QUEUE } from '../naming/task-queues';
import { APPROVAL_FORBIDDEN, APPROVAL_WORKFLOW_TYPE, approvalWorkflowId, decideUpdate } from './messages';
import { decisionProblem, type ApprovalRequest, type ApprovalState, type DecideRequest } from './state';

/** The memo field holding what GET /v1/approvals shows of a request (no secret values). */
export const APPROVAL_MEMO = 'medic_approval';

/** What a list shows of a pending request: the request without its unmasked params. */
export type ApprovalSummary = Omit<ApprovalRequest, 'params'>;

/** A request's workflow outlives its expiry by this much (a backstop; the workflow ends at the expiry itself). */
const BACKSTOP_MS = 10 * 60_000;

export type DecideAnswer =
  | { ok: true; state: ApprovalState; applied: boolean }
  | { ok: false; kind: 'forbidden'; message: string; workflow: string }
  | { ok: false; kind: 'unknown' };

export function summaryOf(request: ApprovalRequest): ApprovalSummary {
  const { params: _params, ...shown } = request;
  return shown;
}

/** Starts the request's workflow; false when it exists already (a repeat of a keyed request: the first one stands). */
export async function requestApproval(client: Client, request: ApprovalRequest, taskQueue = APPROVAL_QUEUE): Promise<boolean> {
  try {
    await client.workflow.start(APPROVAL_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: approvalWorkflowId(request.id),
      args: [request],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowExecutionTimeout: request.timeoutMs + BACKSTOP_MS,
      memo: { [APPROVAL_MEMO]: summaryOf(request) },
    });
    return true;
  } catch (err) {
    // A keyed repeat, pending or decided already: the first one stands.
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return false;
  }
}

/** The final state of a closed request, or undefined when there is none. */
async function closedState(client: Client, id: string): Promise<ApprovalState | undefined> {
  const handle = client.workflow.getHandle<(r: ApprovalRequest) => Promise<ApprovalState>>(approvalWorkflowId(id));
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return undefined;
    return await handle.result();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * Decides request `id` as `d.identity`. The workflow's validator refuses the requester and
 * non-approvers without writing anything; the first decision wins, and every later one (or one
 * that reaches a request closed meanwhile) gets the state as decided.
 */
export async function decideApproval(client: Client, id: string, d: DecideRequest): Promise<DecideAnswer> {
  const handle = client.workflow.getHandle(approvalWorkflowId(id));
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, ...(await handle.executeUpdate(decideUpdate, { args: [d] })) };
    } catch (err) {
      const failure = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (failure instanceof ApplicationFailure && failure.type === APPROVAL_FORBIDDEN)
        return { ok: false, kind: 'forbidden', message: failure.message, workflow: String(failure.details?.[0] ?? '') };
      // Closed (decided, expired) before the update reached it: its result is the decision.
      const state = await closedState(client, id);
      if (state) {
        const problem = decisionProblem(state.request, d);
        return problem
          ? { ok: false, kind: 'forbidden', message: problem, workflow: state.request.workflow }
          : { ok: true, state, applied: false };
      }
      if (err instanceof WorkflowNotFoundError) return { ok: false, kind: 'unknown' };
      if (attempt >= 3) throw err;
    }
  }
}

/** The pending requests, oldest first (visibility: a request made a moment ago may be missing). */
export async function pendingApprovals(client: Client, limit = 200): Promise<ApprovalSummary[]> {
  const out: ApprovalSummary[] = [];
  const query = `WorkflowType = '${APPROVAL_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
  for await (const e of client.workflow.list({ query, pageSize: 100 })) {
    const s = e.memo?.[APPROVAL_MEMO] as ApprovalSummary | undefined;
    if (s) out.push(s);
    if (out.length >= limit) break;
  }
  return out.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
}
