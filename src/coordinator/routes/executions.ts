// POST /v1/workflows/{name}/executions (the trigger API) and GET /v1/executions/{workflow_id}.
import type { FastifyPluginAsync } from 'fastify';
import { QueryNotRegisteredError } from '@temporalio/client';
import type { Progress } from '../../../workflows/shared/progress';
import { LIST_STATUSES, NO_QUOTES, type ListFilter } from '../execution-list';
import { WORKFLOW_NAME } from '../../config/workflow';
import type { Admission, TriggerOutcome } from '../admission';
import { IDEMPOTENCY_KEY } from '../admission';
import { sendError } from '../errors';
import { describeExecution, listExecutions, progressView, type ProgressReader } from '../execution-status';
import { OUTCOMES } from '../../naming/search-attributes';
import type { CoordinatorMetrics } from '../metrics';
import { isTemporalUnavailable, type TemporalGateway } from '../../temporal/gateway';
import { COMMON_ERRORS, CONSTRAINT_SCHEMA, errorResponses, TARGET_NAME, TARGET_SCHEMA } from './schemas';

export const TRIGGER_ROUTE = '/v1/workflows/:name/executions';

interface TriggerBody {
  target: { node?: string; datacenter?: string; node_type?: string };
  params?: Record<string, string>;
  reason?: string;
  idempotency_key?: string;
  force?: boolean;
}

const STARTED_SCHEMA = {
  type: 'object',
  required: ['status', 'workflow', 'workflow_id', 'run_id', 'task_queue'],
  properties: {
    status: { type: 'string', enum: ['started', 'duplicate'] },
    workflow: { type: 'string' },
    workflow_id: { type: 'string' },
    run_id: { type: 'string' },
    task_queue: { type: 'string' },
  },
} as const;

const AWAITING_SCHEMA = {
  type: 'object',
  required: ['status', 'approval_id', 'workflow', 'target', 'expires_at'],
  properties: {
    status: { type: 'string', enum: ['awaiting_approval'] },
    approval_id: { type: 'string', description: 'decide it with POST /v1/approvals/{approval_id}' },
    workflow: { type: 'string' },
    target: TARGET_SCHEMA,
    expires_at: { type: 'string', format: 'date-time', description: 'nothing starts when nobody decides by then' },
    why: { type: 'string', description: 'always, or the refusal a beyond_budget start met' },
  },
} as const;

const DRY_RUN_SCHEMA = {
  type: 'object',
  required: ['status', 'workflow', 'task_queue', 'constraints'],
  properties: {
    status: { type: 'string', enum: ['dry_run'] },
    workflow: { type: 'string' },
    task_queue: { type: 'string' },
    constraints: {
      type: 'array',
      items: {
        type: 'object',
        properties: { constraint: CONSTRAINT_SCHEMA, count: { type: 'integer' }, passes: { type: 'boolean' } },
      },
    },
  },
} as const;

const SHADOW_SCHEMA = {
  type: 'object',
  required: ['status', 'workflow', 'workflow_id', 'task_queue', 'would_start'],
  properties: {
    status: { type: 'string', enum: ['shadow'] },
    workflow: { type: 'string' },
    workflow_id: { type: 'string', description: 'the id it would have had; nothing was started' },
    task_queue: { type: 'string' },
    would_start: { type: 'object', additionalProperties: true },
  },
} as const;

const PROGRESS_SCHEMA = {
  type: 'object',
  description:
    "the workflow's `progress` query: its current step (absent when no worker answered within a few seconds); a closed run's, as it recorded it when it ended",
  properties: {
    status: { type: 'string', enum: ['running', 'succeeded', 'nothing_to_heal', 'failed', 'escalated', 'cancelled'] },
    step: { type: 'string' },
    step_number: { type: 'integer' },
    steps: { type: 'array', items: { type: 'string' } },
    attempt: { type: 'integer' },
    detail: { type: 'string' },
  },
} as const;

const SUMMARY_SCHEMA = {
  type: 'object',
  required: ['workflow_id', 'run_id', 'status'],
  properties: {
    workflow_id: { type: 'string' },
    run_id: { type: 'string' },
    workflow: { type: 'string' },
    status: { type: 'string' },
    task_queue: { type: 'string' },
    target: { type: 'object', properties: { node: { type: 'string' }, datacenter: { type: 'string' } } },
    trigger: { type: 'string' },
    outcome: { type: 'string', enum: [...OUTCOMES] },
    start_time: { type: 'string', format: 'date-time' },
    close_time: { type: 'string', format: 'date-time' },
  },
} as const;

/** How long GET /v1/executions/{id} waits for a worker to answer the progress query. */
const PROGRESS_TIMEOUT_MS = 3_000;
/** The query every medic workflow answers (workflows/progress.ts); by name, so no workflow code is imported here. */
const PROGRESS_QUERY = 'progress';

const EXECUTION_SCHEMA = {
  type: 'object',
  required: ['workflow_id', 'run_id', 'status'],
  properties: {
    workflow_id: { type: 'string' },
    run_id: { type: 'string' },
    workflow: { type: 'string', description: 'configured workflow name' },
    workflow_type: { type: 'string' },
    status: { type: 'string', description: 'RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT, ...' },
    task_queue: { type: 'string' },
    target: { type: 'object', properties: { node: { type: 'string' }, datacenter: { type: 'string' } } },
    trigger: { type: 'string', description: 'who asked for the start' },
    outcome: {
      type: 'string',
      enum: [...OUTCOMES],
      description: 'how the run ended: healed, nothing_to_heal, escalated, failed',
    },
    start_time: { type: 'string', format: 'date-time' },
    close_time: { type: 'string', format: 'date-time' },
    result: { description: 'the workflow result, when it completed' },
    failure: { type: 'string', description: 'why it failed, when it failed' },
    progress: PROGRESS_SCHEMA,
    ladder: {
      type: 'object',
      description: 'the escalation ladder the run is a step of: its episode (the first run) and the steps as the run knew them',
      properties: {
        episode: { type: 'string' },
        steps: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              workflow: { type: 'string' },
              workflowId: { type: 'string' },
              runId: { type: 'string' },
              outcome: { type: 'string', description: 'escalated, started, refused, not_asked' },
              summary: { type: 'string' },
            },
          },
        },
      },
    },
    history: {
      type: 'object',
      properties: {
        events: { type: 'integer' },
        activities: {
          type: 'array',
          items: { type: 'object', properties: { activity_type: { type: 'string' }, status: { type: 'string' } } },
        },
      },
    },
  },
} as const;

/** Maps an admission outcome to the HTTP answer. */
export function answer(
  outcome: TriggerOutcome,
  workflow: string,
  target: Record<string, string | undefined> = {},
):
  | { status: number; body: unknown; retryAfter?: number }
  | { code: Parameters<typeof sendError>[1]; message: string; details: Record<string, unknown>; retryAfter?: number } {
  switch (outcome.result) {
    case 'started':
    case 'duplicate':
      return {
        status: outcome.result === 'started' ? 202 : 200,
        body: {
          status: outcome.result,
          workflow,
          workflow_id: outcome.workflowId,
          run_id: outcome.runId,
          task_queue: outcome.taskQueue,
        },
      };
    case 'awaiting_approval':
      return {
        status: 202,
        body: {
          status: 'awaiting_approval',
          approval_id: outcome.approvalId,
          workflow,
          target,
          expires_at: outcome.expiresAt,
          why: outcome.why,
        },
      };
    case 'dry_run':
      return { status: 200, body: { status: 'dry_run', workflow, task_queue: outcome.taskQueue, constraints: outcome.checks } };
    case 'shadow':
      return {
        status: 200,
        body: {
          status: 'shadow',
          workflow,
          workflow_id: outcome.workflowId,
          task_queue: outcome.taskQueue,
          would_start: outcome.wouldStart,
        },
      };
    case 'refused': {
      const r = outcome.refusal;
      return {
        code: 'constraint_refused',
        message:
          r.message ??
          `refused by ${String(r.constraint.description)}: ${r.count} counted in scope ${String(r.constraint.scope)}`,
        details: {
          constraint: r.constraint,
          count: r.count,
          retry_after_seconds: r.retryAfterSeconds,
          dry_run: outcome.dryRun,
          ...(outcome.checks ? { constraints: outcome.checks } : {}),
        },
        retryAfter: r.retryAfterSeconds,
      };
    }
    case 'invalid':
      return { code: outcome.code, message: outcome.message, details: outcome.details };
    case 'error':
      return {
        code: outcome.code,
        message: outcome.message,
        details: 'details' in outcome ? outcome.details : {},
        retryAfter: outcome.code === 'temporal_unavailable' ? 5 : outcome.code === 'ledger_failed' ? 30 : undefined,
      };
  }
}

/** Closed runs whose progress this coordinator has read, at most (their progress never changes). */
const CLOSED_PROGRESS_KEPT = 1000;

/**
 * The workflow's progress query, or undefined when no worker answers in time (none polling its
 * queue) or the run has no such query (ping). The answer for a closed run is final, so it is kept
 * (by run id, the last CLOSED_PROGRESS_KEPT runs): the run's later statuses replay nothing on a
 * worker. Runs that record their progress in their memo when they end are not queried at all.
 */
function progressReader(temporal: TemporalGateway, workflowId: string, closedRuns: Map<string, object | null>): ProgressReader {
  return async (runId, closed) => {
    const kept = closedRuns.get(runId);
    if (kept !== undefined) return kept ?? undefined;
    let answer: object | null;
    try {
      answer = progressView(
        await temporal.withDeadline(
          (client) => client.workflow.getHandle(workflowId, runId).query<Progress>(PROGRESS_QUERY),
          PROGRESS_TIMEOUT_MS,
        ),
      );
    } catch (err) {
      // A worker said the run has no progress query: final too. A timeout is not.
      if (!(err instanceof QueryNotRegisteredError)) return undefined;
      answer = null;
    }
    if (closed) {
      if (closedRuns.size >= CLOSED_PROGRESS_KEPT) closedRuns.delete(closedRuns.keys().next().value!);
      closedRuns.set(runId, answer);
    }
    return answer ?? undefined;
  };
}

export const executionRoutes: FastifyPluginAsync<{
  admission: Admission;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
}> = async (app, { admission, temporal, metrics }) => {
  const closedRuns = new Map<string, object | null>();
  app.post<{ Params: { name: string }; Querystring: { dry_run?: 'true' | 'false' }; Body: TriggerBody }>(
    TRIGGER_ROUTE,
    {
      schema: {
        summary: 'Trigger a workflow',
        description:
          "Checks the workflow's safety constraints and starts it on the task queue its task_queue_target and the target select. " +
          'With ?dry_run=true, evaluates everything and starts nothing. The same idempotency_key again returns the first execution (200).',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', pattern: WORKFLOW_NAME.source, description: 'configured workflow name' } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { dry_run: { type: 'string', enum: ['true', 'false'] } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['target'],
          properties: {
            target: TARGET_SCHEMA,
            params: {
              type: 'object',
              maxProperties: 64,
              additionalProperties: { type: 'string', maxLength: 4096 },
              description:
                "the workflow's settable params (GET /v1/workflows shows each one's type and constraints); others are 400",
            },
            reason: { type: 'string', maxLength: 1024, description: 'why: shown in the audit log and the execution memo' },
            idempotency_key: {
              type: 'string',
              pattern: IDEMPOTENCY_KEY.source,
              description: 'a repeat returns the first execution',
            },
            force: { type: 'boolean', description: 'pass a change freeze (only identities listed in its force_uris may)' },
          },
        },
        response: {
          200: {
            description: 'dry run that would start, an idempotent repeat (the first execution), or a shadow-mode workflow',
            anyOf: [DRY_RUN_SCHEMA, STARTED_SCHEMA, SHADOW_SCHEMA],
          },
          202: {
            description: 'started, or (a workflow with an approval block) waiting for an approver: nothing started yet',
            anyOf: [STARTED_SCHEMA, AWAITING_SCHEMA],
          },
          ...errorResponses(
            ...COMMON_ERRORS,
            'invalid_request',
            'unknown_workflow',
            'payload_too_large',
            'constraint_refused',
            'temporal_unavailable',
            'ledger_failed',
          ),
        },
      },
    },
    async (request, reply) => {
      request.audited = true;
      const outcome = await admission.admitTrigger({
        workflow: request.params.name,
        target: request.body.target,
        params: request.body.params,
        reason: request.body.reason,
        idempotencyKey: request.body.idempotency_key,
        identity: request.caller.identity,
        source: 'api',
        dryRun: request.query.dry_run === 'true',
        force: request.body.force,
      });
      const a = answer(outcome, request.params.name, request.body.target);
      if (a.retryAfter !== undefined) reply.header('Retry-After', String(a.retryAfter));
      if ('status' in a) return reply.code(a.status).send(a.body);
      return sendError(reply, a.code, a.message, a.details);
    },
  );

  app.get<{ Querystring: ListFilter }>(
    '/v1/executions',
    {
      schema: {
        summary: 'Recent executions',
        description:
          "medic's executions from Temporal visibility, newest first, filtered by workflow, node, status, outcome and escalation ladder. " +
          'Visibility is eventually consistent: a start can take a moment to appear.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            workflow: { type: 'string', pattern: WORKFLOW_NAME.source, description: 'configured workflow name' },
            node: { ...TARGET_NAME, pattern: NO_QUOTES, description: 'target node' },
            status: { type: 'string', enum: [...LIST_STATUSES] },
            outcome: { type: 'string', enum: [...OUTCOMES] },
            ladder: {
              type: 'string',
              minLength: 1,
              maxLength: 256,
              pattern: NO_QUOTES,
              description: "an escalation ladder's episode: its first run's workflow id",
            },
            limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$', description: 'at most this many (1-1000, default 50)' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['executions'],
            properties: { executions: { type: 'array', items: SUMMARY_SCHEMA } },
          },
          ...errorResponses(...COMMON_ERRORS, 'invalid_request', 'temporal_unavailable'),
        },
      },
    },
    async (request, reply) => {
      const limit = Number(request.query.limit ?? 50);
      try {
        const executions = await temporal.withDeadline((client) => listExecutions(client, request.query, limit));
        return reply.send({ executions });
      } catch (err) {
        metrics.temporalErrors.inc({ operation: 'list' });
        if (isTemporalUnavailable(err)) {
          reply.header('Retry-After', '5');
          return sendError(reply, 'temporal_unavailable', 'Temporal is unreachable or did not answer in time; retry later', {});
        }
        throw err;
      }
    },
  );

  app.get<{ Params: { workflow_id: string } }>(
    '/v1/executions/:workflow_id',
    {
      schema: {
        summary: 'Status of one execution',
        description: 'Status, result and a history summary of a medic execution (the latest run of the workflow id).',
        params: {
          type: 'object',
          required: ['workflow_id'],
          properties: { workflow_id: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9._:=-]+$' } },
        },
        response: {
          200: EXECUTION_SCHEMA,
          ...errorResponses(...COMMON_ERRORS, 'invalid_request', 'unknown_execution', 'temporal_unavailable'),
        },
      },
    },
    async (request, reply) => {
      const id = request.params.workflow_id;
      try {
        const status = await temporal.withDeadline((client) =>
          describeExecution(client, id, progressReader(temporal, id, closedRuns)),
        );
        if (!status) return sendError(reply, 'unknown_execution', `no execution ${JSON.stringify(id)}`, {});
        return reply.send(status);
      } catch (err) {
        metrics.temporalErrors.inc({ operation: 'describe' });
        if (isTemporalUnavailable(err)) {
          reply.header('Retry-After', '5');
          return sendError(reply, 'temporal_unavailable', 'Temporal is unreachable or did not answer in time; retry later', {});
        }
        throw err;
      }
    },
  );
};
