// The escalating run's side of an escalation ladder: when the run's config has `on_unhealed` and
// the episode may climb one more step, the next workflow is asked for through the coordinators'
// admission (the ladder activity on LADDER_QUEUE, src/coordinator/ladder.ts), exactly once (the
// start is keyed by this run's id). Started: this run hands over and pages no one. Refused, not
// asked (max_depth) or unanswered: this run pages, and its page lists the whole ladder.
import { ActivityFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { ProgressTracker } from './progress';
import { LADDER_QUEUE } from '../src/naming/task-queues';
import { TemplateError } from './shared/template';
import { depthOf, episodeMaxDepth, nextParams, type ClimbAnswer, type ClimbRequest, type LadderStep } from './shared/ladder';

export interface LadderActivities {
  /** Asks admission for the next step of a ladder (the coordinators' ladder activity). */
  climbLadder(req: ClimbRequest): Promise<ClimbAnswer>;
}

/** How long a climb may wait for a coordinator to take it: then the run pages as it would without a ladder. */
const TAKEN_WITHIN_MS = 15_000;

export type Climb =
  | { handed: true; next: { workflow: string; workflowId: string; runId: string }; steps: LadderStep[]; episode: string }
  | { handed: false; why: string; steps: LadderStep[]; episode: string };

/** This run as a step of the ladder. */
export function thisStep(progress: ProgressTracker, outcome: string, summary: string): LadderStep {
  const info = workflowInfo();
  return {
    workflow: progress.input?.workflow ?? info.workflowType,
    workflowId: info.workflowId,
    runId: info.runId,
    outcome,
    summary,
  };
}

/** The ladder so far of a run that escalates: the steps before it and itself. */
export function ladderSoFar(
  progress: ProgressTracker,
  summary: string,
  outcome: string,
): { episode: string; steps: LadderStep[] } {
  const ladder = progress.input?.ladder;
  return {
    episode: ladder?.episode ?? workflowInfo().workflowId,
    steps: [...(ladder?.steps ?? []), thisStep(progress, outcome, summary)],
  };
}

/**
 * Asks for the next step of the ladder within `withinMs` (a run near its own deadline has little
 * time left). Never throws but for cancellation: whatever goes wrong, the run pages instead.
 */
export async function climb(progress: ProgressTracker, message: string, withinMs: number): Promise<Climb> {
  const input = progress.input!;
  const next = input.onUnhealed!;
  const { episode, steps } = ladderSoFar(progress, message, 'escalated');
  const maxDepth = episodeMaxDepth(input.ladder, next.maxDepth);
  const notAsked = (why: string): Climb => ({
    handed: false,
    why: `not asked: ${why}`,
    episode,
    steps: [...steps, { workflow: next.start, outcome: 'not_asked', summary: why }],
  });
  if (depthOf(input.ladder) >= maxDepth) return notAsked(`the ladder's max_depth of ${maxDepth} steps is reached`);
  let params: Record<string, string>;
  try {
    params = nextParams(next.params, { target: input.target, params: input.params ?? {} });
  } catch (err) {
    if (err instanceof TemplateError) return notAsked(`its params cannot be mapped: ${err.message}`);
    throw err;
  }
  const ladder = proxyActivities<LadderActivities>({
    taskQueue: LADDER_QUEUE,
    scheduleToStartTimeout: Math.min(TAKEN_WITHIN_MS, withinMs),
    startToCloseTimeout: '60s',
    scheduleToCloseTimeout: withinMs,
    retry: { initialInterval: '1s', maximumInterval: '5s', maximumAttempts: 5 },
  });
  let answer: ClimbAnswer;
  try {
    answer = await ladder.climbLadder({
      workflow: next.start,
      target: input.target,
      params,
      ladder: { episode, maxDepth, steps },
      fromRunId: workflowInfo().runId,
      reason: progress.mask(`ladder step ${steps.length + 1} of ${episode}: ${steps.at(-1)!.workflow} escalated: ${message}`),
    });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    return notAsked(`no coordinator answered: ${err.cause?.message ?? err.message}`);
  }
  if (answer.result === 'started') {
    const started = { workflow: next.start, workflowId: answer.workflowId, runId: answer.runId };
    return {
      handed: true,
      next: started,
      episode,
      steps: [...steps, { ...started, outcome: 'started', summary: 'asked for by the ladder' }],
    };
  }
  return {
    handed: false,
    why: `refused: ${answer.message}`,
    episode,
    steps: [...steps, { workflow: next.start, outcome: 'refused', summary: answer.message }],
  };
}
