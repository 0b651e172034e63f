// Replays the recorded history of every workflow (test/fixtures/histories/, recorded by the
// workflow tests with MEDIC_RECORD_HISTORIES=1) against the current bundle: a change that would
// break running executions fails here with a DeterminismViolationError.
import * as fs from 'node:fs';
import { Worker } from '@temporalio/worker';
import { HISTORIES_DIR, HISTORY_SUFFIX, readHistory } from '../helpers/histories';
import { workflowBundle } from '../helpers/temporal';
import '../helpers/medic-worker';

const files = fs.existsSync(HISTORIES_DIR)
  ? fs
      .readdirSync(HISTORIES_DIR)
      .filter((f) => f.endsWith(HISTORY_SUFFIX))
      .sort()
  : [];

describe('recorded workflow histories', () => {
  it('cover every remediation workflow, each in several outcomes', () => {
    const types = new Map<string, number>();
    for (const f of files) types.set(f.split('-')[0]!, (types.get(f.split('-')[0]!) ?? 0) + 1);
    expect([...types.keys()].sort()).toEqual(['cleanDisk', 'rebootNode', 'restartService', 'runbook']);
    expect([...types.values()].every((n) => n >= 3)).toBe(true);
  });

  it.each(files)('replay without non-determinism: %s', async (file) => {
    await Worker.runReplayHistory({ workflowBundle: workflowBundle() }, readHistory(file));
  });
});
