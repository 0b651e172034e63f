// Recorded workflow histories for the replay test. Workflow tests call recordHistory on their
// runs; with MEDIC_RECORD_HISTORIES=1 the history is written to test/fixtures/histories/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { WorkflowHandle } from '@temporalio/client';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');

export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.MEDIC_RECORD_HISTORIES !== '1') return;
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  const json = historyToJSON(await handle.fetchHistory());
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), JSON.stringify(JSON.parse(json), null, 1) + '\n');
}
