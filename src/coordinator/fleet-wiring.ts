// Builds fleet safety for one coordinator: the admission hook, its metrics on the coordinator's
// registry, and the cached effectiveness figures that /v1/stats and the gauges share.
import type { Registry } from 'prom-client';
import type { AuditSink } from '../telemetry/audit';
import type { LiveConfig } from './live-config';
import type { CoordinatorMetrics } from './metrics';
import type { TemporalGateway } from '../temporal/gateway';
import { FleetSafety } from '../fleet/gate';
import type { FleetLedgerClient } from '../ledger/fleet/client';
import { createFleetMetrics, registerEffectivenessGauges, type FleetMetrics } from '../fleet/metrics';
import { readExecutionRecords } from '../fleet/records';
import { computeStats, type WorkflowStats } from '../fleet/stats';

/** How long computed stats are reused (visibility is not queried on every scrape). */
export const STATS_CACHE_MS = 60_000;

export function createFleetSafety(deps: {
  ledger: FleetLedgerClient;
  config: LiveConfig;
  temporal: TemporalGateway;
  registry: Registry;
  metrics: CoordinatorMetrics;
  audit: AuditSink;
  log(message: string): void;
}): { gate: FleetSafety; fleetMetrics: FleetMetrics; stats(): Promise<WorkflowStats[]> } {
  const fleetMetrics = createFleetMetrics(deps.registry);
  const gate = new FleetSafety({
    config: () => deps.config.current.coordinator.fleet,
    temporal: deps.temporal,
    ledger: deps.ledger,
    metrics: fleetMetrics,
    audit: deps.audit,
    log: deps.log,
  });
  let cached: { at: number; value: Promise<WorkflowStats[]> } | undefined;
  const stats = (): Promise<WorkflowStats[]> => {
    const now = Date.now();
    if (!cached || now - cached.at > STATS_CACHE_MS) {
      const names = [...deps.config.current.workflows.keys()].sort();
      const value = deps.temporal.withDeadline((c) => readExecutionRecords(c, names, now), 30_000).then(computeStats);
      value.catch(() => {
        deps.metrics.temporalErrors.inc({ operation: 'stats' });
        cached = undefined;
      });
      cached = { at: now, value };
    }
    return cached.value;
  };
  registerEffectivenessGauges(deps.registry, stats);
  return { gate, fleetMetrics, stats };
}
