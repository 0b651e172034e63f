// The audit journal's durable messages: its signal and query, its workflow type and id. The
// coordinator and the workflow import them from here; a name here is part of running journals'
// histories and never changes.
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { JournalLine, JournalSearch } from './state';

/**
 * The journal workflow's code level: its recorded histories (test/fixtures/ledger-histories/<level>/)
 * replay in CI. A change to what the workflow does goes behind `patched()` and keeps them replaying.
 */
export const AUDIT_CODE_LEVEL = 'audit-v1';

/** The workflow type of the audit journal (its own task queue, AUDIT_QUEUE). */
export const AUDIT_WORKFLOW_TYPE = 'medicAuditJournal';

/** The namespace's one audit journal: every coordinator appends to it and the console reads it. */
export const AUDIT_JOURNAL_ID = 'medic-audit-journal';

/** One batch of lines from one replica; lines the journal holds already (a retried batch) are skipped. */
export interface AppendBatch {
  lines: JournalLine[];
}

export const appendSignal = defineSignal<[AppendBatch]>('append');
/** Matching lines, newest first. */
export const searchQuery = defineQuery<JournalLine[], [JournalSearch]>('search');
