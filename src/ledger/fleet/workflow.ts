// The fleet ledger workflow: one per namespace, run by the coordinators' ledger workers; it holds every node lock and budget place.
//
// A disruptive admission claims with one update (executeUpdateWithStart, so the first claim
// starts it): the validator refuses without writing history, the handler records the hold.
// Holds end when the coordinator gives one back (its start did not happen), when the sweep finds
// the execution closed or never started, or at hold_max. Continue-as-new keeps its history short.
import { ApplicationFailure, allHandlersFinished, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { continueLedger, ledgerActivities } from '../run-options';
import type { FleetLedgerActivities, FleetSeedRequest } from './activities';
import * as fleet from './state';
import {
  checkQuery,
  claimUpdate,
  FLEET_REFUSAL,
  FLEET_SEEDING,
  fleetStateQuery,
  releaseHoldsUpdate,
  capacityQuery,
  type ClaimAnswer,
} from '../messages';

/** A new run after this many history events (each claim adds two, each batch three more). */
const MAX_HISTORY_EVENTS = 2_000;
/** How often the holds are looked up while there are any (at most: a shorter orphan grace sweeps as often). */
const SWEEP_MS = 30_000;

export async function medicFleetLedger(seedRequest: FleetSeedRequest, carried?: fleet.FleetLedgerCarried): Promise<void> {
  const state = carried ? fleet.restore(carried) : fleet.emptyFleetState(seedRequest.orphanGraceMs, seedRequest.maxHoldBytes);
  const activities = ledgerActivities<FleetLedgerActivities>();

  setHandler(
    claimUpdate,
    (claims) =>
      claims.map((c): ClaimAnswer => {
        const refusal = fleet.check(state, c);
        if (refusal) return { ok: false, refusal };
        fleet.claim(state, c, Date.now());
        // The update's answer, not a command: a replayed history is not changed by it.
        return { ok: true, graceMs: state.orphanGraceMs };
      }),
    {
      // A batch of which nothing would pass is rejected here: a refusal writes no history.
      validator(claims: fleet.Claim[]) {
        if (!state.seeded)
          throw ApplicationFailure.create({
            type: FLEET_SEEDING,
            message: 'the fleet ledger is reading the running disruptive executions from visibility',
            nonRetryable: true,
          });
        const refusals = claims.map((c) => fleet.check(state, c));
        if (refusals.every((r) => r !== undefined))
          throw ApplicationFailure.create({
            type: FLEET_REFUSAL,
            message: refusals
              .map((r) =>
                r!.kind === 'node'
                  ? `node ${r!.node} is held`
                  : r!.kind === 'budget'
                    ? `budget ${r!.budget} is full`
                    : 'the ledger is full',
              )
              .join('; '),
            details: [refusals],
            nonRetryable: true,
          });
      },
    },
  );
  setHandler(releaseHoldsUpdate, ({ ids }) => fleet.release(state, ids));
  setHandler(checkQuery, (c) => (state.seeded ? fleet.check(state, c) : undefined));
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
  const newRunDue = (): boolean => {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > MAX_HISTORY_EVENTS;
  };
  for (;;) {
    // The sweep: while anything is held, look the new holders up every SWEEP_MS (seen ones every
    // RECHECK_MS); end the holds of executions that closed (or never started, past the grace)
    // and those past hold_max.
    await condition(() => newRunDue() || Object.keys(state.holds).length > 0);
    if (newRunDue()) break;
    if (await condition(newRunDue, sweepMs())) break;
    fleet.release(state, fleet.expired(state, Date.now()));
    const due = fleet.sweepable(state, Date.now(), sweepMs());
    if (due.unseen.length || due.seen.length) fleet.settle(state, due, await activities.sweepHolds(due));
  }
  await condition(allHandlersFinished);
  await continueLedger<typeof medicFleetLedger>(seedRequest, fleet.carry(state));
}
