// An approval request and its decision, pure: who may decide (four eyes, approvers), and how a
// decision is applied (first one wins). It runs in the approval workflow and in unit tests.
import type { Target } from '../naming/task-queues';
import type { LadderContext } from '../../workflows/shared/ladder';

export type ApprovalWhen = 'always' | 'beyond_budget';
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';
export type ApprovalVerdict = 'approve' | 'deny';

/** What was asked for, held durably by the approval workflow until someone decides. */
export interface ApprovalRequest {
  /** The approval id (its workflow id is `medic-approval:<id>`). */
  id: string;
  /** The configured workflow name. */
  workflow: string;
  target: Target;
  /** The params as resolved when asked (the start gets them). */
  params: Record<string, string>;
  /** The params as shown to people: secret values masked. */
  shownParams: Record<string, string>;
  reason?: string;
  /** The verified identity that asked, or null (an anonymous caller). */
  requester: string | null;
  /** Who the start is recorded as triggered by (the requester, or `anonymous:<source>`). */
  trigger: string;
  /** The front door it came through: api, alertmanager, slack, trigger... */
  source: string;
  /** SPIFFE IDs that may decide, exact or under a final "/*". */
  approvers: string[];
  when: ApprovalWhen;
  /** Why a human must decide: "always", or the refusal a beyond_budget start met. */
  why: string;
  /** Pass a change freeze at the start (as the request asked). */
  force?: boolean;
  /**
   * A step of an escalation ladder waiting for approval: the episode and the steps before it, so
   * the approved start is linked to the first run and counts its depth on (absent in requests made
   * before this field existed; the approval workflow only carries it).
   */
  ladder?: LadderContext;
  /** Coordinator time of the request, ISO 8601. */
  requestedAt: string;
  /** When it expires, ISO 8601 (requestedAt + timeout). */
  expiresAt: string;
  timeoutMs: number;
}

/** A decision as the approval workflow records it. */
export interface ApprovalDecision {
  verdict: ApprovalVerdict;
  /** The identity that decided. */
  by: string;
  reason?: string;
  /** api | slack */
  via: string;
  /** Workflow time of the decision, ISO 8601. */
  at: string;
}

export interface ApprovalState {
  request: ApprovalRequest;
  status: ApprovalStatus;
  decision?: ApprovalDecision;
}

/** What a decider sends: its identity and the identities linked to it (a Slack user and its SPIFFE ID). */
export interface DecideRequest {
  verdict: ApprovalVerdict;
  identity: string;
  /** The same person under other names (chat identities mapped in coordinator.hcl): four eyes covers them all. */
  aliases?: string[];
  reason?: string;
  via: string;
}

/** Whether `identity` is one of `patterns`: exactly, or under a final "/*" (as route rules read uris). */
export function approverMatches(patterns: readonly string[], identity: string): boolean {
  return patterns.some((p) =>
    p.endsWith('/*') ? identity.length > p.length - 1 && identity.startsWith(p.slice(0, -1)) : p === identity,
  );
}

/** Why this decider may not decide this request (four eyes, approvers), or undefined. */
export function decisionProblem(request: ApprovalRequest, d: Pick<DecideRequest, 'identity' | 'aliases'>): string | undefined {
  const names = [d.identity, ...(d.aliases ?? [])];
  if (request.requester !== null && names.includes(request.requester))
    return `four eyes: ${d.identity} asked for this start and may not decide it; another approver must`;
  if (!approverMatches(request.approvers, d.identity))
    return `${d.identity} is not an approver of ${request.workflow} (approvers: ${request.approvers.join(', ')})`;
  return undefined;
}

export function initialState(request: ApprovalRequest): ApprovalState {
  return { request, status: 'pending' };
}

/** Applies a decision to a pending request (the first one wins); true when it was applied. */
export function applyDecision(state: ApprovalState, d: DecideRequest, at: string): boolean {
  if (state.status !== 'pending') return false;
  state.status = d.verdict === 'approve' ? 'approved' : 'denied';
  state.decision = { verdict: d.verdict, by: d.identity, via: d.via, at, ...(d.reason !== undefined && { reason: d.reason }) };
  return true;
}
