// The audit journal's lines and how they are kept, pure: a ring bounded by lines and bytes, one
// copy of each line (by its id, so a retried batch adds nothing), and the console's search over
// it. It runs in the journal workflow (src/audit/workflow.ts) and in unit tests.
import type { AuditEntry } from '../telemetry/audit';

/**
 * One audit line as the journal keeps it, with its time, the replica that wrote it and an id
 * unique across replicas and restarts. Never params values: journal.ts builds it field by field.
 */
export type JournalLine = AuditEntry & {
  id: string;
  time: string;
  /** The coordinator that wrote it: `coordinator-<pid>@<host>` unless configured. */
  replica: string;
};

/** The console's filters: each an exact match; newest first, at most `limit` lines. */
export interface JournalSearch {
  workflow?: string;
  node?: string;
  identity?: string;
  decisions?: readonly string[];
  limit?: number;
}

/** Lines the journal keeps, and the bytes (JSON) they may take: the state crosses continue-as-new as one payload (Temporal refuses payloads over 2 MB). */
export const MAX_LINES = 10_000;
export const MAX_BYTES = 1_500_000;
/** Lines one search answers at most. */
export const MAX_SEARCH = 1_000;

/** What the journal holds, oldest line first; `bytes` and `ids` are derived from `lines`. */
export interface Journal {
  lines: JournalLine[];
  bytes: number;
  ids: Set<string>;
}

/** What crosses continue-as-new: the lines, oldest first. */
export interface CarriedJournal {
  version: 1;
  lines: JournalLine[];
}

function size(line: JournalLine): number {
  return JSON.stringify(line).length;
}

export function emptyJournal(): Journal {
  return { lines: [], bytes: 0, ids: new Set() };
}

export function restore(carried: CarriedJournal): Journal {
  const j = emptyJournal();
  append(j, carried.lines);
  return j;
}

export function carry(j: Journal): CarriedJournal {
  return { version: 1, lines: j.lines };
}

/** Adds the lines not held yet (a retried batch adds nothing), then drops the oldest beyond the bounds. Returns how many were added. */
export function append(j: Journal, lines: readonly JournalLine[]): number {
  let added = 0;
  for (const line of lines) {
    if (j.ids.has(line.id)) continue;
    j.lines.push(line);
    j.ids.add(line.id);
    j.bytes += size(line);
    added++;
  }
  let drop = 0;
  let bytes = j.bytes;
  while (j.lines.length - drop > MAX_LINES || (bytes > MAX_BYTES && j.lines.length - drop > 1)) {
    bytes -= size(j.lines[drop]!);
    j.ids.delete(j.lines[drop]!.id);
    drop++;
  }
  if (drop) j.lines.splice(0, drop);
  j.bytes = bytes;
  return added;
}

export function lineMatches(line: JournalLine, q: JournalSearch): boolean {
  return (
    (q.workflow === undefined || line.workflow === q.workflow) &&
    (q.node === undefined || line.target?.node === q.node) &&
    (q.identity === undefined || line.identity === q.identity) &&
    (q.decisions === undefined || q.decisions.includes(line.decision))
  );
}

/** Matching lines, newest first (by time, then as appended). */
export function search(j: Journal, q: JournalSearch): JournalLine[] {
  const limit = Math.min(q.limit ?? 200, MAX_SEARCH);
  const out: JournalLine[] = [];
  // Lines arrive in batches per replica, so the order appended is nearly the order of time: scan
  // newest first, then sort what was found (a later batch may hold an earlier line).
  for (let i = j.lines.length - 1; i >= 0; i--) if (lineMatches(j.lines[i]!, q)) out.push(j.lines[i]!);
  return newestFirst(out).slice(0, limit);
}

/** Lines by time, newest first; equal times keep their order. */
export function newestFirst(lines: JournalLine[]): JournalLine[] {
  return lines
    .map((line, i) => ({ line, i }))
    .sort((a, b) => (a.line.time < b.line.time ? 1 : a.line.time > b.line.time ? -1 : a.i - b.i))
    .map((x) => x.line);
}
