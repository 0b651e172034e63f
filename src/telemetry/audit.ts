// One structured line per access or trigger decision: who asked for what, and what medic did.
import type { Target } from '../naming/task-queues';

export interface AuditEntry {
  /** allowed | denied (ACL), the trigger result (started, duplicate, dry_run, refused, invalid, error, awaiting_approval), or an approval step (approval_approved, approval_denied, approval_refused, approval_expired, ...). */
  decision: string;
  identity: string | null;
  method?: string;
  path?: string;
  /** The route rule that admitted the request. */
  rule?: string;
  source?: string;
  workflow?: string;
  target?: Target;
  workflow_id?: string;
  run_id?: string;
  task_queue?: string;
  /** The constraint that refused, e.g. "concurrency 1/15m per target". */
  constraint?: string;
  /** The control that refused (a refusal kind: concurrency, maxExecution, pause, freeze, budget, disruptive_lock, ...). */
  control?: string;
  /** Executions holding what the refused start needed (a node lock, budget places). */
  holders?: string[];
  /** The refusing control's own words, when it gives them (fleet safety). */
  message?: string;
  count?: number;
  reason?: string;
  status?: number;
  /** The approval request a line is about (src/approval/). */
  approval_id?: string;
  /** Who decided an approval request. */
  approver?: string;
}

export type AuditSink = (entry: AuditEntry) => void;

/** Writes audit lines as JSON to a stream (stdout by default), one object per line. */
export function jsonAuditSink(out: NodeJS.WritableStream = process.stdout): AuditSink {
  return (entry) => {
    out.write(JSON.stringify({ time: new Date().toISOString(), kind: 'audit', ...entry }) + '\n');
  };
}

/** An audit line as kept in memory, with its time. */
export type TimedAuditEntry = AuditEntry & { time: string };

export interface AuditQuery {
  workflow?: string;
  /** The target node. */
  node?: string;
  identity?: string;
  /** Only these decisions (e.g. refused). */
  decisions?: readonly string[];
  limit?: number;
}

/**
 * The latest audit lines of this process, newest first, for the web console: a bounded ring, so
 * memory stays flat however busy the coordinator is. The full trail is the audit log (stdout).
 */
export class AuditTrail {
  private readonly ring: TimedAuditEntry[] = [];
  private next = 0;

  constructor(readonly capacity = 5_000) {}

  record(entry: AuditEntry, time = new Date()): void {
    const timed = { time: time.toISOString(), ...entry };
    if (this.ring.length < this.capacity) this.ring.push(timed);
    else this.ring[this.next] = timed;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Matching lines, newest first; each filter is an exact match. */
  search(q: AuditQuery = {}): TimedAuditEntry[] {
    const out: TimedAuditEntry[] = [];
    const limit = q.limit ?? 200;
    for (let i = 1; i <= this.ring.length && out.length < limit; i++) {
      const e = this.ring[(this.next - i + this.ring.length) % this.ring.length]!;
      if (q.workflow !== undefined && e.workflow !== q.workflow) continue;
      if (q.node !== undefined && e.target?.node !== q.node) continue;
      if (q.identity !== undefined && e.identity !== q.identity) continue;
      if (q.decisions && !q.decisions.includes(e.decision)) continue;
      out.push(e);
    }
    return out;
  }
}

/** A sink that writes to `sink`, keeps the line in `trail` and hands it to `also` (the shared journal) with the same time. */
export function auditWithTrail(sink: AuditSink, trail: AuditTrail, also?: (entry: AuditEntry, time: Date) => void): AuditSink {
  return (entry) => {
    const time = new Date();
    trail.record(entry, time);
    also?.(entry, time);
    sink(entry);
  };
}
