// POST /v1/alertmanager: Alertmanager's webhook receiver (payload version 4). Each firing alert
// that a route of coordinator.hcl's alertmanager block matches becomes one trigger through
// admitTrigger (source "alertmanager"), after the ACL admits the caller to that workflow's own
// trigger path; the alert's fingerprint and startsAt make it idempotent, so Alertmanager's
// repeat notifications find the first execution instead of starting another.
import type { FastifyPluginAsync } from 'fastify';
import { authorize } from '../acl';
import type { Admission, TriggerOutcome } from '../admission';
import { ALERTMANAGER_PAYLOAD_SCHEMA, planAlert, type AlertmanagerPayload, type AlertPlan } from '../alertmanager-payload';
import { sendError } from '../errors';
import type { LiveConfig } from '../live-config';
import type { CoordinatorMetrics } from '../metrics';
import { COMMON_ERRORS, CONSTRAINT_SCHEMA, errorResponses } from './schemas';

export const ALERTMANAGER_ROUTE = '/v1/alertmanager';
/**
 * Alertmanager sends whole groups (2,000 alerts of a rack are about 3.4 MB) and never retries a
 * 4xx: a 413 would lose them silently. Any number of alerts that fits is taken.
 */
export const ALERTMANAGER_BODY_LIMIT = 4 * 1024 * 1024;

/** The path whose route rules decide whether a caller may start `workflow` (the API's trigger path). */
export function triggerPath(workflow: string): string {
  return `/v1/workflows/${encodeURIComponent(workflow)}/executions`;
}

/** Triggers of one payload decided at once; a group of thousands of alerts must not open thousands of Temporal calls. */
const PARALLEL_TRIGGERS = 8;
const REASON_MAX = 1024;

export interface AlertResult {
  fingerprint: string;
  alertname?: string;
  result: TriggerOutcome['result'] | 'skipped' | 'denied';
  workflow?: string;
  workflow_id?: string;
  run_id?: string;
  task_queue?: string;
  /** The approval request a start waits for (awaiting_approval). */
  approval_id?: string;
  /** Why nothing started: skipped, invalid, refused, error. */
  message?: string;
  constraint?: Record<string, unknown>;
  count?: number;
  retry_after_seconds?: number;
}

const RESULT_SCHEMA = {
  type: 'object',
  required: ['fingerprint', 'result'],
  properties: {
    fingerprint: { type: 'string' },
    alertname: { type: 'string' },
    result: {
      type: 'string',
      enum: ['started', 'duplicate', 'shadow', 'awaiting_approval', 'refused', 'invalid', 'error', 'skipped', 'denied'],
    },
    approval_id: { type: 'string' },
    workflow: { type: 'string' },
    workflow_id: { type: 'string' },
    run_id: { type: 'string' },
    task_queue: { type: 'string' },
    message: { type: 'string' },
    constraint: CONSTRAINT_SCHEMA,
    count: { type: 'integer' },
    retry_after_seconds: { type: 'integer' },
  },
} as const;

function resultOf(plan: AlertPlan & { action: 'trigger' }, outcome: TriggerOutcome): Omit<AlertResult, 'fingerprint'> {
  const workflow = plan.trigger.workflow;
  switch (outcome.result) {
    case 'started':
    case 'duplicate':
      return {
        result: outcome.result,
        workflow,
        workflow_id: outcome.workflowId,
        run_id: outcome.runId,
        task_queue: outcome.taskQueue,
      };
    case 'refused':
      return {
        result: 'refused',
        workflow,
        message: outcome.refusal.message ?? `refused by ${String(outcome.refusal.constraint.description)}`,
        constraint: outcome.refusal.constraint,
        count: outcome.refusal.count,
        retry_after_seconds: outcome.refusal.retryAfterSeconds,
      };
    case 'invalid':
    case 'error':
      return { result: outcome.result, workflow, message: outcome.message };
    case 'dry_run':
      return { result: 'dry_run', workflow };
    case 'shadow':
      return { result: 'shadow', workflow, workflow_id: outcome.workflowId, task_queue: outcome.taskQueue };
    case 'awaiting_approval':
      return { result: 'awaiting_approval', workflow, approval_id: outcome.approvalId, message: outcome.why };
  }
}

/** Runs `work` over `items` with at most `limit` in flight, keeping the order of the results. */
export async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

export const alertmanagerRoutes: FastifyPluginAsync<{
  admission: Admission;
  config: LiveConfig;
  metrics: CoordinatorMetrics;
}> = async (app, { admission, config, metrics }) => {
  app.post<{ Body: AlertmanagerPayload }>(
    ALERTMANAGER_ROUTE,
    {
      bodyLimit: ALERTMANAGER_BODY_LIMIT,
      schema: {
        summary: 'Alertmanager webhook receiver',
        description:
          'Alertmanager webhook payload version 4. Each firing alert matched by a route of the alertmanager block of ' +
          "coordinator.hcl becomes one trigger of that route's workflow (labels fill the target and only the params the " +
          'route maps), if the route rules also admit the caller to POST /v1/workflows/{name}/executions (else the alert ' +
          'is "denied"); its fingerprint and startsAt are the idempotency key, so repeat ' +
          'notifications return the first execution. Resolved alerts start nothing. Answers 200 with one result per alert, ' +
          'also when constraints refuse some (Alertmanager would otherwise retry); 503 when Temporal is unavailable, so ' +
          'Alertmanager retries the group (the alerts already started come back as duplicates).',
        body: ALERTMANAGER_PAYLOAD_SCHEMA,
        response: {
          200: {
            type: 'object',
            required: ['results'],
            properties: { results: { type: 'array', items: RESULT_SCHEMA } },
          },
          ...errorResponses(
            ...COMMON_ERRORS,
            'invalid_request',
            'payload_too_large',
            'unsupported_media_type',
            'temporal_unavailable',
            'ledger_failed',
          ),
        },
      },
    },
    async (request, reply) => {
      const cfg = config.current.coordinator.alertmanager;
      const plans = request.body.alerts.map((alert) => ({ alert, plan: planAlert(alert, cfg) }));
      const errors = new Set<'temporal_unavailable' | 'ledger_failed' | 'internal'>();
      const results = await inParallel(plans, PARALLEL_TRIGGERS, async ({ alert, plan }): Promise<AlertResult> => {
        const head = { fingerprint: plan.fingerprint, ...(alert.labels.alertname ? { alertname: alert.labels.alertname } : {}) };
        if (plan.action === 'skip') {
          metrics.alertmanagerAlerts.inc({ result: alert.status === 'resolved' ? 'skipped_resolved' : 'skipped_unrouted' });
          return { ...head, result: 'skipped', message: plan.reason };
        }
        const t = plan.trigger;
        // The route rules decide on the workflow the alert leads to, as if the caller had asked for it directly.
        const access = authorize(config.current.acl, {
          method: 'POST',
          path: triggerPath(t.workflow),
          identity: request.caller.identity,
        });
        if (!access.allowed) {
          const reason = `no route rule admits this caller to start ${t.workflow}`;
          admission.recordDenial(
            { workflow: t.workflow, target: t.target, identity: request.caller.identity, source: 'alertmanager' },
            reason,
          );
          metrics.alertmanagerAlerts.inc({ result: 'denied' });
          return { ...head, result: 'denied', workflow: t.workflow, message: `forbidden: ${reason}` };
        }
        const outcome = await admission.admitTrigger({
          workflow: t.workflow,
          target: t.target,
          params: t.params,
          reason: t.reason.slice(0, REASON_MAX),
          idempotencyKey: t.idempotencyKey,
          identity: request.caller.identity,
          source: 'alertmanager',
        });
        metrics.alertmanagerAlerts.inc({ result: outcome.result });
        if (outcome.result === 'error') errors.add(outcome.code);
        return { ...head, ...resultOf(plan, outcome) };
      });
      // An alert that could not be decided (Temporal unavailable, an internal failure): answer
      // 5xx so Alertmanager retries the group; the alerts that did start come back as
      // duplicates. Refusals and invalid alerts are final: 200, or Alertmanager retries forever.
      if (errors.size > 0) {
        const code = (['temporal_unavailable', 'ledger_failed', 'internal'] as const).find((c) => errors.has(c))!;
        if (code !== 'internal') reply.header('Retry-After', code === 'temporal_unavailable' ? '5' : '30');
        const undecided = results.filter((r) => r.result === 'error').length;
        return sendError(reply, code, `${undecided} of ${results.length} alerts could not be decided; retry the notification`, {
          results,
        });
      }
      return reply.code(200).send({ results });
    },
  );
};
