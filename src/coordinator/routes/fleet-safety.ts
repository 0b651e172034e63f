// Fleet-safety routes: POST/DELETE/GET /v1/pauses (the pause switch), GET /v1/stats
// (effectiveness per workflow) and GET /v1/shadow-admissions. The ACL governs each like any route.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { parseDuration } from '../../duration';
import { WORKFLOW_NAME } from '../../config/workflow';
import type { FleetSafety } from '../../fleet/gate';
import type { FleetMetrics } from '../../fleet/metrics';
import { endPause, listPauses, setPause } from '../../fleet/pauses';
import { describePauseScope, type PauseScope } from '../../fleet/policy';
import { listShadowAdmissions, readExecutionRecords } from '../../fleet/records';
import { computeStats, type WorkflowStats } from '../../fleet/stats';
import type { AuditSink } from '../../telemetry/audit';
import { sendError } from '../errors';
import type { LiveConfig } from '../live-config';
import type { CoordinatorMetrics } from '../metrics';
import { isTemporalUnavailable, type TemporalGateway } from '../../temporal/gateway';
import { COMMON_ERRORS, errorResponses, TARGET_NAME } from './schemas';

const SCOPE_PROPERTIES = {
  workflow: { type: 'string', pattern: WORKFLOW_NAME.source, description: 'only this workflow (absent: every workflow)' },
  datacenter: { ...TARGET_NAME, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'only this datacenter' },
  node_type: { ...TARGET_NAME, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'only this node type' },
} as const;

const PAUSE_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    scope: {
      type: 'object',
      properties: { workflow: { type: 'string' }, datacenter: { type: 'string' }, node_type: { type: 'string' } },
    },
    description: { type: 'string' },
    reason: { type: 'string' },
    by: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
  },
} as const;

interface ScopeBody {
  workflow?: string;
  datacenter?: string;
  node_type?: string;
}

function scopeOf(b: ScopeBody): PauseScope {
  return {
    ...(b.workflow && { workflow: b.workflow }),
    ...(b.datacenter && { datacenter: b.datacenter }),
    ...(b.node_type && { nodeType: b.node_type }),
  };
}

export function pauseJson(p: {
  id: string;
  scope: PauseScope;
  reason: string;
  by: string;
  since: string;
  until?: string;
}): Record<string, unknown> {
  return {
    id: p.id,
    scope: {
      ...(p.scope.workflow && { workflow: p.scope.workflow }),
      ...(p.scope.datacenter && { datacenter: p.scope.datacenter }),
      ...(p.scope.nodeType && { node_type: p.scope.nodeType }),
    },
    description: describePauseScope(p.scope),
    reason: p.reason,
    by: p.by,
    since: p.since,
    ...(p.until ? { until: p.until } : {}),
  };
}

function unavailable(reply: FastifyReply, metrics: CoordinatorMetrics, operation: string, err: unknown): FastifyReply {
  metrics.temporalErrors.inc({ operation });
  if (!isTemporalUnavailable(err)) throw err;
  reply.header('Retry-After', '5');
  return sendError(reply, 'temporal_unavailable', 'Temporal is unreachable or did not answer in time; retry later', {});
}

export const fleetSafetyRoutes: FastifyPluginAsync<{
  gate: FleetSafety;
  fleetMetrics: FleetMetrics;
  config: LiveConfig;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  stats(): Promise<WorkflowStats[]>;
}> = async (app, { gate: fleet, fleetMetrics, config, temporal, metrics, audit, stats }) => {
  app.post<{ Body: ScopeBody & { reason: string; for?: string } }>(
    '/v1/pauses',
    {
      schema: {
        summary: 'Pause remediation',
        description:
          'Refuses every start in the scope (workflow, datacenter, node type; absent fields mean every) on every coordinator replica within a second, until resumed or `for` has passed.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['reason'],
          properties: {
            ...SCOPE_PROPERTIES,
            reason: { type: 'string', minLength: 1, maxLength: 1024 },
            for: { type: 'string', maxLength: 32, description: 'a duration such as "2h"; absent: until resumed' },
          },
        },
        response: {
          200: { ...PAUSE_SCHEMA, description: 'already paused: the pause in force (unchanged)' },
          201: { ...PAUSE_SCHEMA, description: 'paused' },
          ...errorResponses(...COMMON_ERRORS, 'invalid_request', 'temporal_unavailable'),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      let forMs: number | undefined;
      if (b.for !== undefined) {
        forMs = parseDuration(b.for);
        if (!forMs || forMs <= 0)
          return sendError(reply, 'invalid_request', `for: ${JSON.stringify(b.for)} is not a duration such as "30m" or "2h"`, {
            field: 'for',
          });
      }
      const scope = scopeOf(b);
      const by = request.caller.identity ?? 'anonymous';
      try {
        const { created, pause } = await temporal.withDeadline((c) => setPause(c, scope, { reason: b.reason, by, forMs }));
        fleet.pauses.forget(scope);
        if (created) {
          fleetMetrics.pauseChanges.inc({ action: 'pause', by: 'human' });
          request.audited = true;
          audit({
            decision: 'paused',
            identity: request.caller.identity,
            method: 'POST',
            path: '/v1/pauses',
            constraint: `pause of ${describePauseScope(scope)}`,
            reason: b.reason,
            ...(scope.workflow ? { workflow: scope.workflow } : {}),
          });
        }
        return reply.code(created ? 201 : 200).send(pauseJson(pause));
      } catch (err) {
        return unavailable(reply, metrics, 'pause', err);
      }
    },
  );

  app.delete<{ Querystring: ScopeBody & { reason?: string } }>(
    '/v1/pauses',
    {
      schema: {
        summary: 'Resume remediation',
        description: 'Ends the pause of exactly this scope (as it was set), whoever set it, the circuit breaker included.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...SCOPE_PROPERTIES, reason: { type: 'string', maxLength: 1024 } },
        },
        response: {
          200: { ...PAUSE_SCHEMA, description: 'the pause that was lifted' },
          ...errorResponses(...COMMON_ERRORS, 'invalid_request', 'not_found', 'temporal_unavailable'),
        },
      },
    },
    async (request, reply) => {
      const scope = scopeOf(request.query);
      const who = request.caller.identity ?? 'anonymous';
      try {
        const ended = await temporal.withDeadline((c) =>
          endPause(c, scope, `resumed by ${who}${request.query.reason ? `: ${request.query.reason}` : ''}`),
        );
        fleet.pauses.forget(scope);
        if (!ended)
          return sendError(reply, 'not_found', `no pause of ${describePauseScope(scope)} (medic pauses lists them)`, {});
        fleetMetrics.pauseChanges.inc({ action: 'resume', by: 'human' });
        request.audited = true;
        audit({
          decision: 'resumed',
          identity: request.caller.identity,
          method: 'DELETE',
          path: '/v1/pauses',
          constraint: `pause of ${describePauseScope(scope)}`,
          reason: request.query.reason,
          ...(scope.workflow ? { workflow: scope.workflow } : {}),
        });
        return reply.send(pauseJson(ended));
      } catch (err) {
        return unavailable(reply, metrics, 'resume', err);
      }
    },
  );

  app.get(
    '/v1/pauses',
    {
      schema: {
        summary: 'Pauses in force',
        description: 'From Temporal visibility (eventually consistent: a change can take a moment to show).',
        response: {
          200: { type: 'object', required: ['pauses'], properties: { pauses: { type: 'array', items: PAUSE_SCHEMA } } },
          ...errorResponses(...COMMON_ERRORS, 'temporal_unavailable'),
        },
      },
    },
    async (_request, reply) => {
      try {
        const pauses = await temporal.withDeadline((c) => listPauses(c));
        return reply.send({ pauses: pauses.map(pauseJson) });
      } catch (err) {
        return unavailable(reply, metrics, 'list_pauses', err);
      }
    },
  );

  app.get<{ Querystring: { workflow?: string } }>(
    '/v1/stats',
    {
      schema: {
        summary: 'Effectiveness per workflow',
        description:
          'Outcomes, time to heal and recurrence (same target again within 24 h) over the last 7 days, from Temporal visibility.',
        querystring: { type: 'object', additionalProperties: false, properties: { workflow: SCOPE_PROPERTIES.workflow } },
        response: {
          200: {
            type: 'object',
            required: ['workflows'],
            properties: { workflows: { type: 'array', items: { type: 'object', additionalProperties: true } } },
          },
          ...errorResponses(...COMMON_ERRORS, 'invalid_request', 'unknown_workflow', 'temporal_unavailable'),
        },
      },
    },
    async (request, reply) => {
      const only = request.query.workflow;
      if (only !== undefined && !config.current.workflows.has(only))
        return sendError(reply, 'unknown_workflow', `no workflow named ${JSON.stringify(only)}`, {});
      try {
        const all =
          only === undefined
            ? await stats()
            : computeStats(await temporal.withDeadline((c) => readExecutionRecords(c, [only], Date.now()), 30_000));
        return reply.send({ workflows: all.filter((s) => only === undefined || s.workflow === only) });
      } catch (err) {
        return unavailable(reply, metrics, 'stats', err);
      }
    },
  );

  app.get<{ Querystring: { workflow?: string; limit?: string } }>(
    '/v1/shadow-admissions',
    {
      schema: {
        summary: 'Recorded shadow admissions',
        description:
          'What shadow-mode workflows would have started, newest first (Temporal visibility; kept for the namespace retention).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { workflow: SCOPE_PROPERTIES.workflow, limit: { type: 'string', pattern: '^([1-9][0-9]{0,2}|1000)$' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['shadow_admissions'],
            properties: { shadow_admissions: { type: 'array', items: { type: 'object', additionalProperties: true } } },
          },
          ...errorResponses(...COMMON_ERRORS, 'invalid_request', 'temporal_unavailable'),
        },
      },
    },
    async (request, reply) => {
      try {
        const limit = Number(request.query.limit ?? 50);
        const list = await temporal.withDeadline((c) => listShadowAdmissions(c, { workflow: request.query.workflow, limit }));
        return reply.send({ shadow_admissions: list });
      } catch (err) {
        return unavailable(reply, metrics, 'list_shadow', err);
      }
    },
  );
};
