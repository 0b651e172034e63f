// What each view of the web console shows, read from the coordinator's own objects and from
// Temporal: running remediations, recent outcomes, holds and budgets, refusals and the audit trail.
// Bounded reads only: the first view must render fast with thousands of executions.
import type { Client } from '@temporalio/client';
import type { CoordinatorParts } from '../app';
import { listExecutions, listExecutionsByQuery, type ExecutionSummary } from '../execution-status';
import { executionListQuery } from '../execution-list';
import { budgetLimit } from '../../fleet/policy';
import { fleetStateQuery } from '../../ledger/messages';
import type { FleetLedgerState } from '../../ledger/fleet/state';
import type { AuditQuery } from '../../telemetry/audit';
import { journalMissing } from '../../audit/journal';
import type { JournalLine } from '../../audit/state';
import type { Progress } from '../../../workflows/progress';

/** The query every medic workflow answers (workflows/progress.ts); by name, so no workflow code is imported here. */
const PROGRESS_QUERY = 'progress';

/** Rows the running and outcome lists show; the totals are counted. */
export const LIST_ROWS = 100;

export interface ExecutionRow extends ExecutionSummary {
  /** Seconds from start to close, for executions that ended. */
  duration_seconds?: number;
  temporal_url?: string;
}

export function temporalUrl(base: string | undefined, namespace: string, workflowId: string): string | undefined {
  if (!base) return undefined;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

function row(e: ExecutionSummary, base: string | undefined, namespace: string): ExecutionRow {
  const closed = e.close_time ? Date.parse(e.close_time) : undefined;
  return {
    ...e,
    ...(closed !== undefined && { duration_seconds: Math.max(0, (closed - Date.parse(e.start_time)) / 1000) }),
    ...(base && { temporal_url: temporalUrl(base, namespace, e.workflow_id) }),
  };
}

/** Running executions (newest first, LIST_ROWS of them) and how many run in all. */
export async function runningView(
  parts: CoordinatorParts,
  uiBase?: string,
): Promise<{ total: number; executions: ExecutionRow[] }> {
  const ns = parts.temporal.config.namespace;
  const [total, list] = await parts.temporal.visibility(
    (c) =>
      Promise.all([
        c.workflow.count(executionListQuery({ status: 'running' })).then((r) => r.count),
        listExecutions(c, { status: 'running' }, LIST_ROWS),
      ]),
    10_000,
  );
  return { total, executions: list.map((e) => row(e, uiBase, ns)) };
}

/** Closed executions, newest first: how each ended and how long it took. */
export async function outcomesView(parts: CoordinatorParts, uiBase?: string): Promise<{ executions: ExecutionRow[] }> {
  const ns = parts.temporal.config.namespace;
  const query = `${executionListQuery({})} AND ExecutionStatus != 'Running'`;
  const list = await parts.temporal.visibility((c) => listExecutionsByQuery(c, query, LIST_ROWS), 10_000);
  return { executions: list.map((e) => row(e, uiBase, ns)) };
}

/**
 * The `progress` query of one run; undefined when no worker answers in time. The run masks its
 * own secret values in what it records (workflows/progress.ts), so the answer is shown as it is;
 * the console does not fetch each run's history (describeExecution) on every poll.
 */
export async function progressOf(client: Client, workflowId: string): Promise<Progress | undefined> {
  try {
    return await client.workflow.getHandle(workflowId).query<Progress>(PROGRESS_QUERY);
  } catch {
    return undefined;
  }
}

export interface HoldRow {
  node?: string;
  execution: string;
  workflow: string;
  trigger: string;
  since: string;
}

export interface BudgetRow {
  budget: string;
  per: string;
  scope: string;
  used: number;
  /** Undefined when the limit cannot be known (a percentage of a fleet of unknown size). */
  limit?: number;
  problem?: string;
  holders: string[];
}

/** Disruptive holds per node and each budget's use against its limit, from the fleet ledger. */
export async function holdsView(
  parts: CoordinatorParts,
): Promise<{ holds: HoldRow[]; budgets: BudgetRow[]; ledger: boolean; unavailable?: string }> {
  const cfg = parts.config.current.coordinator.fleet;
  let state: FleetLedgerState | undefined;
  let unavailable: string | undefined;
  try {
    state = await parts.temporal.withDeadline(
      (c) => c.workflow.getHandle(parts.fleetLedger.ledgerId).query(fleetStateQuery),
      5_000,
    );
  } catch (err) {
    // No ledger yet: nothing has been held since the namespace was new. Otherwise the view still
    // shows the budgets' limits, and says why their use is unknown (a busy or failed ledger).
    if ((err as Error).name !== 'WorkflowNotFoundError')
      unavailable = `the fleet ledger did not answer: ${(err as Error).message.split('\n')[0]}`;
  }
  const holds: HoldRow[] = Object.entries(state?.holds ?? {})
    .map(([execution, h]) => ({
      ...(h.node && { node: h.node }),
      execution,
      workflow: h.workflow,
      trigger: h.trigger,
      since: new Date(h.at).toISOString(),
    }))
    .sort((a, b) => (a.node ?? '').localeCompare(b.node ?? '') || a.since.localeCompare(b.since));
  const budgets: BudgetRow[] = [];
  for (const b of cfg?.budgets ?? []) {
    const scopes = new Map<string, string[]>();
    for (const [key, holders] of Object.entries(state?.places ?? {})) {
      const [name, value] = [key.slice(0, key.lastIndexOf('|')), key.slice(key.lastIndexOf('|') + 1)];
      if (name === b.name && holders.length > 0) scopes.set(value, holders);
    }
    if (b.per === 'global' && !scopes.has('global')) scopes.set('global', []);
    for (const [value, holders] of [...scopes.entries()].sort(([x], [y]) => x.localeCompare(y))) {
      const limit = budgetLimit(b, value, parts.fleet.fleetSize(cfg!).reading(b.per, value));
      budgets.push({
        budget: b.name,
        per: b.per,
        scope: b.per === 'global' ? 'global' : `${b.per}=${value}`,
        used: holders.length,
        ...('limit' in limit ? { limit: limit.limit } : { problem: limit.refuse }),
        holders,
      });
    }
  }
  return { holds, budgets, ledger: state !== undefined, ...(unavailable && { unavailable }) };
}

/** Audit lines and where they come from: the shared journal (every replica), or this replica's own trail when the journal does not answer. */
export interface AuditAnswer {
  entries: JournalLine[];
  scope: 'all_replicas' | 'this_replica';
  /** Why only this replica's lines are shown. */
  unavailable?: string;
}

/** Audit lines matching `q`, newest first: from the audit journal, else from this replica's trail, said so. */
export async function auditView(parts: CoordinatorParts, q: AuditQuery): Promise<AuditAnswer> {
  const search = { ...q, limit: q.limit ?? 200 };
  try {
    return { ...(await parts.auditJournal.search(search)), scope: 'all_replicas' };
  } catch (err) {
    const replica = parts.auditJournal.replica;
    return {
      entries: parts.auditTrail.search(search).map((e, i) => ({ id: `local-${i}`, replica, ...e })),
      scope: 'this_replica',
      unavailable: journalMissing(err)
        ? 'no coordinator has written to the audit journal yet'
        : `the audit journal did not answer: ${(err as Error).message.split('\n')[0]}`,
    };
  }
}

/** Starts refused by a control, newest first. */
export async function refusalsView(parts: CoordinatorParts, limit = 200): Promise<AuditAnswer> {
  return auditView(parts, { decisions: ['refused'], limit });
}
