// For tests of log and health-check rules: a config directory holding one workflow and the
// given rules, and a stand-in coordinator per daemon that records each trigger it is asked for
// (the idempotency keys are what these tests compare; the coordinator's dedupe has its own tests).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCaptureServer, type CaptureServer } from './capture-server';
import { startTrigger, type Proc, type Trigger } from './medic-process';
import { waitFor } from './wait';

export interface TriggerRequestSeen {
  target: { node?: string };
  reason?: string;
  idempotency_key?: string;
}

/** A coordinator that starts everything it is asked to (202), dry runs included. */
export async function startRecordingCoordinator(): Promise<CaptureServer & { triggers(): TriggerRequestSeen[] }> {
  let n = 0;
  const server = await startCaptureServer(() => ({
    status: 202,
    body: { status: 'started', workflow_id: `w-${++n}`, run_id: 'r', task_queue: 'q' },
  }));
  return Object.assign(server, { triggers: () => server.posted<TriggerRequestSeen>('/v1/workflows/w/executions') });
}

/** A config directory: workflow `w` (ping, on the node queue) and `rules` in triggers/rules.hcl. */
export function sourceConfigDir(rules: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-source-'));
  fs.mkdirSync(path.join(dir, 'workflows'));
  fs.writeFileSync(path.join(dir, 'workflows', 'w.hcl'), 'workflow = "ping"\ntask_queue_target = "node"\n');
  fs.mkdirSync(path.join(dir, 'triggers'));
  fs.writeFileSync(path.join(dir, 'triggers', 'rules.hcl'), `coordinator {\n  address = "http://127.0.0.1:1"\n}\n${rules}`);
  return dir;
}

/** `medic trigger` on `dir` as node web-1, asking `coordinator`, with its own state file. */
export function startSourceDaemon(dir: string, coordinator: CaptureServer, stateFile: string): Promise<Trigger> {
  return startTrigger(dir, ['--node', 'web-1', '--coordinator-address', coordinator.url, '--state-file', stateFile]);
}

/** The idempotency keys a coordinator was asked for, in order. */
export const keysOf = (c: { triggers(): TriggerRequestSeen[] }): string[] => c.triggers().map((t) => t.idempotency_key!);

/** Waits until `proc` has printed `pattern` `n` times (episodes opened and ended, files rotated). */
export const printed = (proc: Proc, pattern: RegExp, n: number): Promise<true> =>
  waitFor(
    `${n} × ${pattern} from pid ${proc.pid}`,
    () => ((proc.output().match(new RegExp(pattern, 'g')) ?? []).length >= n ? true : undefined),
    30_000,
  );
