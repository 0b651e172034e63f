// /healthz (the process is up), /readyz (config loaded, Temporal reachable, the ledger worker polling; ledgers that cannot run), /metrics.
import type { FastifyPluginAsync } from 'fastify';
import type { LiveConfig } from '../live-config';
import type { CoordinatorMetrics } from '../metrics';
import type { TemporalGateway } from '../../temporal/gateway';
import type { LedgerHealth } from '../../ledger/health';
import type { LedgerWorkerStatus } from '../ledger-worker';
import { COMMON_ERRORS, errorResponses } from './schemas';

const READY_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    temporal: { type: 'string', enum: ['reachable', 'unreachable'] },
    config: { type: 'string', enum: ['loaded'] },
    workflows: { type: 'integer' },
    config_loaded_at: { type: 'string', format: 'date-time' },
    /** This coordinator's ledger worker: not ready while it starts (the ledgers it would run wait for it). */
    ledger_worker: { type: 'string', enum: ['not_started', 'starting', 'polling'] },
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
  ledgerWorker: () => LedgerWorkerStatus;
}> = async (app, { temporal, metrics, config, ledgers, ledgerWorker }) => {
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
        summary: 'Readiness: configuration loaded, Temporal reachable and the ledger worker polling',
        response: { 200: READY_SCHEMA, 503: { ...READY_SCHEMA, description: 'not ready' }, ...errorResponses(...COMMON_ERRORS) },
      },
    },
    async (_request, reply) => {
      const reachable = await temporal.ready();
      const state = config.current;
      const worker = ledgerWorker();
      const ready = reachable && worker !== 'starting';
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ready' : 'not_ready',
        temporal: reachable ? 'reachable' : 'unreachable',
        config: 'loaded',
        workflows: state.workflows.size,
        config_loaded_at: state.loadedAt.toISOString(),
        ledger_worker: worker,
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
