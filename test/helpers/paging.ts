// A real medic worker whose escalation sink is a capture server taking medic's JSON pages: for
// tests of who pages what (the close watcher, escalation ladders).
import * as fs from 'node:fs';
import type { LadderStep } from '../../workflows/shared/ladder';
import { startCaptureServer, type CaptureServer } from './capture-server';
import { startTestWorker, tempDir, type TestWorker } from './medic-worker';

/** A page as the `json` escalation format posts it (activities/escalation.ts jsonEvent). */
export interface JsonPage {
  event_action: string;
  dedup_key: string;
  summary: string;
  outcome: string;
  workflow: string;
  workflow_id: string;
  run_id: string;
  target: { node?: string; datacenter?: string };
  tried: string[];
  diagnostics?: Array<{ name: string; output: string; truncated: boolean }>;
  ladder?: LadderStep[];
}

export interface Paging {
  sink: CaptureServer;
  worker: TestWorker;
  /** A temporary directory of the test file's own, removed by close(). */
  dir: string;
  /** The trigger pages received, of one run when `runId` is given. */
  pages(runId?: string): JsonPage[];
  close(): Promise<void>;
}

/** Starts the sink and a worker (in `namespace`, default "default") that may run `allowedCommands` and pages to the sink. */
export async function startPaging(prefix: string, allowedCommands: string[], namespace?: string): Promise<Paging> {
  const sink = await startCaptureServer(() => ({ status: 202, body: { status: 'success' } }));
  const dir = tempDir(prefix);
  const worker = await startTestWorker({
    ...(namespace && { namespace }),
    settings: {
      allowedCommands,
      escalation: { url: `${sink.url}/pages`, format: 'json', headers: {}, timeoutMs: 5000 },
    },
  });
  return {
    sink,
    worker,
    dir,
    pages: (runId) =>
      sink.posted<JsonPage>('/pages').filter((p) => p.event_action === 'trigger' && (!runId || p.run_id === runId)),
    async close() {
      await worker.stop();
      await sink.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
