// The one argument every medic workflow takes. The coordinator builds it from the workflow's
// config and the trigger request; workers and tests pass the same shape.
import type { Target } from '../src/temporal/task-queues';

export type { Target };

/** A step of the generic `runbook` workflow, declared as `step "name" { ... }` in its HCL. */
export type RunbookStep =
  | { kind: 'command'; name: string; command: string; args: string[]; timeoutMs?: number }
  | { kind: 'http_check'; name: string; url: string; expectStatus?: number; expectBody?: string; timeoutMs?: number }
  | { kind: 'prometheus_check'; name: string; query: string; expect: 'empty' | 'nonempty'; timeoutMs?: number }
  | { kind: 'wait'; name: string; durationMs: number }
  | { kind: 'notify'; name: string; message: string };

export interface WorkflowInput {
  /** The configured workflow name (config/workflows/<name>.hcl), not the Temporal type. */
  workflow: string;
  target: Target;
  /** The config's params merged with the trigger's (the trigger's win). */
  params: Record<string, string>;
  reason?: string;
  /** Who asked: a SPIFFE ID, "alertmanager", "slack:<user>", a trigger rule. */
  trigger?: string;
  /** For `runbook`: the steps declared in the workflow's config. */
  steps?: RunbookStep[];
}
