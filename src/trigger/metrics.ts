// The trigger daemon's metrics, on its own registry.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createTriggerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'medic_trigger_process_' });
  return {
    registry,
    evaluations: new Counter({
      name: 'medic_trigger_rule_evaluations_total',
      help: 'Rule evaluations (one PromQL query or one HTTP check each), by result (ok, error; HTTP checks: ok, failed)',
      labelNames: ['rule', 'result'] as const,
      registers: [registry],
    }),
    evaluationSeconds: new Histogram({
      name: 'medic_trigger_rule_evaluation_duration_seconds',
      help: 'Time to query Prometheus (or run an HTTP check) and update a rule',
      labelNames: ['rule'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    series: new Gauge({
      name: 'medic_trigger_series',
      help: 'Series currently returned by a rule, by state (pending or firing); log and HTTP rules: groups and checks failing or firing',
      labelNames: ['rule', 'state'] as const,
      registers: [registry],
    }),
    triggers: new Counter({
      name: 'medic_trigger_triggers_total',
      help: 'Trigger requests sent to the coordinator, by result (started, refused, rejected, unavailable; coalesced: an identical request of another episode answered it)',
      labelNames: ['rule', 'workflow', 'result'] as const,
      registers: [registry],
    }),
    errors: new Counter({
      name: 'medic_trigger_errors_total',
      help: 'Errors by kind (prometheus_unreachable, prometheus_timeout, prometheus_bad_response, prometheus_query_error, prometheus_http_status, template, coordinator_unavailable, coordinator_rejected, refusals_exhausted, queue_full, state_file, log_read, log_groups_full, journal_exited, journal_bad_entry)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    episodes: new Counter({
      name: 'medic_trigger_episodes_total',
      help: 'Firing episodes opened (each asks the coordinator for one start), by rule and source (prometheus, log, http)',
      labelNames: ['rule', 'source'] as const,
      registers: [registry],
    }),
    logBytes: new Counter({
      name: 'medic_trigger_log_read_bytes_total',
      help: 'Bytes read by a log rule (file, or journalctl output)',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    logLines: new Counter({
      name: 'medic_trigger_log_lines_total',
      help: 'Lines (journal entries) read by a log rule',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    logMatches: new Counter({
      name: 'medic_trigger_log_matches_total',
      help: "Lines that matched a log rule's pattern",
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    logCutLines: new Counter({
      name: 'medic_trigger_log_cut_lines_total',
      help: 'Lines longer than the line limit: matched on their beginning (files) or skipped (journal entries)',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    logBehind: new Gauge({
      name: 'medic_trigger_log_behind_bytes',
      help: 'Bytes of a followed file not read yet (the size minus the read offset)',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    logRotations: new Counter({
      name: 'medic_trigger_log_rotations_total',
      help: 'Rotations of a followed file seen, by kind (rename, truncate)',
      labelNames: ['rule', 'kind'] as const,
      registers: [registry],
    }),
    evaluationLag: new Gauge({
      name: 'medic_trigger_evaluation_lag_seconds',
      help: 'How long after its grid point the last evaluation of a rule finished (stays under poll_interval when healthy)',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    missedEvaluations: new Counter({
      name: 'medic_trigger_missed_evaluations_total',
      help: 'Grid points skipped because the previous evaluation overran (the next one replays history)',
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'medic_trigger_send_queue_depth',
      help: 'Firing episodes waiting to be sent to the coordinator (due now or later)',
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'medic_trigger_sends_in_flight',
      help: 'Trigger requests sent and not yet answered',
      registers: [registry],
    }),
    reloadOk: new Gauge({
      name: 'medic_trigger_config_last_reload_successful',
      help: '1 if the last configuration (re)load succeeded',
      registers: [registry],
    }),
    reloadTime: new Gauge({
      name: 'medic_trigger_config_last_reload_success_timestamp_seconds',
      help: 'When the configuration was last loaded successfully',
      registers: [registry],
    }),
  };
}

export type TriggerMetrics = ReturnType<typeof createTriggerMetrics>;
