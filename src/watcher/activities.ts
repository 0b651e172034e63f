// The close watcher's activities, run by the coordinators' ledger workers: list the medic runs
// that closed unhealed without a page (visibility), say what to page about one (its history) and
// which diagnose steps to run for it, and read where an earlier watcher left off (its memo).
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { Counter } from 'prom-client';
import type { DiagnoseRequest, PageRequest } from '../../activities';
import type { WorkflowInput } from '../../workflows/shared/input';
import { ESCALATED, FAILED, dedupKeyOf } from '../../workflows/escalation';
import { renderDiagnose } from '../../workflows/diagnose';
import { nodeQueue } from '../naming/task-queues';
import { historySummary, startInput } from '../temporal/execution-history';
import { maskSecretValues, secretValues } from '../params/resolve';
import { SEARCH_ATTRIBUTES, queryValue } from '../naming/search-attributes';
import {
  UNPAGED_STATUSES,
  WATCHER_MEMO,
  type ClosedRun,
  type ClosedStatus,
  type ListAnswer,
  type ListRequest,
  type ResumePoint,
} from './state';

/**
 * medic_unpaged_closes_total{status}: runs the watcher caught, each counted once, when the watcher
 * takes it from visibility (countUnpagedCloses, in the coordinator whose ledger worker ran that
 * activity; sum over coordinators). Watcher runs before WATCHER_RETRY_PATCH count where each
 * page is prepared instead (again on each attempt). One counter per process, added to each
 * coordinator's registry (src/watcher/start.ts).
 */
export const UNPAGED_CLOSES_METRIC = 'medic_unpaged_closes_total';
export const unpagedClosesTotal = new Counter({
  name: UNPAGED_CLOSES_METRIC,
  help: 'Medic runs that closed unhealed (timed out, terminated, cancelled, failed) without a page of their own, caught by the close watcher (each once, however many attempts its page takes), by close status.',
  labelNames: ['status'],
  registers: [],
});

/** A page about an unpaged close, and the run's diagnose steps to run on its node first. */
export interface PreparedPage {
  page: PageRequest;
  /** Rendered from the run's input (each request carries the run's secrets as `redact`); absent without diagnose steps. */
  diagnose?: { taskQueue: string; steps: DiagnoseRequest[] };
  /** Why the diagnose steps cannot run at all (their templates cannot be filled). */
  unavailable?: string;
}

/** How the watcher asks for a page: `counted` when it counted the catch itself (WATCHER_RETRY_PATCH). */
export interface PrepareOptions {
  counted?: boolean;
}

export interface WatcherActivities {
  listUnpagedCloses(req: ListRequest): Promise<ListAnswer>;
  /** Before WATCHER_DIAGNOSE_PATCH: the page alone. */
  describeUnpagedClose(run: ClosedRun): Promise<PageRequest>;
  prepareUnpagedPage(run: ClosedRun, options?: PrepareOptions): Promise<PreparedPage>;
  /** Adds one catch's runs to medic_unpaged_closes_total (the watcher calls it once per catch, never retried). */
  countUnpagedCloses(counts: Partial<Record<ClosedStatus, number>>): Promise<void>;
  /** Where the last watcher of `workflowId` that closed left off (its memo), if one did. */
  lastResumePoint(workflowId: string): Promise<ResumePoint | undefined>;
}

/** The diagnose steps of a closed run, rendered as its own escalation would, for its node's queue. */
export function diagnoseRequests(input: Partial<WorkflowInput>): Pick<PreparedPage, 'diagnose' | 'unavailable'> {
  if (!input.diagnose?.length || !input.target) return {};
  const taskQueue = input.target.node ? nodeQueue(input.target.node) : input.activityQueue;
  if (!taskQueue) return {};
  const full = { params: {}, ...input } as WorkflowInput;
  const secrets = secretValues(input.paramSchema, input.params);
  try {
    const steps = input.diagnose.map((step) => ({
      ...renderDiagnose(step, full),
      ...(secrets.length && { redact: secrets }),
    }));
    return { diagnose: { taskQueue, steps } };
  } catch (err) {
    return { unavailable: (err as Error).message };
  }
}

/**
 * The visibility query of unpaged closes: medic executions (MedicWorkflow set) that closed
 * unhealed after `sinceMs` and recorded no outcome (a run that paged, or healed, set MedicOutcome).
 */
export function unpagedQuery(sinceMs: number, scope?: string): string {
  const statuses = UNPAGED_STATUSES.map((s) => `'${s}'`).join(', ');
  return [
    `${SEARCH_ATTRIBUTES.workflow.name} IS NOT NULL`,
    `${SEARCH_ATTRIBUTES.outcome.name} IS NULL`,
    `ExecutionStatus IN (${statuses})`,
    `CloseTime > '${new Date(sinceMs).toISOString()}'`,
    ...(scope ? [`(${scope})`] : []),
  ].join(' AND ');
}

function closedRun(e: WorkflowExecutionInfo): ClosedRun {
  const sa = e.typedSearchAttributes;
  return {
    workflowId: e.workflowId,
    runId: e.runId,
    taskQueue: e.taskQueue,
    status: e.status.name as ClosedStatus,
    closeTimeMs: e.closeTime!.getTime(),
    workflow: sa.get(SEARCH_ATTRIBUTES.workflow),
    node: sa.get(SEARCH_ATTRIBUTES.node),
    datacenter: sa.get(SEARCH_ATTRIBUTES.datacenter),
  };
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/**
 * The outcome of a run that escalated but whose own page was not delivered (it then records no
 * MedicOutcome: UNPAGED_ESCALATION_PATCH), from its failure; undefined for any other close.
 */
export function unpagedEscalation(run: Pick<ClosedRun, 'status'>, events: HistoryEvent[]): 'escalated' | 'failed' | undefined {
  if (run.status !== 'FAILED') return undefined;
  const type = events.at(-1)?.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.type;
  return type === ESCALATED ? 'escalated' : type === FAILED ? 'failed' : undefined;
}

/** How the run ended, in a few words, from its close event (and the cancel request before it). */
export function howItEnded(run: Pick<ClosedRun, 'status'>, events: HistoryEvent[]): string {
  const last = events.at(-1);
  if (unpagedEscalation(run, events))
    return `escalated, but its own page was not delivered: ${last?.workflowExecutionFailedEventAttributes?.failure?.message ?? 'no failure message'}`;
  switch (run.status) {
    case 'TIMED_OUT':
      return 'killed by its execution timeout before it could page (no worker ran it in time)';
    case 'TERMINATED': {
      const t = last?.workflowExecutionTerminatedEventAttributes;
      return `terminated${t?.identity ? ` by ${t.identity}` : ''}${t?.reason ? `: ${t.reason}` : ''}`;
    }
    case 'CANCELLED': {
      const asked = events.find(
        (e) => e.workflowExecutionCancelRequestedEventAttributes,
      )?.workflowExecutionCancelRequestedEventAttributes;
      return `cancelled${asked?.identity ? ` by ${asked.identity}` : ''}${asked?.cause ? `: ${asked.cause}` : ''}`;
    }
    case 'FAILED':
      return `failed before its catch-all could page: ${last?.workflowExecutionFailedEventAttributes?.failure?.message ?? 'no failure message'}`;
  }
}

export function createWatcherActivities(visibility: () => Client): WatcherActivities {
  return {
    async listUnpagedCloses(req) {
      const skip = new Set(req.skip);
      const runs: ClosedRun[] = [];
      let newest: number | undefined;
      let complete = true;
      for await (const e of visibility().workflow.list({ query: unpagedQuery(req.sinceMs, req.scope), pageSize: 1000 })) {
        if (!e.closeTime) continue;
        newest = Math.max(newest ?? 0, e.closeTime.getTime());
        if (skip.has(e.runId)) continue;
        if (runs.length >= req.limit) {
          complete = false;
          continue; // keep reading: newestCloseMs covers every match
        }
        runs.push(closedRun(e));
      }
      return { runs, complete, ...(newest !== undefined && { newestCloseMs: newest }) };
    },

    describeUnpagedClose: async (run) => (await describe(run, {})).page,

    async prepareUnpagedPage(run, options = {}) {
      const { page, input } = await describe(run, options);
      const found = input ? diagnoseRequests(input) : {};
      return {
        page,
        ...found,
        ...(found.unavailable && { unavailable: maskSecretValues(found.unavailable, input?.paramSchema, input?.params ?? {}) }),
      };
    },

    async countUnpagedCloses(counts) {
      for (const [status, n] of Object.entries(counts)) unpagedClosesTotal.inc({ status: status.toLowerCase() }, n);
    },

    async lastResumePoint(workflowId) {
      let newest: { closeMs: number; point: ResumePoint } | undefined;
      const query = `WorkflowId = ${queryValue(workflowId)} AND ExecutionStatus != 'Running'`;
      for await (const e of visibility().workflow.list({ query, pageSize: 100 })) {
        const raw = e.memo?.[WATCHER_MEMO];
        if (typeof raw !== 'string' || !e.closeTime) continue;
        try {
          const point = JSON.parse(raw) as ResumePoint;
          if (typeof point.watermarkMs !== 'number' || typeof point.handled !== 'object') continue;
          if (!newest || e.closeTime.getTime() > newest.closeMs) newest = { closeMs: e.closeTime.getTime(), point };
        } catch {
          // Not a memo this code wrote: look further.
        }
      }
      return newest?.point;
    },
  };

  async function describe(
    run: ClosedRun,
    options: PrepareOptions,
  ): Promise<{ page: PageRequest; input?: Partial<WorkflowInput> }> {
    const client = visibility();
    let events: HistoryEvent[] = [];
    try {
      events = (await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events ?? [];
    } catch {
      // Past retention: page with what visibility said.
    }
    const input = events.length ? await startInput(client, { events }) : undefined;
    const workflow = input?.workflow ?? run.workflow ?? 'unknown';
    const target = input?.target ?? {
      ...(run.node && { node: run.node }),
      ...(run.datacenter && { datacenter: run.datacenter }),
    };
    const where = target.node ?? target.datacenter ?? 'any target';
    const tried = historySummary({ events })
      // History records an activity's start only once it ends: one still open at the close did not finish.
      .activities.map(
        (a) => `${a.activity_type}: ${a.status === 'scheduled' || a.status === 'started' ? 'unfinished' : a.status}`,
      )
      .slice(-20);
    const req: PageRequest = {
      action: 'trigger',
      dedupKey: dedupKeyOf(workflow, target),
      summary: `${workflow} on ${where} ended without healing and without a page: ${howItEnded(run, events)}`,
      outcome: unpagedEscalation(run, events) ?? run.status.toLowerCase(),
      workflow,
      workflowId: run.workflowId,
      runId: run.runId,
      target,
      tried: [...tried, `closed ${run.status} at ${new Date(run.closeTimeMs).toISOString()}`],
    };
    if (!options.counted) unpagedClosesTotal.inc({ status: run.status.toLowerCase() });
    // A termination reason or failure message may quote a secret param's value.
    return { page: maskSecretValues(req, input?.paramSchema, input?.params ?? {}), ...(input && { input }) };
  }
}
