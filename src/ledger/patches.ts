// Patch ids of ledger workflow changes (`patched(id)`), newest last. A change to what a ledger
// workflow does (its commands: activities, timers, continue-as-new, which updates it accepts)
// keeps the old path behind `!patched(id)` while a ledger started before it may still run; see
// docs "Upgrades". The carried state has its own `version` (state.ts): old state is migrated.

/**
 * A coordinator that dies holding a ledger's task stalls the ledger for seconds: both ledgers'
 * activities have a heartbeat timeout (LEDGER_HEARTBEAT_TIMEOUT; before, a dead worker's seeding
 * took its 60 s start-to-close), and they continue as new with a workflow task timeout
 * (LEDGER_TASK_TIMEOUT; before, the server's 10 s, as long as an admission's call timeout).
 */
export const LEDGER_DEAD_WORKER_PATCH = 'medic-ledger-dead-worker-v1';

/**
 * The fleet ledger admits a disruptive workflow's own constraints with its claim
 * (`admission.fleet_constraints`): before it governs a workflow it reads the workflow's
 * executions (the importPlaces activity), recorded once per workflow when the first such claim
 * or announce comes.
 */
export const FLEET_CONSTRAINTS_PATCH = 'medic-fleet-constraints-v1';

/**
 * A ledger past its history threshold continues as new at a quiet moment (no update for a
 * second), not in the middle of a burst of admissions (ledgerRollover in run-options.ts).
 */
export const LEDGER_QUIET_ROLLOVER_PATCH = 'medic-ledger-quiet-rollover-v1';

/**
 * The ledger code level: the newest patch id, or the release whose ledgers the recorded
 * histories hold. Histories go under test/fixtures/ledger-histories/<level>/ and CI replays them all.
 */
export const LEDGER_CODE_LEVEL = LEDGER_QUIET_ROLLOVER_PATCH;
