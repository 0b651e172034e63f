// cleanDisk against the real dev server with a real medic worker and real activities: it removes
// real files, but only in a temporary directory that is the worker's one allowed cleanup path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Progress } from '../../workflows/progress';
import type { CleanDiskResult } from '../../workflows/clean-disk';
import { startCaptureServer, vector, type CaptureServer } from '../helpers/capture-server';
import { startTestWorker, tempDir, type TestWorker } from '../helpers/medic-worker';
import { recordHistory } from '../helpers/histories';
import { connectClient, eventually, unique } from '../helpers/temporal';

const DAY = 86_400_000;
const MB = 1024 * 1024;

function file(p: string, bytes: number, ageMs: number): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, Buffer.alloc(bytes, 1));
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(p, t, t);
}

describe('cleanDisk', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let server: CaptureServer;
  let alertSeries = 0;
  let worker: TestWorker | undefined;
  let root: string;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    // Prometheus (the disk alert's condition) and the notify webhook, on one loopback server.
    server = await startCaptureServer((req) => {
      if (!req.path.startsWith('/api/v1/query')) return { status: 200 };
      if (alertSeries > 0) alertSeries -= 1;
      return { status: 200, body: vector(alertSeries > 0 ? [{ instance: 'x' }] : []) };
    });
  });
  beforeEach(async () => {
    root = tempDir('clean');
    server.requests.length = 0;
    worker = await startTestWorker({
      settings: {
        cleanupPaths: [root],
        prometheus: { address: server.url, timeoutMs: 2000 },
        hooks: { notify: { kind: 'webhook', url: `${server.url}/notify`, headers: {}, timeoutMs: 2000 } },
      },
    });
  });
  afterEach(async () => {
    await worker?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  afterAll(async () => {
    await Promise.all([server.close(), closeClient()]);
  });

  const start = (params: Record<string, string>) =>
    client.workflow.start('cleanDisk', {
      taskQueue: worker!.queues[2]!,
      workflowId: unique('clean'),
      args: [
        {
          workflow: 'cleanDisk',
          target: { node: worker!.node },
          params: { paths: root, patterns: '*.gz,*.log.?', older_than: '7d', ...params },
        },
      ],
    });

  it('removes old matching files only, reports the bytes freed and sees usage drop', async () => {
    file(path.join(root, 'app.log.1'), 2 * MB, 10 * DAY);
    file(path.join(root, 'sub', 'old.gz'), 3 * MB, 30 * DAY);
    file(path.join(root, 'new.gz'), MB, 1 * DAY);
    file(path.join(root, 'app.log'), MB, 30 * DAY);
    const handle = await start({});
    const result = (await handle.result()) as CleanDiskResult;
    expect(result).toMatchObject({ filesRemoved: 2, bytesFreed: 5 * MB });
    expect(result.usageAfter.usedBytes).toBeLessThan(result.usageBefore.usedBytes);
    expect(fs.existsSync(path.join(root, 'app.log.1'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'sub', 'old.gz'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'new.gz'))).toBe(true);
    expect(fs.existsSync(path.join(root, 'app.log'))).toBe(true);
    expect((await handle.query<Progress>('progress')).status).toBe('succeeded');
    await recordHistory('cleanDisk-success', handle);
  });

  it('queries Prometheus again until the disk alert has cleared', async () => {
    file(path.join(root, 'a.gz'), MB, 10 * DAY);
    alertSeries = 3; // the first two answers still show the condition
    const handle = await start({ verify_query: 'disk_almost_full', verify_timeout: '1m', verify_every: '200ms' });
    await expect(handle.result()).resolves.toMatchObject({ filesRemoved: 1 });
    expect(server.requests.filter((r) => r.path.startsWith('/api/v1/query'))).toHaveLength(3);
    await recordHistory('cleanDisk-verify-retry', handle);
  });

  it('escalates when there is nothing to remove', async () => {
    file(path.join(root, 'fresh.gz'), MB, 0);
    const handle = await start({});
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect((err.cause as ApplicationFailure).type).toBe('Escalated');
    expect(err.cause!.message).toContain('nothing to remove');
    expect(server.posted('/notify')[0]).toMatchObject({ severity: 'critical', node: worker!.node });
    await recordHistory('cleanDisk-escalation', handle);
  });

  it('stops when cancelled while waiting for the alert to clear', async () => {
    file(path.join(root, 'a.gz'), MB, 10 * DAY);
    alertSeries = 1_000;
    const handle = await start({ verify_query: 'disk_almost_full', verify_timeout: '10m', verify_every: '200ms' });
    await eventually(async () =>
      (await handle.query<Progress>('progress')).history.some((e) => e.detail?.includes('still returns')) ? true : undefined,
    );
    await handle.cancel();
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    alertSeries = 0;
    await recordHistory('cleanDisk-cancelled', handle);
  });

  it('refuses a path outside the allowed cleanup paths without retrying', async () => {
    const outside = tempDir('outside');
    try {
      file(path.join(outside, 'keep.gz'), MB, 30 * DAY);
      const handle = await start({ paths: outside });
      const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
      // Not a path the workflow handles: the catch-all ends it "failed" and escalates, naming the error.
      expect((err.cause as ApplicationFailure).type).toBe('FailedAndEscalated');
      expect(err.cause!.message).toMatch(/cleanFiles: .*is not inside worker.hcl cleanup_paths/);
      expect(fs.existsSync(path.join(outside, 'keep.gz'))).toBe(true);
      const attempts = (await handle.fetchHistory())
        .events!.filter((e) => e.activityTaskStartedEventAttributes)
        .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(attempts).toEqual([1, 1, 1]); // diskUsage, then cleanFiles once (not retried), then the page
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});
