// Replays the recorded history of every workflow at every code level
// (test/fixtures/histories/<level>/, recorded by the workflow tests with MEDIC_RECORD_HISTORIES=1)
// against the current bundle: a change that would break running executions fails here with a
// DeterminismViolationError.
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFiles, readHistory } from '../helpers/histories';
import { workflowBundle } from '../helpers/temporal';
import '../helpers/medic-worker';

const files = historyFiles();

describe('recorded workflow histories', () => {
  it('cover every remediation workflow, each in several outcomes', () => {
    const types = new Map<string, number>();
    for (const f of files.filter((f) => f.startsWith('initial/'))) {
      const type = path.basename(f).split('-')[0]!;
      types.set(type, (types.get(type) ?? 0) + 1);
    }
    expect([...types.keys()].sort()).toEqual(['cleanDisk', 'rebootNode', 'restartService', 'runbook']);
    expect([...types.values()].every((n) => n >= 3)).toBe(true);
  });

  it.each(files)('replay without non-determinism: %s', async (file) => {
    await Worker.runReplayHistory({ workflowBundle: workflowBundle() }, readHistory(file));
  });
});
