// The coordinator's Prometheus metrics, on a registry of its own (one per coordinator, so
// tests can build many).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type TriggerResult =
  'started' | 'duplicate' | 'dry_run' | 'shadow' | 'refused' | 'denied' | 'invalid' | 'error' | 'awaiting_approval';

export interface CoordinatorMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  triggers: Counter<'workflow' | 'result' | 'source'>;
  refusals: Counter<'workflow' | 'kind' | 'scope'>;
  alertmanagerAlerts: Counter<'result'>;
  triggerSeconds: Histogram<'result'>;
  temporalErrors: Counter<'operation'>;
  visibilitySkipped: Counter;
  temporalCalls: Counter<'method'>;
  temporalCallSeconds: Histogram<'method'>;
  admissionDrift: Gauge<'workflow' | 'kind'>;
  temporalConnected: Gauge;
  configReloadSuccessful: Gauge;
  configReloadSeconds: Gauge;
  approvals: Counter<'workflow' | 'outcome'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): CoordinatorMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'medic_coordinator_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'medic_coordinator_http_requests_total',
      help: 'HTTP requests by route pattern, method and status code.',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    triggers: new Counter({
      name: 'medic_coordinator_triggers_total',
      help: 'Trigger decisions by workflow, result and source (api, alertmanager, slack, ...).',
      labelNames: ['workflow', 'result', 'source'],
      registers,
    }),
    refusals: new Counter({
      name: 'medic_coordinator_constraint_refusals_total',
      help: 'Starts refused by a safety constraint, by workflow, constraint kind and scope (target or global).',
      labelNames: ['workflow', 'kind', 'scope'],
      registers,
    }),
    alertmanagerAlerts: new Counter({
      name: 'medic_coordinator_alertmanager_alerts_total',
      help: 'Alerts received on the Alertmanager webhook, by what became of them (a trigger result, or skipped_resolved / skipped_unrouted / denied).',
      labelNames: ['result'],
      registers,
    }),
    triggerSeconds: new Histogram({
      name: 'medic_coordinator_trigger_duration_seconds',
      help: 'Time to decide a trigger (and start the workflow), by result.',
      labelNames: ['result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    temporalErrors: new Counter({
      name: 'medic_coordinator_temporal_errors_total',
      help: 'Temporal calls that failed, by operation.',
      labelNames: ['operation'],
      registers,
    }),
    temporalCalls: new Counter({
      name: 'medic_coordinator_temporal_calls_total',
      help: 'gRPC calls the coordinator made to Temporal, by method (StartWorkflowExecution, DescribeWorkflowExecution, ...).',
      labelNames: ['method'],
      registers,
    }),
    temporalCallSeconds: new Histogram({
      name: 'medic_coordinator_temporal_call_seconds',
      help: 'Duration of the gRPC calls the coordinator made to Temporal, by method.',
      labelNames: ['method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    admissionDrift: new Gauge({
      name: 'medic_coordinator_admission_drift',
      help: 'Executions beyond a constraint that Temporal visibility shows at the last reconciliation (0: visibility agrees with admission).',
      labelNames: ['workflow', 'kind'],
      registers,
    }),
    visibilitySkipped: new Counter({
      name: 'medic_coordinator_visibility_checks_skipped_total',
      help: 'Admissions decided by slot leases alone because the visibility query budget (admission.visibility_qps) was spent.',
      registers,
    }),
    temporalConnected: new Gauge({
      name: 'medic_coordinator_temporal_connected',
      help: '1 when the coordinator holds a connection to Temporal.',
      registers,
    }),
    configReloadSuccessful: new Gauge({
      name: 'medic_coordinator_config_last_reload_successful',
      help: '1 when the last configuration (re)load succeeded.',
      registers,
    }),
    configReloadSeconds: new Gauge({
      name: 'medic_coordinator_config_last_reload_success_timestamp_seconds',
      help: 'When the configuration was last loaded successfully.',
      registers,
    }),
    approvals: new Counter({
      name: 'medic_approvals_total',
      help: 'Approval steps by workflow and outcome: requested, approved, denied, started, refused (at the start), forbidden (four eyes, not an approver), expired, late (a decision after the request was decided or expired).',
      labelNames: ['workflow', 'outcome'],
      registers,
    }),
  };
}
