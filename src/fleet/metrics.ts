// Fleet-safety metrics, registered on the coordinator's registry: refusals by control, pause
// changes, escalations, shadow admissions, and effectiveness gauges computed from visibility.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { WorkflowStats } from './stats';

export interface FleetMetrics {
  refusals: Counter<'workflow' | 'control'>;
  pauseChanges: Counter<'action' | 'by'>;
  escalations: Counter<'workflow' | 'reason'>;
  shadowAdmissions: Counter<'workflow' | 'result'>;
  forced: Counter<'workflow'>;
}

export function createFleetMetrics(registry: Registry): FleetMetrics {
  const registers = [registry];
  return {
    refusals: new Counter({
      name: 'medic_fleet_refusals_total',
      help: 'Starts refused by a fleet-safety control (pause, freeze, circuit_breaker, flapping, disruptive_lock, budget), by workflow.',
      labelNames: ['workflow', 'control'],
      registers,
    }),
    pauseChanges: new Counter({
      name: 'medic_fleet_pause_changes_total',
      help: 'Pauses set and lifted, by action (pause, resume) and by whom (human, circuit_breaker).',
      labelNames: ['action', 'by'],
      registers,
    }),
    escalations: new Counter({
      name: 'medic_fleet_escalations_total',
      help: 'Escalations raised by fleet safety instead of remediating: circuit_breaker (the remedy is not working) or flapping (the node keeps needing it).',
      labelNames: ['workflow', 'reason'],
      registers,
    }),
    shadowAdmissions: new Counter({
      name: 'medic_shadow_admissions_total',
      help: 'Triggers of shadow-mode workflows, by what would have happened (would_start or refused).',
      labelNames: ['workflow', 'result'],
      registers,
    }),
    forced: new Counter({
      name: 'medic_fleet_freeze_forced_total',
      help: 'Starts admitted during a change freeze by an identity allowed to force.',
      labelNames: ['workflow'],
      registers,
    }),
  };
}

/** Effectiveness gauges, filled on each scrape from `read` (which caches; visibility is not queried per scrape). */
export function registerEffectivenessGauges(registry: Registry, read: () => Promise<WorkflowStats[]>): void {
  const registers = [registry];
  let latest: WorkflowStats[] = [];
  const refresh = async (): Promise<void> => {
    try {
      latest = await read();
    } catch {
      // Keep the last figures; the coordinator's temporal error counter says why.
    }
  };
  new Gauge({
    name: 'medic_workflow_outcomes',
    help: 'Executions per workflow and outcome (healed, nothing_to_heal, escalated, failed, completed, cancelled, running) over the stats window (7 days).',
    labelNames: ['workflow', 'outcome'],
    registers,
    async collect() {
      await refresh();
      this.reset();
      for (const s of latest)
        for (const [outcome, n] of Object.entries(s.outcomes)) this.set({ workflow: s.workflow, outcome }, n);
    },
  });
  new Gauge({
    name: 'medic_workflow_time_to_heal_seconds',
    help: 'Time from start to close of healed executions per workflow over the stats window, by quantile.',
    labelNames: ['workflow', 'quantile'],
    registers,
    collect() {
      this.reset();
      for (const s of latest) {
        if (!s.timeToHealSeconds) continue;
        this.set({ workflow: s.workflow, quantile: '0.5' }, s.timeToHealSeconds.p50);
        this.set({ workflow: s.workflow, quantile: '0.9' }, s.timeToHealSeconds.p90);
      }
    },
  });
  new Gauge({
    name: 'medic_workflow_recurrences',
    help: 'Executions per workflow whose target needed the same workflow again within 24 h, over the stats window.',
    labelNames: ['workflow'],
    registers,
    collect() {
      this.reset();
      for (const s of latest) this.set({ workflow: s.workflow }, s.recurrences);
    },
  });
}
