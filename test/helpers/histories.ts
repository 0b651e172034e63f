// Recorded workflow histories for the replay test. Workflow tests call recordHistory on their
// runs; with MEDIC_RECORD_HISTORIES=1 the history is written to
// test/fixtures/histories/<workflow code level>/ (workflows/patches.ts), never over an existing
// file: the histories of every released level stay, and the replay test replays them all.
//
// Histories are stored as binary protobuf (History.encode), not JSON: historyFromJSON fails in
// this install ("type must be a Type") because @temporalio/common and @temporalio/proto each
// carry their own copy of protobufjs 8 (the root has protobufjs 7 for gRPC), and the decoder of
// one copy does not accept the message types of the other. Binary needs only @temporalio/proto.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { WORKFLOW_CODE_LEVEL } from '../../workflows/patches';
import { LEDGER_CODE_LEVEL } from '../../src/ledger/patches';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
export const HISTORY_SUFFIX = '.history.binpb';

export async function recordHistory(name: string, handle: WorkflowHandle): Promise<void> {
  if (process.env.MEDIC_RECORD_HISTORIES !== '1') return;
  const bytes = temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish();
  const dir = path.join(HISTORIES_DIR, WORKFLOW_CODE_LEVEL);
  fs.mkdirSync(dir, { recursive: true });
  // 'wx': fails if the file exists. A released level's history is a fixture, not a cache.
  try {
    fs.writeFileSync(path.join(dir, `${name}${HISTORY_SUFFIX}`), bytes, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Every recorded history under `root`, as "<level>/<name>.history.binpb", sorted. */
function listHistories(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      fs
        .readdirSync(path.join(root, d.name))
        .filter((f) => f.endsWith(HISTORY_SUFFIX))
        .map((f) => `${d.name}/${f}`),
    )
    .sort();
}

/** Every recorded workflow history, as "<level>/<name>.history.binpb", sorted. */
export function historyFiles(): string[] {
  return listHistories(HISTORIES_DIR);
}

export function readHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(fs.readFileSync(path.join(HISTORIES_DIR, file)));
}

/** Recorded ledger histories (test/integration/ledger-replay.test.ts), per ledger code level. */
export const LEDGER_HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'ledger-histories');

/** Records a history of the ledger bundle under `level` (the ledgers' code level, or the approval workflow's). */
export async function recordLedgerHistory(name: string, handle: WorkflowHandle, level = LEDGER_CODE_LEVEL): Promise<void> {
  const bytes = temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish();
  const dir = path.join(LEDGER_HISTORIES_DIR, level);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}${HISTORY_SUFFIX}`), bytes, { flag: 'wx' });
}

/** Every recorded ledger history, as "<level>/<name>.history.binpb", sorted. */
export function ledgerHistoryFiles(): string[] {
  return listHistories(LEDGER_HISTORIES_DIR);
}

export function readLedgerHistory(file: string): temporal.api.history.v1.History {
  return temporal.api.history.v1.History.decode(fs.readFileSync(path.join(LEDGER_HISTORIES_DIR, file)));
}
