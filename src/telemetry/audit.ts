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
