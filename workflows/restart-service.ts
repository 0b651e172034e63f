// restartService: the "restart it and see" runbook. If health checks are given and pass before
// anything is done, there is nothing to heal. Otherwise restart a systemd unit, give it time to
// settle, verify health (systemd, HTTP and/or Prometheus); try a bounded number of times, then
// hand over to a human.
import { sleep } from '@temporalio/workflow';
import type { WorkflowInput } from './shared/input';
import { onMachine } from './activity-options';
import { checkHealth, readHealthSpec } from './health';
import { escalate } from './escalation';
import { remediation, type OutcomeFields } from './outcome';
import { ParamReader } from './params';

export interface RestartServiceResult extends OutcomeFields {
  unit: string;
  node?: string;
  attempts: number;
  health: string;
}

// systemd's unit-name alphabet; activities/systemd.ts checks it again where it matters.
const UNIT = /^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}$/;

export async function restartService(input: WorkflowInput): Promise<RestartServiceResult> {
  return remediation(input, ['check', 'restart', 'settle', 'verify'], async ({ progress, current }) => {
    const p = new ParamReader(input);
    const unit = p.string('unit', { required: true, pattern: UNIT, patternHelp: 'is not a systemd unit name' });
    const attempts = p.integer('attempts', 3, { min: 1, max: 10 });
    const settleMs = p.duration('settle', '15s', { max: 30 * 60_000 });
    const health = readHealthSpec(p, unit);
    p.done();

    const acts = onMachine(input);
    const node = input.target.node;
    // "Active" alone says little about a wedged service, so only an HTTP or Prometheus check can
    // tell that there is nothing to heal.
    if (current && (health.url || health.unhealthyQuery)) {
      progress.step('check', `is ${unit} unhealthy?`);
      const before = await checkHealth(acts, health);
      if (before.healthy) {
        const summary = `nothing to heal: ${unit} on ${node ?? 'this node'} is healthy (${before.detail})`;
        return { outcome: 'nothing_to_heal', summary, unit: unit!, node, attempts: 0, health: before.detail };
      }
      progress.note(`unhealthy: ${before.detail}`);
    }
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
        const summary = `healed: ${restarted.unit} on ${node ?? 'this node'} is healthy after ${attempt} restart${attempt > 1 ? 's' : ''} (${verdict.detail})`;
        return { outcome: 'healed', summary, unit: restarted.unit, node, attempts: attempt, health: verdict.detail };
      }
      last = verdict.detail;
      progress.note(`still unhealthy: ${last}`);
    }
    return escalate(
      progress,
      `restartService: ${unit} on ${node ?? 'this node'} is still unhealthy after ${attempts} restart${attempts > 1 ? 's' : ''}: ${last}`,
    );
  });
}
