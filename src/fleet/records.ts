// Reads from Temporal visibility what stats and `medic list --shadow` show: executions of the
// configured workflows over the stats window, and the recorded shadow admissions.
import type { Client } from '@temporalio/client';
import { queryValue } from '../naming/search-attributes';
import { MARKER_TYPES } from './markers';
import { STATS_WINDOW_MS, type ExecutionRecord } from './stats';

const PER_WORKFLOW_LIMIT = 2_000;

function keyword(attrs: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = attrs?.[name];
  return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : typeof v === 'string' ? v : undefined;
}

export async function readExecutionRecords(
  client: Client,
  workflows: readonly string[],
  now: number,
): Promise<ExecutionRecord[]> {
  const since = new Date(now - STATS_WINDOW_MS).toISOString();
  const out: ExecutionRecord[] = [];
  for (const workflow of workflows) {
    let n = 0;
    for await (const e of client.workflow.list({
      query: `MedicWorkflow = ${queryValue(workflow)} AND StartTime > ${queryValue(since)}`,
      pageSize: 500,
    })) {
      const attrs = e.searchAttributes as Record<string, unknown> | undefined;
      out.push({
        workflow,
        target: keyword(attrs, 'MedicNode') ?? keyword(attrs, 'MedicDatacenter') ?? '',
        status: e.status.name,
        medicOutcome: keyword(attrs, 'MedicOutcome'),
        start: e.startTime.getTime(),
        ...(e.closeTime ? { close: e.closeTime.getTime() } : {}),
      });
      if (++n >= PER_WORKFLOW_LIMIT) break;
    }
  }
  return out;
}

export interface ShadowAdmission {
  workflow_id: string;
  workflow: string;
  target: Record<string, string>;
  task_queue?: string;
  trigger?: string;
  reason?: string;
  params?: Record<string, string>;
  time: string;
}

/** Shadow admissions, newest first. */
export async function listShadowAdmissions(
  client: Client,
  opts: { workflow?: string; limit: number },
): Promise<ShadowAdmission[]> {
  const out: ShadowAdmission[] = [];
  for await (const e of client.workflow.list({
    query: `WorkflowType = '${MARKER_TYPES.shadow}'`,
    pageSize: Math.min(opts.limit, 500),
  })) {
    const m = (e.memo ?? {}) as Record<string, unknown>;
    if (opts.workflow !== undefined && m.workflow !== opts.workflow) continue;
    out.push({
      workflow_id: String(m.workflow_id ?? e.workflowId.replace(/^medic-shadow:/, '')),
      workflow: String(m.workflow ?? ''),
      target: (m.target ?? {}) as Record<string, string>,
      ...(typeof m.task_queue === 'string' ? { task_queue: m.task_queue } : {}),
      ...(typeof m.trigger === 'string' ? { trigger: m.trigger } : {}),
      ...(typeof m.reason === 'string' ? { reason: m.reason } : {}),
      ...(m.params ? { params: m.params as Record<string, string> } : {}),
      time: e.startTime.toISOString(),
    });
    if (out.length >= opts.limit) break;
  }
  return out.sort((a, b) => b.time.localeCompare(a.time));
}
