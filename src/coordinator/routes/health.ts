// /healthz (the process is up), /readyz (config loaded and Temporal reachable; ledgers that cannot run), /metrics.
import type { FastifyPluginAsync } from 'fastify';
import type { LiveConfig } from '../live-config';
import type { CoordinatorMetrics } from '../metrics';
import type { TemporalGateway } from '../../temporal/gateway';
import type { LedgerHealth } from '../../ledger/health';
import { COMMON_ERRORS, errorResponses } from './schemas';

const READY_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    temporal: { type: 'string', enum: ['reachable', 'unreachable'] },
    config: { type: 'string', enum: ['loaded'] },
    workflows: { type: 'integer' },
    config_loaded_at: { type: 'string', format: 'date-time' },
    /** Ledgers that cannot run: only the workflows each governs are refused (503 ledger_failed); the rest is served. */
    ledgers_failed: {
      type: 'array',
      items: {
        type: 'object',
        properties: { ledger: { type: 'string' }, reason: { type: 'string' }, since: { type: 'string', format: 'date-time' } },
      },
    },
  },
} as const;

export const healthRoutes: FastifyPluginAsync<{
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  config: LiveConfig;
  ledgers: LedgerHealth;
}> = async (app, { temporal, metrics, config, ledgers }) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process is up',
        response: {
          200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: configuration loaded and Temporal reachable',
        response: { 200: READY_SCHEMA, 503: { ...READY_SCHEMA, description: 'not ready' }, ...errorResponses(...COMMON_ERRORS) },
      },
    },
    async (_request, reply) => {
      const reachable = await temporal.ready();
      const state = config.current;
      return reply.code(reachable ? 200 : 503).send({
        status: reachable ? 'ready' : 'not_ready',
        temporal: reachable ? 'reachable' : 'unreachable',
        config: 'loaded',
        workflows: state.workflows.size,
        config_loaded_at: state.loadedAt.toISOString(),
        ledgers_failed: ledgers.failures(),
      });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        produces: ['text/plain'],
        response: {
          200: { type: 'string', description: 'Prometheus text exposition format' },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
    },
    async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
};
