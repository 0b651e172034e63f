// Patch ids of workflow changes (`patched(id)`), newest last. A change to what a workflow does
// (which activities, in what order, which timers) keeps the old path behind `!patched(id)` until
// no execution started before it can still be running; see README "Changing a workflow safely".

/** Outcomes, escalation to the central sink, the catch-all, activities on the target's queue. */
export const OUTCOMES_PATCH = 'medic-outcomes-v1';

/** Secret param values masked in progress, results, pages and failures, and in what activities say. */
export const SECRET_MASKING_PATCH = 'medic-secret-masking-v1';

/** Runbook template values escaped for where they land: argv, URL part, PromQL string literal. */
export const TEMPLATE_ESCAPING_PATCH = 'medic-template-escaping-v1';

/**
 * The run enforces its own `timeout` (workflows/deadline.ts): the body is cancelled before the
 * end and the run escalates, instead of being killed silently by Temporal's execution timeout.
 */
export const OWN_TIMEOUT_PATCH = 'medic-own-timeout-v1';

/** An escalation runs the workflow's `diagnose` steps and puts what they saw in the page. */
export const DIAGNOSE_PATCH = 'medic-diagnose-v1';

/**
 * An escalated run whose config has `on_unhealed` asks for the next step of its ladder
 * (workflows/ladder.ts) and pages only when it is not started; it records the ladder in its memo
 * and the MedicLadder search attribute.
 */
export const LADDER_PATCH = 'medic-ladder-v1';

/**
 * A run records its last progress in its memo when it ends (workflows/shared/progress.ts), so a
 * closed run's status needs no worker to replay it for the progress query.
 */
export const PROGRESS_MEMO_PATCH = 'medic-progress-memo-v1';

/**
 * A run whose own page was not delivered leaves MedicOutcome unset (workflows/escalation.ts), so
 * the close watcher, which pages the unhealed closes without an outcome, pages it.
 */
export const UNPAGED_ESCALATION_PATCH = 'medic-unpaged-escalation-v1';

/**
 * The workflow code level: the newest patch id. Recorded histories go under
 * test/fixtures/histories/<level>/, so each level's histories stay and CI replays them all.
 */
export const WORKFLOW_CODE_LEVEL = UNPAGED_ESCALATION_PATCH;
