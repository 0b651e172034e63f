// Patch ids of ledger workflow changes (`patched(id)`), newest last. A change to what a ledger
// workflow does (its commands: activities, timers, continue-as-new, which updates it accepts)
// keeps the old path behind `!patched(id)` while a ledger started before it may still run; see
// docs "Upgrades". The carried state has its own `version` (state.ts): old state is migrated.

/**
 * The ledger code level: the newest patch id, or the release whose ledgers the recorded
 * histories hold. Histories go under test/fixtures/ledger-histories/<level>/ and CI replays them all.
 */
export const LEDGER_CODE_LEVEL = 'v0.1.0';
