// For the lean runtime's tests (role node, in-process or as a process): the general SDK worker
// that runs the workflows of a datacenter in the test process, and waiting for an activity to run.
import * as fs from 'node:fs';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { createMedicWorker } from '../../src/worker/medic-worker';
import { tempDir, testSettings } from './medic-worker';
import { connectClient, connectWorkerConnection, eventually, temporalAddress, unique, workflowBundle } from './temporal';

/**
 * A client, a worker connection and a temporary directory for each test; `cleanups` pushed
 * during a test run after it, last first.
 */
export function leanTestBed(prefix: string) {
  const bed = {
    client: undefined as unknown as Client,
    connection: undefined as unknown as NativeConnection,
    dir: '',
    cleanups: [] as Array<() => Promise<unknown> | unknown>,
  };
  let closeClient: () => Promise<void>;
  beforeAll(async () => {
    ({ client: bed.client, close: closeClient } = await connectClient());
    bed.connection = await connectWorkerConnection();
  });
  beforeEach(() => {
    bed.dir = tempDir(prefix);
  });
  afterEach(async () => {
    for (const c of bed.cleanups.splice(0).reverse()) await c();
    fs.rmSync(bed.dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await bed.connection.close();
    await closeClient();
  });
  return bed;
}

/** Runs the workflows of `dc` (role general) on `connection` until the test's cleanups stop it. */
export async function startGeneralWorker(
  bed: { connection: NativeConnection; cleanups: Array<() => Promise<unknown> | unknown> },
  dc: string,
  payloadKeyFile?: string,
): Promise<void> {
  const worker = await createMedicWorker({
    config: {
      node: unique('general'),
      datacenter: dc,
      nodeType: 'generic',
      role: 'general',
      shutdownGraceMs: 1000,
      maxConcurrentActivities: 4,
      temporal: { address: temporalAddress(), namespace: 'default', ...(payloadKeyFile && { payloadKeyFile }) },
    },
    connection: bed.connection,
    bundlePath: workflowBundle().codePath,
    activities: createActivities({ settings: testSettings('general', dc, 'generic') }),
  });
  const running = worker.run();
  bed.cleanups.push(async () => {
    worker.shutdown();
    await running.catch(() => undefined);
  });
}

/** Waits until an activity of `h` runs on a worker (history records its start only once it ends). */
export function activityRunning(h: WorkflowHandle): Promise<true> {
  return eventually(
    async () => ((await h.describe()).raw.pendingActivities?.some((a) => a.state === 2 /* STARTED */) ? true : undefined),
    60_000,
    'the activity to start',
  );
}
