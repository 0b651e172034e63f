// Effectiveness of each workflow from its executions: outcomes, time to heal, and recurrence
// (the same target needing the same workflow again within 24 h). Pure; the reader is in gate.ts.
import { executionOutcome, type Outcome } from './policy';

export const RECURRENCE_WINDOW_MS = 24 * 3_600_000;
export const STATS_WINDOW_MS = 7 * 24 * 3_600_000;

export interface ExecutionRecord {
  workflow: string;
  /** The target node, or the datacenter for targets without a node. */
  target: string;
  status: string;
  medicOutcome?: string;
  start: number;
  close?: number;
}

export interface WorkflowStats {
  workflow: string;
  executions: number;
  outcomes: Partial<Record<Outcome, number>>;
  /** Of executions that healed (or completed without an outcome): seconds from start to close. */
  timeToHealSeconds?: { p50: number; p90: number; mean: number };
  /** Executions that started within 24 h of the previous one of the same workflow on the same target. */
  recurrences: number;
  recurrenceRate: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export function computeStats(records: readonly ExecutionRecord[]): WorkflowStats[] {
  const byWorkflow = new Map<string, ExecutionRecord[]>();
  for (const r of records) {
    const list = byWorkflow.get(r.workflow) ?? [];
    list.push(r);
    byWorkflow.set(r.workflow, list);
  }
  const out: WorkflowStats[] = [];
  for (const [workflow, list] of [...byWorkflow.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const outcomes: Partial<Record<Outcome, number>> = {};
    const heal: number[] = [];
    for (const r of list) {
      const o = executionOutcome(r.status, r.medicOutcome);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
      if ((o === 'healed' || o === 'completed') && r.close !== undefined) heal.push((r.close - r.start) / 1000);
    }
    heal.sort((a, b) => a - b);
    let recurrences = 0;
    const lastStart = new Map<string, number>();
    for (const r of [...list].sort((a, b) => a.start - b.start)) {
      const prev = lastStart.get(r.target);
      if (prev !== undefined && r.start - prev <= RECURRENCE_WINDOW_MS) recurrences++;
      lastStart.set(r.target, r.start);
    }
    out.push({
      workflow,
      executions: list.length,
      outcomes,
      ...(heal.length
        ? {
            timeToHealSeconds: {
              p50: quantile(heal, 0.5),
              p90: quantile(heal, 0.9),
              mean: heal.reduce((a, b) => a + b, 0) / heal.length,
            },
          }
        : {}),
      recurrences,
      recurrenceRate: list.length ? recurrences / list.length : 0,
    });
  }
  return out;
}
