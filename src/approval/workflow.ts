// The approval workflow: one per request (id `medic-approval:<id>`), run by the coordinators'
// ledger workers on the approvals queue. It holds the request until the first decision or the
// expiry: the `decide` update's validator refuses the requester (four eyes) and identities that
// are not approvers without writing history; an expiry runs one activity that audits it.
import { ApplicationFailure, allHandlersFinished, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import type { ApprovalActivities } from './activities';
import { APPROVAL_FORBIDDEN, approvalStateQuery, decideUpdate } from './messages';
import { applyDecision, decisionProblem, initialState, type ApprovalRequest, type ApprovalState } from './state';

export async function medicApproval(request: ApprovalRequest): Promise<ApprovalState> {
  const state = initialState(request);
  const activities = proxyActivities<ApprovalActivities>({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', maximumInterval: '10s' },
  });
  setHandler(approvalStateQuery, () => state);
  setHandler(decideUpdate, (d) => ({ applied: applyDecision(state, d, new Date().toISOString()), state }), {
    validator(d) {
      const problem = decisionProblem(state.request, d);
      if (problem)
        throw ApplicationFailure.create({
          type: APPROVAL_FORBIDDEN,
          message: problem,
          details: [state.request.workflow],
          nonRetryable: true,
        });
    },
  });
  const decided = await condition(() => state.status !== 'pending', request.timeoutMs);
  if (!decided) {
    state.status = 'expired';
    await activities.approvalExpired(state);
  }
  await condition(allHandlersFinished);
  return state;
}
