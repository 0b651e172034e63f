// Recorded workflow histories for the replay test. Workflow tests call recordHistory on their
// runs; with MEDIC_RECORD_HISTORIES=1 the history is written to test/fixtures/histories/.
//
// Histories are stored as binary protobuf (History.encode), not JSON: historyFromJSON fails in
// this install ("type must be a Type") because @temporalio/common and @temporalio/proto each
// carry their own copy of protobufjs 8 (the root has protobufjs 7 for gRPC), and the decoder of
// one copy does not accept the message types of the other. Binary needs only @temporalio/proto.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
export const HISTORY_SUFFIX = '.history.binpb';

export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.MEDIC_RECORD_HISTORIES !== '1') return;
  const bytes = temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish();
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORIES_DIR, `${name}${HISTORY_SUFFIX}`), bytes);
}

export function readHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(fs.readFileSync(path.join(HISTORIES_DIR, file)));
}
