// The approval workflow's durable messages: its update, query and the failure type its validator
// throws. The coordinator and the workflow import them from here; a name here is part of running
// approvals' histories and never changes.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { ApprovalState, DecideRequest } from './state';

/** What a decision answers: the request as decided, and whether this decision was the one applied (the first). */
export interface DecideAnswer {
  state: ApprovalState;
  applied: boolean;
}

/**
 * The approval workflow's code level: its recorded histories (test/fixtures/ledger-histories/<level>/)
 * replay in CI. A change to what the workflow does goes behind `patched()` and keeps them replaying.
 */
export const APPROVAL_CODE_LEVEL = 'approval-v1';

/** The workflow type of an approval request (its own task queue, APPROVAL_QUEUE). */
export const APPROVAL_WORKFLOW_TYPE = 'medicApproval';

/** ApplicationFailure type of a decision refused by the validator (four eyes, not an approver): nothing is written. */
export const APPROVAL_FORBIDDEN = 'MedicApprovalForbidden';

/** Decides a request: the first decision wins; a later one gets the state as decided (applied: false). */
export const decideUpdate = defineUpdate<DecideAnswer, [DecideRequest]>('decide');
export const approvalStateQuery = defineQuery<ApprovalState>('state');

/** The workflow id of approval `id`. */
export function approvalWorkflowId(id: string): string {
  return `medic-approval:${id}`;
}
