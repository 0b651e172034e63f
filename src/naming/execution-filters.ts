// The words an execution list filters by (`medic list --status/--outcome`, GET /v1/executions):
// execution statuses and medic's outcomes. Imports nothing, so the CLI has them without loading
// the Temporal SDK.

/** Statuses a caller may filter on, as `medic list --status` spells them. */
export const LIST_STATUSES = ['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out'] as const;
export type ListStatus = (typeof LIST_STATUSES)[number];

/** How a run ended (MedicOutcome): workflows/outcome.ts sets it, `medic list --outcome` filters on it. */
export const OUTCOMES = ['healed', 'nothing_to_heal', 'escalated', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];
