// The coordinators' ladder activity: an escalated run asks here for the next step of its
// escalation ladder (workflows/ladder.ts), and the step goes through the same admission as any
// trigger (constraints, budgets, freezes, the node lock), keyed by the escalated run's id, so a
// retry on this or another coordinator finds the start instead of making a second one.
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { LadderActivities } from '../../workflows/ladder';
import { climbKey, type ClimbAnswer } from '../../workflows/shared/ladder';
import { idempotentExecutionId, type TriggerOutcome, type TriggerRequest } from './admission';
import type { WorkflowConfig } from '../config/workflow';
import type { Target } from '../naming/task-queues';
import { unusedTargetField } from '../admission/constraints';

/** Who asks for a ladder's next step, in audit lines and MedicTrigger. */
export const LADDER_IDENTITY = 'medic:ladder';
/** The admission source label of ladder steps (metrics, audit). */
export const LADDER_SOURCE = 'ladder';

/** What admission's answer means for the escalated run: handed over, or page (why not). */
export function climbAnswer(outcome: TriggerOutcome): ClimbAnswer {
  switch (outcome.result) {
    case 'started':
    case 'duplicate':
      return { result: 'started', workflowId: outcome.workflowId, runId: outcome.runId };
    case 'refused': {
      const r = outcome.refusal;
      const message =
        r.message ??
        `${String(r.constraint.description ?? r.constraint.kind)}: ${r.count} counted, may pass in ${r.retryAfterSeconds}s`;
      return { result: 'refused', message, code: String(r.constraint.kind) };
    }
    case 'invalid':
      return { result: 'refused', message: outcome.message, code: outcome.code };
    case 'shadow':
      return {
        result: 'refused',
        message: 'the workflow is in shadow mode: admission would start it, nothing was started',
        code: 'shadow',
      };
    case 'dry_run':
      return { result: 'refused', message: 'a dry run starts nothing', code: 'dry_run' };
    case 'awaiting_approval':
      // The next step needs a human's approval: the run pages, and the page says how to give it.
      return {
        result: 'refused',
        message: `the next step awaits approval ${outcome.approvalId} until ${outcome.expiresAt} (medic approve ${outcome.approvalId})`,
        code: 'awaiting_approval',
      };
    case 'error':
      // The ledger of the next workflow is failed: its triggers are refused until it runs again.
      if (outcome.code === 'ledger_failed') return { result: 'refused', message: outcome.message, code: outcome.code };
      // Temporal unreachable, an internal failure: the activity is retried (on any coordinator).
      throw ApplicationFailure.retryable(outcome.message, outcome.code);
  }
}

/** The run a climb already started, if any (its id is the keyed one admission gives it). */
async function startedBefore(client: Client, workflow: string, key: string): Promise<ClimbAnswer | undefined> {
  const workflowId = idempotentExecutionId(workflow, LADDER_IDENTITY, LADDER_SOURCE, key);
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return { result: 'started', workflowId, runId: d.runId };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** The escalated run's target as the next workflow takes it: without a node a workflow of another queue does not use. */
export function nextTarget(wf: WorkflowConfig | undefined, target: Target): Target {
  if (!wf || !unusedTargetField(wf.workflowType, wf.taskQueueTarget, target)) return target;
  const { node: _unused, ...rest } = target;
  return rest;
}

export function createLadderActivities(
  admit: (req: TriggerRequest) => Promise<TriggerOutcome>,
  client: () => Client,
  workflows: () => ReadonlyMap<string, WorkflowConfig>,
): LadderActivities {
  return {
    async climbLadder(req) {
      const key = climbKey(req.fromRunId);
      const outcome = await admit({
        workflow: req.workflow,
        target: nextTarget(workflows().get(req.workflow), req.target),
        params: req.params,
        reason: req.reason,
        idempotencyKey: key,
        identity: LADDER_IDENTITY,
        source: LADDER_SOURCE,
        ladder: req.ladder,
      });
      const answer = climbAnswer(outcome);
      // An attempt of this climb that overlapped this one (a retry after a lost reply) may hold
      // what refused it (the node lock): the step it started is the answer, not the refusal.
      return answer.result === 'refused' ? ((await startedBefore(client(), req.workflow, key)) ?? answer) : answer;
    },
  };
}
