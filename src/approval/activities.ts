// The approval workflow's one activity, run by the coordinators' ledger workers: an expired
// request's audit line and its count (medic_approvals_total{outcome="expired"}).
import type { AuditSink } from '../telemetry/audit';
import type { ApprovalState } from './state';

export interface ApprovalActivities {
  approvalExpired(state: ApprovalState): Promise<void>;
}

export interface ApprovalActivityDeps {
  audit: AuditSink;
  /** Counts one approval step by workflow and outcome. */
  count(workflow: string, outcome: string): void;
}

export function createApprovalActivities(deps: ApprovalActivityDeps): ApprovalActivities {
  return {
    async approvalExpired(state) {
      const r = state.request;
      deps.count(r.workflow, 'expired');
      deps.audit({
        decision: 'approval_expired',
        identity: r.requester,
        source: r.source,
        workflow: r.workflow,
        target: r.target,
        approval_id: r.id,
        reason: `nobody decided within ${Math.round(r.timeoutMs / 1000)} s (asked ${r.requestedAt}); nothing was started`,
      });
    },
  };
}
