// The one argument every medic workflow takes. The coordinator builds it from the workflow's
// config and the trigger request; workers and tests pass the same shape.
import type { Target } from '../../src/naming/task-queues';
import type { ParamSchema } from '../../src/params/schema';
import type { LadderContext, OnUnhealed } from './ladder';

export type { Target };

export const RUNBOOK_STEP_KINDS = ['command', 'http_check', 'prometheus_check', 'wait', 'notify'] as const;
export type RunbookStepKind = (typeof RUNBOOK_STEP_KINDS)[number];

/** What every runbook step may say about itself, whatever its kind. */
interface StepCommon {
  name: string;
  /** Tries before the step counts as failed (default 1: no retry). */
  attempts?: number;
  /** Pause between tries (default 5s). */
  retryDelayMs?: number;
  /** When this step fails, there is nothing to heal: the run ends "nothing to heal", no page. */
  precondition?: boolean;
}

/**
 * A step of the generic `runbook` workflow, declared as `step { name = "..." kind = "..." }`
 * in its HCL, in the order written. Strings may use `{{node}}`, `{{datacenter}}`,
 * `{{node_type}}` and `{{params.NAME}}` (see workflows/template.ts).
 */
export type RunbookStep = StepCommon &
  (
    | { kind: 'command'; command: string; args: string[]; timeoutMs?: number; expectExit?: number }
    | { kind: 'http_check'; url: string; expectStatus?: number; expectBody?: string; timeoutMs?: number }
    | { kind: 'prometheus_check'; query: string; expect: 'empty' | 'nonempty'; timeoutMs?: number }
    | { kind: 'wait'; durationMs: number }
    | { kind: 'notify'; message: string }
  );

/** The step kinds a `diagnose { ... }` block may use: the ones that only look. */
export const DIAGNOSE_STEP_KINDS = ['command', 'http_check', 'prometheus_check'] as const;

/**
 * What to look at when a run escalates, declared as `diagnose { name = "..." kind = "..." }` in
 * any workflow's HCL: the output goes in the page (workflows/diagnose.ts). Same kinds, templates
 * and worker allow-lists as runbook steps; no expectations, no retries.
 */
export type DiagnoseStep = { name: string; timeoutMs?: number } & (
  | { kind: 'command'; command: string; args: string[] }
  | { kind: 'http_check'; url: string }
  | { kind: 'prometheus_check'; query: string }
);

export interface WorkflowInput {
  /** The configured workflow name (config/workflows/<name>.hcl), not the Temporal type. */
  workflow: string;
  target: Target;
  /** The config's defaults with the trigger's settable params over them, checked by the schema. */
  params: Record<string, string>;
  /** The workflow's param schema: the worker re-checks `params` against it before anything runs. */
  paramSchema?: ParamSchema;
  reason?: string;
  /** Who asked: a SPIFFE ID, "alertmanager", "slack:<user>", a trigger rule. */
  trigger?: string;
  /** For `runbook`: the steps declared in the workflow's config. */
  steps?: RunbookStep[];
  /**
   * The queue of the steps that touch the machine (the config's task_queue_target). The workflow
   * itself runs on its datacenter's general queue; absent (older starts), both use one queue.
   */
  activityQueue?: string;
  /**
   * The config's `timeout`: the run ends (escalated) by then (workflows/deadline.ts). Absent
   * (older starts), Temporal's execution timeout is the timeout.
   */
  timeoutMs?: number;
  /** The config's `diagnose` blocks: run on escalation, their output in the page. */
  diagnose?: DiagnoseStep[];
  /** The config's `on_unhealed` block: the workflow asked for when this run ends escalated (workflows/ladder.ts). */
  onUnhealed?: OnUnhealed;
  /** When this run is a later step of an escalation ladder: the episode and the steps before it. */
  ladder?: LadderContext;
}
