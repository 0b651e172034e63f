// Reads of medic executions (status, result, history summary; the recent ones), shared by
// GET /v1/executions/{id}, GET /v1/executions and the chat commands `status` and `list`.
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { maskSecretValues } from '../params/resolve';
import { SEARCH_ATTRIBUTES } from '../naming/search-attributes';
import { executionListQuery, type ListFilter } from './execution-list';
import { closedOutcome, historySummary, startInput, type HistorySummary } from '../temporal/execution-history';
import { LADDER_MEMO, type LadderStep } from '../../workflows/shared/ladder';
import { PROGRESS_MEMO, type Progress } from '../../workflows/shared/progress';

/** One execution in full: what a list shows, plus its type, result and history summary. */
export interface ExecutionStatus extends ExecutionSummary {
  workflow: string;
  workflow_type: string;
  result?: unknown;
  failure?: string;
  /** The workflow's `progress` query, when the caller asked for it and a worker answered. */
  progress?: object;
  /** A step of an escalation ladder: the episode (MedicLadder) and the steps as its memo has them. */
  ladder?: { episode: string; steps: LadderStep[] };
  history: HistorySummary;
}

/** The memo's ladder, when it holds one this code can read. */
function ladderSteps(memo: Record<string, unknown> | undefined): LadderStep[] {
  try {
    const steps = JSON.parse(String(memo?.[LADDER_MEMO] ?? '[]')) as unknown;
    return Array.isArray(steps) ? (steps as LadderStep[]) : [];
  } catch {
    return [];
  }
}

/** The run a history is of: its started event's run id (a reset run's names the run it was reset from). */
function startedRunId(history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>>): string | undefined {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId ?? undefined;
}

/** What GET /v1/executions/{id} shows of a `progress` (workflows/progress.ts): no event history. */
export function progressView(p: Progress): object {
  return {
    status: p.status,
    step: p.step,
    step_number: p.stepNumber,
    steps: p.steps,
    ...(p.attempt !== undefined && { attempt: p.attempt }),
    ...(p.detail !== undefined && { detail: p.detail }),
  };
}

/** The progress a closed run recorded in its memo when it ended (PROGRESS_MEMO_PATCH), if it did. */
function recordedProgress(memo: Record<string, unknown> | undefined): object | undefined {
  const text = memo?.[PROGRESS_MEMO];
  if (typeof text !== 'string') return undefined;
  try {
    const p = JSON.parse(text) as Progress;
    return typeof p?.step === 'string' && Array.isArray(p.steps) ? progressView(p) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Asks for a run's progress: `closed` says the run has ended, so the answer can never change
 * (the caller may keep it). Only called when the run did not record its progress itself.
 */
export type ProgressReader = (runId: string, closed: boolean) => Promise<object | undefined>;

/**
 * The latest run of a medic execution, or undefined when there is none. Other workflows in
 * the namespace (and admission leases) carry no MedicWorkflow attribute and stay invisible.
 * `progress` reads the run's progress query; a closed run that recorded its progress in its
 * memo is not queried (a query replays the whole run on a worker). The describe and the latest
 * run's history are read at once; the result or failure comes from the history's close event. Whatever the run produced from its
 * secret params (command output, rendered URLs, failure messages, progress) comes back masked:
 * this is the one place GET /v1/executions/{id}, `medic status` and chat `status` read a run.
 */
export async function describeExecution(
  client: Client,
  id: string,
  progress?: ProgressReader,
): Promise<ExecutionStatus | undefined> {
  // The latest run's history is fetched beside the describe: it is the described run's unless a
  // new run started in between (then it is fetched again, by run id).
  const [described, latest] = await Promise.allSettled([
    client.workflow.getHandle(id).describe(),
    client.workflow.getHandle(id).fetchHistory(),
  ]);
  if (described.status === 'rejected') {
    if (described.reason instanceof WorkflowNotFoundError) return undefined;
    throw described.reason;
  }
  const d = described.value;
  const sa = d.typedSearchAttributes;
  const workflow = sa.get(SEARCH_ATTRIBUTES.workflow);
  if (!workflow) return undefined;
  const status: ExecutionStatus = {
    workflow_id: d.workflowId,
    run_id: d.runId,
    workflow,
    workflow_type: d.type,
    status: d.status.name,
    task_queue: d.taskQueue,
    target: { node: sa.get(SEARCH_ATTRIBUTES.node), datacenter: sa.get(SEARCH_ATTRIBUTES.datacenter) },
    trigger: sa.get(SEARCH_ATTRIBUTES.trigger),
    ...(sa.get(SEARCH_ATTRIBUTES.outcome) !== undefined && { outcome: sa.get(SEARCH_ATTRIBUTES.outcome) }),
    start_time: d.startTime.toISOString(),
    ...(d.closeTime ? { close_time: d.closeTime.toISOString() } : {}),
    history: { events: 0, activities: [] },
  };
  const episode = sa.get(SEARCH_ATTRIBUTES.ladder);
  if (episode !== undefined) status.ladder = { episode, steps: ladderSteps(d.memo) };
  const run = client.workflow.getHandle(id, d.runId);
  const closed = d.status.name !== 'RUNNING';
  const recorded = closed ? recordedProgress(d.memo) : undefined;
  const [history, p] = await Promise.all([
    latest.status === 'fulfilled' && startedRunId(latest.value) === d.runId ? latest.value : run.fetchHistory(),
    recorded ?? progress?.(d.runId, closed),
  ]);
  if (d.status.name === 'COMPLETED' || d.status.name === 'FAILED') {
    // From the history's close event; from Temporal again only when that history ends elsewhere.
    Object.assign(
      status,
      (await closedOutcome(client, history)) ??
        (await run.result().then(
          (result: unknown) => ({ result }),
          (err: unknown) => ({
            failure: err instanceof WorkflowFailedError ? (err.cause?.message ?? err.message) : (err as Error).message,
          }),
        )),
    );
  }
  status.history = historySummary(history);
  if (p) status.progress = p;
  const input = await startInput(client, history);
  return maskSecretValues(status, input?.paramSchema, input?.params ?? {});
}

export interface ExecutionSummary {
  workflow_id: string;
  run_id: string;
  workflow?: string;
  status: string;
  task_queue: string;
  target: { node?: string; datacenter?: string };
  trigger?: string;
  /** healed, nothing_to_heal, escalated or failed, once the run has ended (MedicOutcome). */
  outcome?: string;
  start_time: string;
  close_time?: string;
}

/**
 * Medic's recent executions matching `filter`, newest first (visibility: eventually consistent).
 * The query is built by executionListQuery, every value through queryValue.
 */
export async function listExecutions(client: Client, filter: ListFilter, limit: number): Promise<ExecutionSummary[]> {
  return listExecutionsByQuery(client, executionListQuery(filter), limit);
}

/** The same, for a visibility query built by executionListQuery (and clauses added to it, values through queryValue). */
export async function listExecutionsByQuery(client: Client, query: string, limit: number): Promise<ExecutionSummary[]> {
  const out: ExecutionSummary[] = [];
  for await (const e of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
    const sa = e.typedSearchAttributes;
    out.push({
      workflow_id: e.workflowId,
      run_id: e.runId,
      workflow: sa.get(SEARCH_ATTRIBUTES.workflow),
      status: e.status.name,
      task_queue: e.taskQueue,
      target: { node: sa.get(SEARCH_ATTRIBUTES.node), datacenter: sa.get(SEARCH_ATTRIBUTES.datacenter) },
      trigger: sa.get(SEARCH_ATTRIBUTES.trigger),
      ...(sa.get(SEARCH_ATTRIBUTES.outcome) !== undefined && { outcome: sa.get(SEARCH_ATTRIBUTES.outcome) }),
      start_time: e.startTime.toISOString(),
      ...(e.closeTime ? { close_time: e.closeTime.toISOString() } : {}),
    });
    if (out.length >= limit) break;
  }
  return out;
}
