// The ledgers' durable messages: every update and query of both ledger workflows and the failure
// types their validators throw. Clients and workflows import them from here (as Temporal's samples
// keep shared.ts); a name here is part of running ledgers' histories and never changes.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { AdmitAnswer, AdmitRequest, Enforced, LedgerConstraint, LedgerRefusal, LedgerState } from './state';
import type { Claim, ClaimRefusal, FleetLedgerState, PlaceSeed } from './fleet/state';

/** What the admission ledger answers one admission. */
export type LedgerAnswer = { ok: true; answer: AdmitAnswer } | { ok: false; refusal: LedgerRefusal };

/** ApplicationFailure type of a refused batch: its single detail is the LedgerRefusal of each admission. */
export const LEDGER_REFUSAL = 'MedicLedgerRefusal';
/** ApplicationFailure type while a new ledger reads past executions: ask again in a moment. */
export const LEDGER_SEEDING = 'MedicLedgerSeeding';

/**
 * The workflow task timeout of both ledgers (set at their start and at each continue-as-new). A
 * ledger's task is milliseconds of work; this bounds how long a coordinator that died holding one
 * stalls the ledger, and is well inside an admission's call timeout (10 s), so the callers waiting
 * are still answered. Sticky tasks not picked up move on after 500 ms (ledger-worker.ts).
 */
export const LEDGER_TASK_TIMEOUT = '5s';
/**
 * The queue of the ledger activities a release adds (the fleet ledger's importPlaces): only
 * coordinators that have them poll it, so during a rolling upgrade an earlier release's worker
 * never takes one it does not know (on the ledgers' queue it would fail it, and its retries wait).
 */
export const LEDGER_ACTIVITY_QUEUE = 'medic-ledger-activities';
/** The heartbeat timeout of the ledgers' activities (the ledger worker heartbeats every second while one runs). */
export const LEDGER_HEARTBEAT_TIMEOUT = '5s';

/** A batch of admissions: each admitted or refused, in order. */
export const admitUpdate = defineUpdate<LedgerAnswer[], [AdmitRequest[]]>('admit');
export const announceUpdate = defineUpdate<Enforced[], [{ constraints: LedgerConstraint[]; inUseMs?: number }]>('announce');
/** The constraints as enforced for a config, without recording anything (dry runs). */
export const enforcedQuery = defineQuery<Enforced[], [LedgerConstraint[]]>('enforced');
export const releaseUpdate = defineUpdate<boolean, [{ id: string }]>('release');
export const stateQuery = defineQuery<LedgerState>('state');

/** What the fleet ledger answers one claim. */
/**
 * A claim's answer. `graceMs`: the ledger's orphan grace (absent from ledgers of v0.1.0): a hold
 * whose execution is not found after it is freed, so the claimant must start before it passes.
 */
export type ClaimAnswer = { ok: true; graceMs?: number; answer?: AdmitAnswer } | { ok: false; refusal: ClaimRefusal };

/** ApplicationFailure type of a refused batch: its single detail is the ClaimRefusal of each claim. */
export const FLEET_REFUSAL = 'MedicFleetRefusal';
/** ApplicationFailure type while a new fleet ledger reads the running disruptive executions: ask again in a moment. */
export const FLEET_SEEDING = 'MedicFleetSeeding';

/** A batch of claims: each taken or refused, in order. */
export const claimUpdate = defineUpdate<ClaimAnswer[], [Claim[]]>('claim');
/**
 * A batch of which some claims carry their workflow's constraints (`admission.fleet_constraints`):
 * a name of its own, so a ledger worker of an earlier release, which would take such a claim
 * without its constraints, rejects it instead (it has no handler of this name).
 */
export const claimWithConstraintsUpdate = defineUpdate<ClaimAnswer[], [Claim[]]>('claimWithConstraints');
/**
 * Ends holds; answers how many were held. By default their executions closed (what a refusal
 * found closed); `unstarted`: their starts did not happen, so their window places go too.
 */
export const releaseHoldsUpdate = defineUpdate<number, [{ ids: string[]; unstarted?: boolean }]>('release');
/** A coordinator's config of a workflow whose constraints the fleet ledger admits (or is to admit): see announceUpdate. */
export const announceWorkflowUpdate = defineUpdate<
  Enforced[],
  [{ workflow: string; constraints: LedgerConstraint[]; inUseMs?: number; places: PlaceSeed[] }]
>('announceWorkflow');
/** Whether a claim would pass now, recording nothing (shadow mode). */
export const checkQuery = defineQuery<ClaimRefusal | undefined, [Claim]>('check');
export const fleetStateQuery = defineQuery<FleetLedgerState>('state');

/** A ledger's size against its capacity (both ledgers; a query, so it writes no history). */
export interface LedgerCapacity {
  /** The state as carried to the next run, in JSON bytes. */
  bytes: number;
  /** Past this, the fleet ledger refuses claims and the admission ledger keeps less history. */
  capacityBytes: number;
  /** Admissions kept in windows (admission ledger), or holds (fleet ledger). */
  holds: number;
}
export const capacityQuery = defineQuery<LedgerCapacity>('capacity');
