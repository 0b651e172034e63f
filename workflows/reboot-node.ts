// rebootNode: drain, reboot, wait for the node's worker to come back, verify, undrain.
// The workflow runs on the general queue (any worker of the datacenter) and sends the
// machine-touching steps to the node's own queue, so it keeps going - and can still escalate -
// while the node is down or never returns. It never leaves a node drained without telling a human.
import { CancellationScope, isCancellation, sleep, workflowInfo } from '@temporalio/workflow';
import type { NodeIdentity } from '../activities';
import type { WorkflowInput } from './shared/input';
import { nodeQueue } from '../src/naming/task-queues';
import { activities } from './activity-options';
import { checkHealth, readHealthSpec } from './health';
import { ESCALATED, escalate } from './escalation';
import { remediation, type OutcomeFields } from './outcome';
import { ParamReader } from './params';

export interface RebootNodeResult extends OutcomeFields {
  node: string;
  dryRun: boolean;
  bootIdBefore: string;
  bootIdAfter: string;
  health: string;
}

export async function rebootNode(input: WorkflowInput): Promise<RebootNodeResult> {
  const plan = ['check node', 'drain', 'reboot', 'wait for node', 'settle', 'verify', 'undrain'];
  return remediation(input, plan, async ({ progress }) => {
    const p = new ParamReader(input);
    const node = p.target('node');
    const returnTimeoutMs = p.duration('return_timeout', '15m', { min: 1000, max: 6 * 3_600_000 });
    const settleMs = p.duration('settle', '30s', { max: 30 * 60_000 });
    // How long the first "is anyone there?" waits, and how often we ask while the node reboots.
    const probeTimeoutMs = p.duration('probe_timeout', '1m', { min: 1000, max: 3_600_000 });
    const probeEveryMs = p.duration('probe_every', '10s', { min: 100, max: 3_600_000 });
    const health = readHealthSpec(p, p.string('unit'));
    p.done();

    const queue = nodeQueue(node);
    const onNode = activities({ taskQueue: queue });
    const reason = `medic rebootNode ${workflowInfo().workflowId}${input.reason ? `: ${input.reason}` : ''}`;
    // Asks the node's queue who is there. A short schedule-to-start timeout turns "no worker is
    // polling" into a failure we can wait out, instead of a task that sits in the queue forever.
    const probe = (waitMs: number) =>
      activities({
        taskQueue: queue,
        scheduleToStartTimeout: waitMs,
        startToCloseTimeout: '30s',
        retry: { maximumAttempts: 1 },
      }).nodeIdentity();

    progress.step('check node', `is a worker polling ${queue}?`);
    let before: NodeIdentity;
    try {
      before = await probe(probeTimeoutMs);
    } catch (err) {
      if (isCancellation(err)) throw err;
      return escalate(progress, `rebootNode: ${node} has no live worker on ${queue}; nothing was done`);
    }

    let drained = false;
    try {
      progress.step('drain', reason);
      drained = true; // from here on the node may be (partly) drained, even if the hook fails half way
      await onNode.drainNode({ message: reason, severity: 'warning' });

      progress.step('reboot', `boot id ${before.bootId}`);
      // Never twice: one attempt, and the activity itself refuses once the boot id has changed.
      const rebooted = await activities({ taskQueue: queue, retry: { maximumAttempts: 1 } }).reboot({ bootId: before.bootId });
      if (rebooted.dryRun) progress.note('reboot_dry_run is set on the node: nothing was rebooted');

      progress.step('wait for node', `waiting up to ${returnTimeoutMs / 1000}s for ${queue} to answer with a new boot id`);
      const deadline = Date.now() + returnTimeoutMs;
      let after: NodeIdentity | undefined;
      while (!after) {
        const left = deadline - Date.now();
        if (left <= 0) {
          return escalate(
            progress,
            `rebootNode: ${node} did not come back within ${returnTimeoutMs / 1000}s after reboot; it is still DRAINED`,
          );
        }
        try {
          const seen = await probe(Math.min(left, probeTimeoutMs));
          if (rebooted.dryRun || seen.bootId !== rebooted.bootId) after = seen;
          else await sleep(Math.min(probeEveryMs, left));
        } catch (err) {
          if (isCancellation(err)) throw err;
          progress.note(`no answer yet: ${(err as Error).message}`);
        }
      }

      progress.step('settle', `waiting ${settleMs / 1000}s for services to start`);
      await sleep(settleMs);

      progress.step('verify');
      const verdict = await checkHealth(onNode, health);
      if (!verdict.healthy) {
        return escalate(
          progress,
          `rebootNode: ${node} came back unhealthy (${verdict.detail}); it is left DRAINED so it takes no traffic`,
        );
      }

      progress.step('undrain');
      await onNode.undrainNode({ message: `${reason}: healthy after reboot`, severity: 'info' });
      drained = false;
      return {
        outcome: 'healed',
        summary: `healed: ${node} rebooted and healthy (${verdict.detail})`,
        node,
        dryRun: rebooted.dryRun,
        bootIdBefore: rebooted.bootId,
        bootIdAfter: after.bootId,
        health: verdict.detail,
      };
    } catch (err) {
      if (isCancellation(err) && !drained) progress.finish('cancelled', 'cancelled before draining; nothing was done');
      if (isCancellation(err) && drained) {
        // Cancelled mid-way: put the node back if it is there, and say what state it is in either way.
        await CancellationScope.nonCancellable(async () => {
          let state = 'undrained';
          try {
            await activities({ taskQueue: queue, scheduleToCloseTimeout: '2m', retry: { maximumAttempts: 3 } }).undrainNode({
              message: `${reason}: cancelled`,
            });
          } catch (undrainErr) {
            state = `LEFT DRAINED (undrain failed: ${(undrainErr as Error).message})`;
          }
          progress.finish('cancelled', `cancelled; ${node} ${state}`);
          await activities({ startToCloseTimeout: '1m', retry: { maximumAttempts: 3 } })
            .notify({
              message: `rebootNode on ${node} was cancelled; the node is ${state}`,
              severity: state === 'undrained' ? 'warning' : 'critical',
            })
            .catch(() => undefined);
        });
      } else if (drained && !isEscalation(err)) {
        // Any other failure after draining (drain or reboot hook errors): a human must know.
        return escalate(progress, `rebootNode: ${node} failed after drain (${(err as Error).message}); it may be DRAINED`);
      }
      throw err;
    }
  });
}

function isEscalation(err: unknown): boolean {
  return (err as { type?: string })?.type === ESCALATED;
}
