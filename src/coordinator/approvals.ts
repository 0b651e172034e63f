// Approvals in the coordinator: a start that waits for a human becomes an approval request (its
// own workflow, src/approval/); a decision goes to that workflow first (four eyes, approvers,
// first decision wins), and an approval then runs the whole admission again, keyed by the
// approval id, so the start happens once whichever replica and however many approvers ask.
// Every step is an audit line and a count in medic_approvals_total{workflow,outcome}.
import { createHash, randomUUID } from 'node:crypto';
import type { WorkflowConfig } from '../config/workflow';
import { paramSchemaOf } from '../config/workflow';
import { maskParams } from '../params/resolve';
import type { AuditEntry, AuditSink } from '../telemetry/audit';
import type { TemporalGateway } from '../temporal/gateway';
import { decideApproval, pendingApprovals, requestApproval, type ApprovalSummary } from '../approval/client';
import type { ApprovalRequest, ApprovalState, ApprovalVerdict } from '../approval/state';
import type { ApprovalRequester, TriggerOutcome, TriggerRequest } from './admission';
import type { LiveConfig } from './live-config';
import type { CoordinatorMetrics } from './metrics';
import { approvalOutcomeMessage, approvalRequestMessage, postToSlack } from './slack-approvals';

export interface ApprovalsDeps {
  config: LiveConfig;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  log(message: string): void;
  /** Makes sure this coordinator's ledger worker (which runs approval workflows) polls. */
  ensureWorker(): void;
  /** The approvals task queue (APPROVAL_QUEUE; tests give each coordinator set its own). */
  taskQueue?: string;
  now?: () => number;
}

/** What became of one decision, for the route (or the Slack interaction) to answer. */
export type DecisionResult =
  | { kind: 'unknown' }
  | { kind: 'forbidden'; message: string }
  /** Decided before (denied or expired), or a deny of a request approved already. */
  | { kind: 'decided'; state: ApprovalState }
  | { kind: 'denied'; state: ApprovalState }
  | { kind: 'approved'; state: ApprovalState; outcome: TriggerOutcome };

/** An approval id: from the trigger's idempotency key (a repeat finds the same request), else random. */
export function approvalId(trigger: string, source: string, workflow: string, idempotencyKey?: string): string {
  if (!idempotencyKey) return randomUUID();
  return `key-${createHash('sha256').update(`${workflow}\n${trigger}\n${source}\n${idempotencyKey}`).digest('hex').slice(0, 32)}`;
}

export class Approvals implements ApprovalRequester {
  private readonly now: () => number;
  /** Admission, set once both exist (each needs the other). */
  admit?: (req: TriggerRequest) => Promise<TriggerOutcome>;
  /** Slack posts in flight: closing waits for them (no call outlives the coordinator). */
  private readonly posts = new Set<Promise<void>>();

  constructor(private readonly deps: ApprovalsDeps) {
    this.now = deps.now ?? Date.now;
  }

  private count(workflow: string, outcome: string): void {
    const known = this.deps.config.current.workflows.has(workflow);
    this.deps.metrics.approvals.inc({ workflow: known ? workflow : '_unknown', outcome });
  }

  /** One approval step: its count and its audit line (who asked, what, which request). */
  private step(
    r: ApprovalRequest,
    outcome: string,
    entry: Omit<AuditEntry, 'identity' | 'workflow' | 'target' | 'approval_id'>,
  ): void {
    this.count(r.workflow, outcome);
    this.deps.audit({ identity: r.requester, workflow: r.workflow, target: r.target, approval_id: r.id, ...entry });
  }

  private post(message: Record<string, unknown>): void {
    const url = this.deps.config.current.approvalsWebhook?.reveal();
    if (!url) return;
    const p: Promise<void> = postToSlack(url, message, this.deps.log).finally(() => this.posts.delete(p));
    this.posts.add(p);
  }

  /** Creates the request (admission calls this instead of starting); posts it to Slack when configured. */
  async request(req: TriggerRequest, wf: WorkflowConfig, params: Record<string, string>, why: string) {
    const approval = wf.approval!;
    const trigger = req.identity ?? `anonymous:${req.source}`;
    const now = this.now();
    const request: ApprovalRequest = {
      id: approvalId(trigger, req.source, wf.name, req.idempotencyKey),
      workflow: wf.name,
      target: req.target,
      params,
      shownParams: maskParams(paramSchemaOf(wf), params),
      ...(req.reason !== undefined && { reason: req.reason }),
      requester: req.identity,
      trigger,
      source: req.source,
      approvers: approval.approvers,
      when: approval.when,
      why,
      ...(req.force && { force: true }),
      ...(req.ladder && { ladder: req.ladder }),
      requestedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + approval.timeoutMs).toISOString(),
      timeoutMs: approval.timeoutMs,
    };
    this.deps.ensureWorker();
    const created = await this.deps.temporal.withDeadline((client) => requestApproval(client, request, this.deps.taskQueue));
    // A repeat (the same idempotency key) is answered with the first request, posted and counted once.
    if (created) {
      this.count(wf.name, 'requested');
      this.post(approvalRequestMessage(request));
    }
    return { id: request.id, expiresAt: request.expiresAt };
  }

  /** The other names of an identity: the Slack users coordinator.hcl maps to it, or the SPIFFE ID a Slack user maps to. */
  aliases(identity: string): string[] {
    const chat = this.deps.config.current.coordinator.chat;
    if (!chat) return [];
    return Object.entries(chat.identities ?? {})
      .filter(([, id]) => id === identity)
      .map(([user]) => `slack:${chat.teamId}/${user}`);
  }

  /** Decides request `id` as `identity` (verified), through `via` (api, slack). */
  async decide(
    id: string,
    d: { identity: string; verdict: ApprovalVerdict; reason?: string; via: string; aliases?: string[] },
  ): Promise<DecisionResult> {
    this.deps.ensureWorker();
    const aliases = [...new Set([...(d.aliases ?? []), ...this.aliases(d.identity)])];
    const answer = await this.deps.temporal.withDeadline((client) =>
      decideApproval(client, id, {
        verdict: d.verdict,
        identity: d.identity,
        aliases,
        via: d.via,
        ...(d.reason && { reason: d.reason }),
      }),
    );
    if (!answer.ok && answer.kind === 'unknown') return { kind: 'unknown' };
    if (!answer.ok) {
      const workflow = answer.workflow || undefined;
      this.count(workflow ?? '', 'forbidden');
      this.deps.audit({
        decision: 'approval_forbidden',
        identity: d.identity,
        source: d.via,
        ...(workflow && { workflow }),
        approval_id: id,
        reason: answer.message,
      });
      return { kind: 'forbidden', message: answer.message };
    }
    const { state } = answer;
    const r = state.request;
    const mine = answer.applied;
    if (state.status === 'denied' && d.verdict === 'deny' && mine) {
      this.step(r, 'denied', { decision: 'approval_denied', source: d.via, approver: d.identity, reason: d.reason ?? 'denied' });
      this.post(approvalOutcomeMessage(r, `denied by ${d.identity}${d.reason ? `: ${d.reason}` : ''}`));
      return { kind: 'denied', state };
    }
    if (state.status !== 'approved' || d.verdict !== 'approve') {
      this.late(state, d);
      return { kind: 'decided', state };
    }
    if (mine)
      this.step(r, 'approved', {
        decision: 'approval_approved',
        source: d.via,
        approver: d.identity,
        reason: d.reason ?? 'approved',
      });
    return { kind: 'approved', state, outcome: await this.start(state) };
  }

  /** The whole admission again, now, keyed by the approval: the one execution this approval starts. */
  private async start(state: ApprovalState): Promise<TriggerOutcome> {
    const r = state.request;
    const by = state.decision!.by;
    const wf = this.deps.config.current.workflows.get(r.workflow);
    const beyondBudget = r.when === 'beyond_budget' && wf?.approval?.when === 'beyond_budget';
    const outcome = await this.admit!({
      workflow: r.workflow,
      target: r.target,
      params: r.params,
      reason: `approved by ${by}${r.reason ? `: ${r.reason}` : ''}`.slice(0, 1024),
      identity: r.requester,
      source: r.source,
      ...(r.force && { force: true }),
      ...(r.ladder && { ladder: r.ladder }),
      approval: { id: r.id, by, beyondBudget },
    });
    if (outcome.result === 'started') {
      this.count(r.workflow, 'started');
      if (beyondBudget && wf?.disruptive)
        this.deps.audit({
          decision: 'approval_beyond_budget',
          identity: r.requester,
          workflow: r.workflow,
          target: r.target,
          workflow_id: outcome.workflowId,
          approval_id: r.id,
          approver: by,
          reason: `approved beyond budget: this start may take one place beyond each budget covering it (${r.why})`,
        });
      this.post(approvalOutcomeMessage(r, `approved by ${by}: started ${outcome.workflowId}`));
    } else if (outcome.result === 'refused') {
      this.step(r, 'refused', {
        decision: 'approval_refused',
        approver: by,
        constraint: String(outcome.refusal.constraint.description),
        reason: 'approved, but admission refused the start now; approve again to retry',
      });
      this.post(
        approvalOutcomeMessage(
          r,
          `approved by ${by}, but refused now: ${outcome.refusal.message ?? String(outcome.refusal.constraint.description)}`,
        ),
      );
    }
    return outcome;
  }

  /**
   * A decision that reached a request decided or expired already (answered 409): audited with the
   * late decider as `identity` and the first decider as `approver`, and counted; nothing changes.
   */
  private late(state: ApprovalState, d: { identity: string; verdict: ApprovalVerdict; via: string }): void {
    const r = state.request;
    const was = state.status === 'expired' ? 'expired' : `${state.status} by ${state.decision?.by ?? '?'}`;
    this.count(r.workflow, 'late');
    this.deps.audit({
      decision: 'approval_late',
      identity: d.identity,
      source: d.via,
      workflow: r.workflow,
      target: r.target,
      approval_id: r.id,
      ...(state.decision && { approver: state.decision.by }),
      reason: `${d.verdict} came after the request was ${was}; nothing changed`,
    });
  }

  /** A Slack press refused before deciding (an unmapped user, a workspace chat { } does not name): audited, nothing decided. */
  recordRefusedPress(id: string, slackUser: string, reason: string): void {
    this.deps.metrics.approvals.inc({ workflow: '_unknown', outcome: 'forbidden' });
    this.deps.audit({ decision: 'approval_forbidden', identity: slackUser, source: 'slack', approval_id: id, reason });
  }

  /** Pending requests (visibility). */
  pending(): Promise<ApprovalSummary[]> {
    return this.deps.temporal.visibility((client) => pendingApprovals(client), 10_000);
  }

  /** Waits for Slack posts in flight (at most their timeout). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.posts]);
  }
}
