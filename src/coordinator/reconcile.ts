// Reconciliation: Temporal visibility as the independent witness of admission. Periodically
// counts, per workflow, constraint and scope, the executions visibility shows in the
// constraint's window and reports every scope holding more than the constraint allows (an
// execution started behind medic's back, or a bug), as a gauge and one log line each.
import type { Client } from '@temporalio/client';
import type { WorkflowConfig } from '../config/workflow';
import { SEARCH_ATTRIBUTES, queryValue } from '../naming/search-attributes';
import { describeConstraint } from '../admission/constraints';
import { NONCE_MEMO } from './leases';

export interface Discrepancy {
  workflow: string;
  constraint: string;
  kind: string;
  /** The scope as visibility can tell it ("node=a", "datacenter=dc1", "global"). */
  scope: string;
  count: number;
  value: number;
  /** Executions in the scope that no medic admission started (no admission memo). */
  outside: string[];
}

/**
 * Executions listed per workflow and constraint at most, the newest first: one page, a bound on
 * the cost of a pass whatever the history (a list's cost grows with the store). A start behind
 * medic's back is among the newest when it happens.
 */
const LIST_LIMIT = 500;

/** One pass over every workflow's constraints; the scopes over their limit. */
export async function reconcile(client: Client, workflows: Iterable<WorkflowConfig>, now: number): Promise<Discrepancy[]> {
  const found: Discrepancy[] = [];
  for (const wf of workflows) {
    for (const c of wf.constraints) {
      const since = new Date(now - c.periodMs).toISOString();
      const query =
        `MedicWorkflow = ${queryValue(wf.name)} AND StartTime > ${queryValue(since)}` +
        (c.kind === 'concurrency' ? ` AND ExecutionStatus = 'Running'` : '');
      // One count first: when the whole window holds no more than the value, no scope can (the
      // common case, and a list of a busy week's executions is what a large history makes slow).
      if ((await client.workflow.count(query)).count <= c.value) continue;
      const scopes = new Map<string, { count: number; outside: string[] }>();
      let listed = 0;
      for await (const e of client.workflow.list({ query, pageSize: LIST_LIMIT })) {
        const sa = e.typedSearchAttributes;
        const node = sa.get(SEARCH_ATTRIBUTES.node);
        const dc = sa.get(SEARCH_ATTRIBUTES.datacenter);
        const scope = c.isGlobal ? 'global' : wf.taskQueueTarget === 'node' ? `node=${node ?? ''}` : `datacenter=${dc ?? ''}`;
        const s = scopes.get(scope) ?? { count: 0, outside: [] };
        s.count += 1;
        if (e.memo?.[NONCE_MEMO] === undefined) s.outside.push(e.workflowId);
        scopes.set(scope, s);
        if (++listed >= LIST_LIMIT) break; // before the iterator asks for a second page
      }
      for (const [scope, s] of scopes) {
        if (s.count > c.value) {
          found.push({
            workflow: wf.name,
            constraint: describeConstraint(c),
            kind: c.kind,
            scope,
            count: s.count,
            value: c.value,
            outside: s.outside,
          });
        }
      }
    }
  }
  return found;
}
