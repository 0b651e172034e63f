// Escalation ladders: a workflow's `on_unhealed { start = "..." }` asks for a heavier workflow when
// a run ends escalated (restart, then reboot, then a human). The shapes a run, the coordinators'
// ladder activity and the page share, and the pure rules: how deep an episode may climb, the
// next step's params, the idempotency key of a climb. No Node APIs: the workflow bundle imports it.
import type { Target } from '../../src/naming/task-queues';
import { fillTemplate } from './template';

/** Steps per episode unless `max_depth` says otherwise (the first run is step 1). */
export const DEFAULT_MAX_DEPTH = 3;
/** The highest `max_depth` a config may set. */
export const MAX_MAX_DEPTH = 10;

/** The memo key of a ladder step's view of its ladder (JSON: the steps so far). */
export const LADDER_MEMO = 'ladder';

/** A workflow config's `on_unhealed { }` block, as the coordinator passes it in the run's input. */
export interface OnUnhealed {
  /** The configured workflow to ask for next. */
  start: string;
  /** The next workflow's params: literal values or templates of this run's ({{node}}, {{params.NAME}}). */
  params: Record<string, string>;
  /** Steps per episode at most, this run's included. */
  maxDepth: number;
}

/** One step of a ladder, as pages and memos list it. */
export interface LadderStep {
  workflow: string;
  workflowId?: string;
  runId?: string;
  /** escalated | refused | not_asked (max_depth, or the ask failed) | healed. */
  outcome: string;
  summary: string;
}

/** What a run that is a step of a ladder knows about it (input.ladder). */
export interface LadderContext {
  /** The episode: the first run's workflow id (the MedicLadder search attribute of every step). */
  episode: string;
  /** The episode's bound: the first run's max_depth (later steps may lower it, never raise it). */
  maxDepth: number;
  /** The steps before this run, oldest first. */
  steps: LadderStep[];
}

/** What an escalating run asks the coordinators' ladder activity for. */
export interface ClimbRequest {
  /** The configured workflow to start. */
  workflow: string;
  target: Target;
  params: Record<string, string>;
  /** The next run's ladder: the steps so far, this run's last. */
  ladder: LadderContext;
  /** The escalating run's id: the next start's idempotency key comes from it (one next step per run). */
  fromRunId: string;
  reason: string;
}

/** The activity's answer: the next step started (or had started already), or why not. */
export type ClimbAnswer =
  { result: 'started'; workflowId: string; runId: string } | { result: 'refused'; message: string; code?: string };

/** The idempotency key of the climb from run `runId`: every retry, on any coordinator, finds the same start. */
export function climbKey(runId: string): string {
  return `ladder-${runId}`;
}

/** The bound of an episode: the lower of the one carried and this run's own. */
export function episodeMaxDepth(ladder: LadderContext | undefined, own: number): number {
  return Math.min(ladder?.maxDepth ?? own, own);
}

/** This run's place in its episode (1 for the first run). */
export function depthOf(ladder: LadderContext | undefined): number {
  return (ladder?.steps.length ?? 0) + 1;
}

/** The next workflow's params: each mapping filled from this run's target and params (plain text; the next run's schema checks them). */
export function nextParams(
  mapping: Record<string, string>,
  from: { target: Target; params: Record<string, string> },
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, template] of Object.entries(mapping)) out[name] = fillTemplate(template, from, 'text');
  return out;
}

/** One line per step, for a page's text. */
export function ladderLines(steps: readonly LadderStep[]): string[] {
  return steps.map((s, i) => `${i + 1}. ${s.workflow}${s.workflowId ? ` (${s.workflowId})` : ''}: ${s.outcome}: ${s.summary}`);
}
