// restartService: the "restart it and see" runbook. Restart a systemd unit, give it time to
// settle, verify health (systemd, HTTP and/or Prometheus); try a bounded number of times, then
// hand over to a human (notify, fail).
import { sleep } from '@temporalio/workflow';
import type { WorkflowInput } from './input';
import { activities } from './activity-options';
import { checkHealth, readHealthSpec } from './health';
import { escalate } from './escalation';
import { ParamReader } from './params';
import { ProgressTracker } from './progress';

export interface RestartServiceResult {
  unit: string;
  node?: string;
  attempts: number;
  health: string;
}

// systemd's unit-name alphabet; activities/systemd.ts checks it again where it matters.
const UNIT = /^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}$/;

export async function restartService(input: WorkflowInput): Promise<RestartServiceResult> {
  const p = new ParamReader(input);
  const unit = p.string('unit', { required: true, pattern: UNIT, patternHelp: 'is not a systemd unit name' });
  const attempts = p.integer('attempts', 3, { min: 1, max: 10 });
  const settleMs = p.duration('settle', '15s', { max: 30 * 60_000 });
  const health = readHealthSpec(p, unit);
  p.done();

  const progress = new ProgressTracker(['restart', 'settle', 'verify']);
  const acts = activities();
  let last = '';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    progress.step('restart', `systemctl restart ${unit} (${attempt} of ${attempts})`, attempt);
    const restarted = await acts.systemdUnit({ action: 'restart', unit: unit! });
    if (restarted.actionError) progress.note(`restart reported: ${restarted.actionError}`);

    progress.step('settle', `waiting ${settleMs / 1000}s for ${unit} to settle`, attempt);
    await sleep(settleMs);

    progress.step('verify', undefined, attempt);
    const verdict = await checkHealth(acts, health);
    if (verdict.healthy) {
      progress.finish('succeeded', verdict.detail);
      return { unit: restarted.unit, node: input.target.node, attempts: attempt, health: verdict.detail };
    }
    last = verdict.detail;
    progress.note(`still unhealthy: ${last}`);
  }
  return escalate(
    progress,
    `restartService: ${unit} on ${input.target.node ?? 'this node'} is still unhealthy after ${attempts} restart${attempts > 1 ? 's' : ''}: ${last}`,
  );
}
