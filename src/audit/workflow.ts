// The audit journal workflow: one per namespace (id AUDIT_JOURNAL_ID), run by the coordinators'
// ledger workers on the audit queue. Coordinators append batches of audit lines with a signal
// (signalWithStart starts it); the console asks it with a query. It keeps the latest lines only
// (state.ts) and continues as new before its history grows long, carrying them.
import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import { appendSignal, searchQuery } from './messages';
import * as journal from './state';

/** A new run after this many history events (a batch adds one signal and, mostly, one workflow task of three). */
const MAX_HISTORY_EVENTS = 2_000;

export async function medicAuditJournal(carried?: journal.CarriedJournal): Promise<void> {
  const state = carried ? journal.restore(carried) : journal.emptyJournal();
  setHandler(appendSignal, ({ lines }) => {
    journal.append(state, lines);
  });
  setHandler(searchQuery, (q) => journal.search(state, q));
  await condition(() => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS);
  await condition(allHandlersFinished);
  await continueAsNew<typeof medicAuditJournal>(journal.carry(state));
}
