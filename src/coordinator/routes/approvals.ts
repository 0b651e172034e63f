// GET /v1/approvals (pending approval requests) and POST /v1/approvals/{id} (approve or deny one).
// Governed by route rules like every route; the approval workflow itself refuses the requester
// (four eyes) and identities outside the workflow's approvers (403, nothing started).
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Approvals, DecisionResult } from '../approvals';
import { sendError } from '../errors';
import { isTemporalUnavailable } from '../../temporal/gateway';
import type { CoordinatorMetrics } from '../metrics';
import { answer } from './executions';
import { COMMON_ERRORS, errorResponses, TARGET_SCHEMA } from './schemas';

export const APPROVAL_ROUTE = '/v1/approvals/:id';
export const APPROVAL_ID = '^[A-Za-z0-9-]{1,80}$';

const SUMMARY_SCHEMA = {
  type: 'object',
  required: ['approval_id', 'workflow', 'target', 'requested_at', 'expires_at'],
  properties: {
    approval_id: { type: 'string' },
    workflow: { type: 'string' },
    target: TARGET_SCHEMA,
    params: { type: 'object', additionalProperties: { type: 'string' }, description: 'secret values masked' },
    reason: { type: 'string' },
    requester: { type: ['string', 'null'], description: 'the identity that asked (it may not approve)' },
    source: { type: 'string' },
    approvers: { type: 'array', items: { type: 'string' } },
    when: { type: 'string', enum: ['always', 'beyond_budget'] },
    why: { type: 'string' },
    requested_at: { type: 'string', format: 'date-time' },
    expires_at: { type: 'string', format: 'date-time' },
  },
} as const;

const DECIDED_SCHEMA = {
  type: 'object',
  required: ['status', 'approval_id', 'workflow'],
  properties: {
    status: { type: 'string', enum: ['started', 'duplicate', 'denied'] },
    approval_id: { type: 'string' },
    workflow: { type: 'string' },
    approver: { type: 'string' },
    workflow_id: { type: 'string' },
    run_id: { type: 'string' },
    task_queue: { type: 'string' },
  },
} as const;

/** Answers one decision: shared by the API route and the Slack interaction. */
export function decisionAnswer(
  id: string,
  result: DecisionResult,
):
  | { status: number; body: Record<string, unknown>; retryAfter?: number }
  | { code: Parameters<typeof sendError>[1]; message: string; details: Record<string, unknown>; retryAfter?: number } {
  switch (result.kind) {
    case 'unknown':
      return { code: 'unknown_approval', message: `no approval request ${JSON.stringify(id)}`, details: {} };
    case 'forbidden':
      return { code: 'forbidden', message: result.message, details: { approval_id: id } };
    case 'decided': {
      const s = result.state;
      const how = s.status === 'expired' ? 'expired' : `was ${s.status} by ${s.decision?.by ?? '?'}`;
      return {
        code: 'approval_decided',
        message: `approval ${id} ${how}; it cannot be ${s.status === 'approved' ? 'denied' : 'decided'} now`,
        details: { approval_id: id, approval_status: s.status, ...(s.decision && { approver: s.decision.by }) },
      };
    }
    case 'denied':
      return {
        status: 200,
        body: { status: 'denied', approval_id: id, workflow: result.state.request.workflow, approver: result.state.decision!.by },
      };
    case 'approved': {
      const a = answer(result.outcome, result.state.request.workflow);
      const extra = { approval_id: id, approver: result.state.decision!.by };
      if ('status' in a) return { ...a, body: { ...(a.body as Record<string, unknown>), ...extra } };
      return { ...a, details: { ...a.details, ...extra, approval_status: 'approved' } };
    }
  }
}

function unavailable(reply: FastifyReply): FastifyReply {
  reply.header('Retry-After', '5');
  return sendError(reply, 'temporal_unavailable', 'Temporal is unreachable or did not answer in time; retry later', {});
}

export const approvalRoutes: FastifyPluginAsync<{ approvals: Approvals; metrics: CoordinatorMetrics }> = async (
  app,
  { approvals, metrics },
) => {
  app.get(
    '/v1/approvals',
    {
      schema: {
        summary: 'Pending approval requests',
        description:
          'Starts waiting for an approver (workflows with an approval block), oldest first: who asked, what, why and until when. ' +
          'From Temporal visibility: a request made a moment ago can take a moment to appear.',
        response: {
          200: { type: 'object', required: ['approvals'], properties: { approvals: { type: 'array', items: SUMMARY_SCHEMA } } },
          ...errorResponses(...COMMON_ERRORS, 'temporal_unavailable'),
        },
      },
    },
    async (_request, reply) => {
      try {
        const pending = await approvals.pending();
        return reply.send({
          approvals: pending.map((p) => ({
            approval_id: p.id,
            workflow: p.workflow,
            target: p.target,
            params: p.shownParams,
            ...(p.reason !== undefined && { reason: p.reason }),
            requester: p.requester,
            source: p.source,
            approvers: p.approvers,
            when: p.when,
            why: p.why,
            requested_at: p.requestedAt,
            expires_at: p.expiresAt,
          })),
        });
      } catch (err) {
        metrics.temporalErrors.inc({ operation: 'approvals_list' });
        if (isTemporalUnavailable(err)) return unavailable(reply);
        throw err;
      }
    },
  );

  app.post<{ Params: { id: string }; Body: { decision: 'approve' | 'deny'; reason?: string } }>(
    APPROVAL_ROUTE,
    {
      schema: {
        summary: 'Approve or deny a request',
        description:
          'The first decision wins. The identity that asked may never decide (four eyes), nor may an identity outside the ' +
          "workflow's approvers (403). Approving runs the whole admission again now and starts the execution once, whichever " +
          'replica and however many approvers ask (again: the same execution, 200). A refusal now is answered as a trigger ' +
          'refusal (429) and the request stays approved: approve again to retry the start.',
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', pattern: APPROVAL_ID } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['decision'],
          properties: {
            decision: { type: 'string', enum: ['approve', 'deny'] },
            reason: { type: 'string', maxLength: 1024, description: 'why: in the audit line' },
          },
        },
        response: {
          200: { ...DECIDED_SCHEMA, description: 'denied, or approved again: the execution it started' },
          202: { ...DECIDED_SCHEMA, description: 'approved and started' },
          ...errorResponses(
            ...COMMON_ERRORS,
            'invalid_request',
            'unknown_approval',
            'approval_decided',
            'constraint_refused',
            'temporal_unavailable',
            'ledger_failed',
          ),
        },
      },
    },
    async (request, reply) => {
      // The decision writes its own audit lines (src/coordinator/approvals.ts).
      request.audited = true;
      const identity = request.caller.identity;
      if (identity === null)
        return sendError(reply, 'forbidden', 'deciding an approval needs a verified identity (a client certificate)', {});
      let result: DecisionResult;
      try {
        result = await approvals.decide(request.params.id, {
          identity,
          verdict: request.body.decision,
          ...(request.body.reason !== undefined && { reason: request.body.reason }),
          via: 'api',
        });
      } catch (err) {
        metrics.temporalErrors.inc({ operation: 'approval_decide' });
        if (isTemporalUnavailable(err)) return unavailable(reply);
        throw err;
      }
      const a = decisionAnswer(request.params.id, result);
      if (a.retryAfter !== undefined) reply.header('Retry-After', String(a.retryAfter));
      if ('status' in a) return reply.code(a.status).send(a.body);
      return sendError(reply, a.code, a.message, a.details);
    },
  );
};
