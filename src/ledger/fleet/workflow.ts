// The fleet ledger workflow: one per namespace, run by the coordinators' ledger workers; it holds every node lock and budget place.
//
// A disruptive admission claims with one update (executeUpdateWithStart, so the first claim
// starts it): the validator refuses without writing history, the handler records the hold.
// Holds end when the coordinator gives one back (its start did not happen), when the sweep finds
// the execution closed or never started, or at hold_max. Continue-as-new keeps its history short.
import { allHandlersFinished, condition, patched, setHandler } from '@temporalio/workflow';
import { continueLedger, ledgerActivities, ledgerRollover, rejection } from '../run-options';
import { FLEET_CONSTRAINTS_PATCH } from '../patches';
import { enforced, emptyState } from '../state';
import type { AddedFleetLedgerActivities, FleetLedgerActivities, FleetSeedRequest } from './activities';
import * as fleet from './state';
import {
  announceWorkflowUpdate,
  checkQuery,
  claimUpdate,
  claimWithConstraintsUpdate,
  FLEET_REFUSAL,
  FLEET_SEEDING,
  LEDGER_ACTIVITY_QUEUE,
  fleetStateQuery,
  releaseHoldsUpdate,
  capacityQuery,
  type ClaimAnswer,
} from '../messages';

/** How often the holds are looked up while there are any (at most: a shorter orphan grace sweeps as often). */
const SWEEP_MS = 30_000;
/** How often an import looks again for executions not started yet (or of unknown scope). */
const IMPORT_RETRY_MS = 1_000;

export async function medicFleetLedger(seedRequest: FleetSeedRequest, carried?: fleet.FleetLedgerCarried): Promise<void> {
  const state = carried ? fleet.restore(carried) : fleet.emptyFleetState(seedRequest.orphanGraceMs, seedRequest.maxHoldBytes);
  const activities = ledgerActivities<FleetLedgerActivities>();
  // Behind the patch, on a queue of their own (only coordinators that have them poll it).
  const added = ledgerActivities<AddedFleetLedgerActivities>(LEDGER_ACTIVITY_QUEUE);
  const rollover = ledgerRollover();

  // The first claim or announce of a workflow's constraints makes the ledger govern it.
  const govern = (workflow: string, places: fleet.PlaceSeed[]): void => {
    if (patched(FLEET_CONSTRAINTS_PATCH)) fleet.govern(state, workflow, places);
  };
  const claim = (claims: fleet.Claim[]): ClaimAnswer[] => {
    rollover.heard();
    return claims.map((c): ClaimAnswer => {
      const now = Date.now();
      const refusal = fleet.check(state, c, now);
      if (refusal) {
        if (refusal.kind === 'seeding') govern(c.workflow, c.admit!.places);
        return { ok: false, refusal };
      }
      const answer = fleet.claim(state, c, now);
      // The update's answer, not a command: a replayed history is not changed by it.
      return { ok: true, graceMs: state.orphanGraceMs, ...(answer && { answer }) };
    });
  };
  const validator = {
    // A batch of which nothing would pass is rejected here: a refusal writes no history. A claim
    // that would make the ledger govern its workflow is let through (its handler records that).
    validator(claims: fleet.Claim[]) {
      if (!state.seeded)
        throw rejection(FLEET_SEEDING, 'the fleet ledger is reading the running disruptive executions from visibility');
      const now = Date.now();
      const refusals = claims.map((c) => fleet.check(state, c, now));
      const governs = (r: fleet.ClaimRefusal | undefined): boolean => r?.kind === 'seeding' && !state.importing?.[r.workflow];
      if (refusals.every((r) => r !== undefined && !governs(r)))
        throw rejection(FLEET_REFUSAL, refusals.map((r) => fleet.describeRefusal(r!)).join('; '), refusals);
    },
  };
  setHandler(claimUpdate, claim, validator);
  setHandler(claimWithConstraintsUpdate, claim, validator);
  setHandler(releaseHoldsUpdate, ({ ids, unstarted }) => {
    rollover.heard();
    return fleet.release(state, ids, unstarted === true);
  });
  setHandler(announceWorkflowUpdate, ({ workflow, constraints, inUseMs, places }) => {
    rollover.heard();
    const now = Date.now();
    const answer = fleet.announce(state, workflow, constraints, now, inUseMs);
    if (answer) return answer;
    govern(workflow, places);
    return enforced(emptyState(), constraints, now);
  });
  setHandler(checkQuery, (c) => (state.seeded ? fleet.check(state, c, Date.now()) : undefined));
  setHandler(fleetStateQuery, () => state);
  setHandler(capacityQuery, () => fleet.capacity(state));

  if (!state.seeded) {
    for (const h of await activities.seedFleetLedger(seedRequest))
      fleet.take(
        state,
        h.id,
        { workflow: h.workflow, trigger: h.trigger, node: h.node, budgets: h.budgets },
        h.at,
        24 * 3_600_000,
      );
    state.seeded = true;
  }

  const sweepMs = (): number => Math.min(SWEEP_MS, state.orphanGraceMs);
  const newRunDue = rollover.due;
  const importDue = (): boolean => state.importing !== undefined;
  // Reads the executions of each workflow to govern; false while some are not started yet.
  const importAll = async (): Promise<boolean> => {
    let done = true;
    for (const [workflow, places] of Object.entries(state.importing ?? {})) {
      const pending = Object.entries(state.holds)
        .filter(([, h]) => h.workflow === workflow)
        .map(([id]) => id);
      const found = await added.importPlaces({ workflow, places, pending });
      if (found.missing.length) done = false;
      else fleet.imported(state, workflow, found, Date.now());
    }
    return done;
  };
  for (;;) {
    // The sweep: while anything is held, look the new holders up every SWEEP_MS (seen ones every
    // RECHECK_MS); end the holds of executions that closed (or never started, past the grace)
    // and those past hold_max. A workflow to govern is read at once, and again each second while
    // some of its holds have not started (the sweep frees those that never do).
    await condition(() => newRunDue() || importDue() || Object.keys(state.holds).length > 0);
    if (newRunDue()) break;
    if (importDue()) {
      if (!(await importAll()) && (await condition(newRunDue, IMPORT_RETRY_MS))) break;
    } else if (await condition(() => newRunDue() || importDue(), sweepMs())) {
      if (newRunDue()) break;
      continue;
    }
    fleet.release(state, fleet.expired(state, Date.now()));
    const due = fleet.sweepable(state, Date.now(), sweepMs());
    if (due.unseen.length || due.seen.length) fleet.settle(state, due, await activities.sweepHolds(due));
  }
  await condition(allHandlersFinished);
  await continueLedger<typeof medicFleetLedger>(seedRequest, fleet.carry(state, Date.now()));
}
