// Patch ids of workflow changes (`patched(id)`), newest last. A change to what a workflow does
// (which activities, in what order, which timers) keeps the old path behind `!patched(id)` until
// no execution started before it can still be running; see README "Changing a workflow safely".

/** Outcomes, escalation to the central sink, the catch-all, activities on the target's queue. */
export const OUTCOMES_PATCH = 'medic-outcomes-v1';

/**
 * The workflow code level: the newest patch id. Recorded histories go under
 * test/fixtures/histories/<level>/, so each level's histories stay and CI replays them all.
 */
export const WORKFLOW_CODE_LEVEL = OUTCOMES_PATCH;
