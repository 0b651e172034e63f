// GET /v1/executions: the filter a caller gives -> one Temporal visibility query. Pure, so the
// query text is table-tested; every value goes through queryValue, never string-pasted.
import type { ListStatus, Outcome } from '../naming/execution-filters';
import { queryValue, SEARCH_ATTRIBUTES } from '../naming/search-attributes';

export { LIST_STATUSES, type ListStatus } from '../naming/execution-filters';

/** Visibility's ExecutionStatus spelling of each. */
const EXECUTION_STATUS: Record<ListStatus, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

/** JSON-schema pattern for values that end up in a visibility query (queryValue refuses quotes). */
export const NO_QUOTES = '^[^\'"\\\\]+$';

export interface ListFilter {
  workflow?: string;
  node?: string;
  status?: ListStatus;
  /** How the run ended (MedicOutcome). */
  outcome?: Outcome;
  /** The escalation ladder episode (MedicLadder: its first run's workflow id). */
  ladder?: string;
  /** 1-1000, as the query string carries it. */
  limit?: string;
}

/** Only medic's own executions (they carry MedicWorkflow), visibility's own order (newest first). */
export function executionListQuery(filter: ListFilter): string {
  const clauses = [`${SEARCH_ATTRIBUTES.workflow.name} IS NOT NULL`];
  if (filter.workflow) clauses.push(`${SEARCH_ATTRIBUTES.workflow.name} = ${queryValue(filter.workflow)}`);
  if (filter.node) clauses.push(`${SEARCH_ATTRIBUTES.node.name} = ${queryValue(filter.node)}`);
  if (filter.status) clauses.push(`ExecutionStatus = ${queryValue(EXECUTION_STATUS[filter.status])}`);
  if (filter.outcome) clauses.push(`${SEARCH_ATTRIBUTES.outcome.name} = ${queryValue(filter.outcome)}`);
  if (filter.ladder) clauses.push(`${SEARCH_ATTRIBUTES.ladder.name} = ${queryValue(filter.ladder)}`);
  return clauses.join(' AND ');
}
