// The admission ledger workflow: one per medic workflow name, run by the coordinators' ledger workers.
//
// Admission asks it with one update (executeUpdateWithStart, so the first admission starts it):
// the validator refuses without writing history, the handler records the admission at the
// ledger's time (the workflow task's, i.e. Temporal's clock). Both run in one workflow task per
// batch of updates, one after the other: the ledger is the single point where every
// coordinator's admissions of the workflow are ordered. Continue-as-new keeps its history short.
import { allHandlersFinished, condition, setHandler } from '@temporalio/workflow';
import { continueLedger, ledgerActivities, ledgerRollover, rejection } from './run-options';
import type { LedgerActivities, SeedRequest } from './activities';
import * as ledger from './state';
import {
  admitUpdate,
  announceUpdate,
  enforcedQuery,
  LEDGER_REFUSAL,
  LEDGER_SEEDING,
  releaseUpdate,
  stateQuery,
  capacityQuery,
  type LedgerAnswer,
} from './messages';

export async function medicAdmissionLedger(seedRequest: SeedRequest, carried?: ledger.CarriedLedgerState): Promise<void> {
  const state = carried ? ledger.restore(carried) : ledger.emptyState(seedRequest.orphanGraceMs);
  // Activities, not local activities: a local activity holds the workflow task open, and
  // admissions would wait behind a sweep's visibility list.
  const activities = ledgerActivities<LedgerActivities>();
  const rollover = ledgerRollover();

  setHandler(
    admitUpdate,
    (requests) => {
      rollover.heard();
      return requests.map((req): LedgerAnswer => {
        const now = Date.now();
        const refusal = ledger.check(state, req, now);
        return refusal ? { ok: false, refusal } : { ok: true, answer: ledger.admit(state, req, now) };
      });
    },
    {
      // A batch of which nothing would pass is rejected here: a refusal writes no history.
      validator(requests: ledger.AdmitRequest[]) {
        if (!state.seeded) throw rejection(LEDGER_SEEDING, 'the admission ledger is reading past executions from visibility');
        const refusals = requests.map((req) => ledger.check(state, req, Date.now()));
        if (refusals.every((r) => r !== undefined)) {
          const message = refusals.map((r) => `${r!.key} is full in ${r!.scope}: ${r!.count} of ${r!.value}`).join('; ');
          throw rejection(LEDGER_REFUSAL, message, refusals);
        }
      },
    },
  );
  setHandler(announceUpdate, ({ constraints, inUseMs }) => {
    rollover.heard();
    return ledger.announce(state, constraints, Date.now(), inUseMs);
  });
  setHandler(enforcedQuery, (constraints) => ledger.enforced(state, constraints, Date.now()));
  setHandler(releaseUpdate, ({ id }) => {
    rollover.heard();
    return ledger.release(state, id);
  });
  setHandler(stateQuery, () => state);
  setHandler(capacityQuery, () => ledger.capacity(state));

  if (!state.seeded) ledger.seed(state, await activities.seedLedger(seedRequest));

  const newRunDue = rollover.due;
  const oldestUnconfirmed = (): number | undefined => {
    const times = Object.values(state.unconfirmed).map((u) => u.at);
    return times.length ? Math.min(...times) : undefined;
  };
  for (;;) {
    // The orphan sweep: once the oldest unconfirmed admission passes the grace, look for the
    // executions of all that did; free the places of those that never started.
    await condition(() => newRunDue() || oldestUnconfirmed() !== undefined);
    if (newRunDue()) break;
    const wait = oldestUnconfirmed()! + state.orphanGraceMs + 1_000 - Date.now();
    if (wait > 0 && (await condition(newRunDue, wait))) break;
    const due = ledger.sweepable(state, Date.now());
    if (due.length) {
      const found = await activities.sweepLedger({ workflow: seedRequest.workflow, admissions: due });
      ledger.settle(state, found.seen, found.orphans);
    }
  }
  await condition(allHandlersFinished);
  ledger.prune(state, Date.now());
  await continueLedger<typeof medicAdmissionLedger>(seedRequest, state);
}
