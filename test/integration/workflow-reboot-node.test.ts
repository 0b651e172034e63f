// rebootNode against the real dev server with real medic workers: the target node's worker and
// a second worker of the same datacenter (the general queue, where the workflow runs). The
// reboot is dry (worker.hcl reboot_dry_run) or, where a test needs the node to go away and come
// back, a fake that the test follows by stopping the node's worker and starting a new one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { Hook } from '../../src/config/worker';
import type { Progress } from '../../workflows/progress';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { startTestWorker, tempDir, type TestWorker } from '../helpers/medic-worker';
import { recordHistory } from '../helpers/histories';
import { connectClient, eventually, unique } from '../helpers/temporal';

describe('rebootNode', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let hooks: CaptureServer;
  let healthy = true;
  let workers: TestWorker[] = [];
  let dir: string;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    hooks = await startCaptureServer((req) => (req.path === '/healthz' ? { status: healthy ? 200 : 500 } : { status: 200 }));
  });
  beforeEach(() => {
    dir = tempDir('reboot');
    healthy = true;
    hooks.requests.length = 0;
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await Promise.all([hooks.close(), closeClient()]);
  });

  const webhook = (event: string): Hook => ({ kind: 'webhook', url: `${hooks.url}/${event}`, headers: {}, timeoutMs: 5000 });
  const hookSettings = () => ({ hooks: { drain: webhook('drain'), undrain: webhook('undrain'), notify: webhook('notify') } });
  const events = () => hooks.requests.filter((r) => r.path !== '/healthz').map((r) => r.path.slice(1));

  /** The target node's worker, plus a helper in the same datacenter that polls the general queue too. */
  async function fleet(node: string, datacenter: string, fakes: Partial<Activities> = {}) {
    const bootIdFile = path.join(dir, 'boot_id');
    if (!fs.existsSync(bootIdFile)) fs.writeFileSync(bootIdFile, 'boot-1\n');
    const target = await startTestWorker({ node, datacenter, settings: hookSettings(), bootIdFile, fakes });
    const helper = await startTestWorker({ datacenter, settings: hookSettings() });
    workers.push(target, helper);
    return { target, helper, bootIdFile };
  }

  function start(node: string, datacenter: string, params: Record<string, string>): Promise<WorkflowHandle> {
    return client.workflow.start('rebootNode', {
      taskQueue: `medic:${datacenter}`,
      workflowId: unique('reboot'),
      args: [
        {
          workflow: 'rebootNode',
          target: { node, datacenter },
          params: { settle: '100ms', probe_every: '500ms', ...params },
          reason: 'test',
        },
      ],
    });
  }

  it('drains, reboots (dry run), verifies and undrains', async () => {
    const [node, dc] = [unique('node'), unique('dc')];
    await fleet(node, dc);
    const handle = await start(node, dc, { health_url: `${hooks.url}/healthz` });
    await expect(handle.result()).resolves.toMatchObject({ node, dryRun: true, bootIdBefore: 'boot-1', bootIdAfter: 'boot-1' });
    expect(events()).toEqual(['drain', 'undrain']);
    expect(hooks.posted('/drain')[0]).toMatchObject({ node, datacenter: dc, severity: 'warning' });
    expect((await handle.query<Progress>('progress')).status).toBe('succeeded');
    await recordHistory('rebootNode-success', handle);
  });

  it('waits for the node to come back with a new boot id before undraining', async () => {
    const [node, dc] = [unique('node'), unique('dc')];
    let rebooted!: () => void;
    const rebootCalled = new Promise<void>((resolve) => (rebooted = resolve));
    const { target, bootIdFile } = await fleet(node, dc, {
      reboot: async () => {
        rebooted();
        return { dryRun: false, bootId: fs.readFileSync(bootIdFile, 'utf8').trim(), argv: ['fake-reboot'] };
      },
    });
    const handle = await start(node, dc, {});
    await rebootCalled;
    // The machine goes down: its worker stops. It comes back a little later with a new boot id.
    await target.stop();
    workers = workers.filter((w) => w !== target);
    await eventually(async () => ((await handle.query<Progress>('progress')).step === 'wait for node' ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500));
    fs.writeFileSync(bootIdFile, 'boot-2\n');
    workers.push(await startTestWorker({ node, datacenter: dc, settings: hookSettings(), bootIdFile }));
    await expect(handle.result()).resolves.toMatchObject({ dryRun: false, bootIdBefore: 'boot-1', bootIdAfter: 'boot-2' });
    expect(events()).toEqual(['drain', 'undrain']);
    await recordHistory('rebootNode-comes-back', handle);
  }, 180_000);

  it('escalates, saying the node is still drained, when it does not come back in time', async () => {
    const [node, dc] = [unique('node'), unique('dc')];
    let rebooted!: () => void;
    const rebootCalled = new Promise<void>((resolve) => (rebooted = resolve));
    const { target } = await fleet(node, dc, {
      reboot: async () => (rebooted(), { dryRun: false, bootId: 'boot-1', argv: ['fake-reboot'] }),
    });
    const handle = await start(node, dc, { return_timeout: '3s' });
    await rebootCalled;
    await target.stop();
    workers = workers.filter((w) => w !== target);
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect((err.cause as ApplicationFailure).type).toBe('Escalated');
    expect(err.cause!.message).toContain('still DRAINED');
    expect(events()).toEqual(['drain', 'notify']);
    expect(hooks.posted('/notify')[0]).toMatchObject({ severity: 'critical' });
    await recordHistory('rebootNode-escalation', handle);
  });

  it('keeps an unhealthy node drained and escalates', async () => {
    const [node, dc] = [unique('node'), unique('dc')];
    await fleet(node, dc);
    healthy = false;
    const handle = await start(node, dc, { health_url: `${hooks.url}/healthz` });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err.cause!.message).toContain('left DRAINED');
    expect(events()).toEqual(['drain', 'notify']);
  });

  it('undrains the node and says so when cancelled after draining', async () => {
    const [node, dc] = [unique('node'), unique('dc')];
    await fleet(node, dc);
    const handle = await start(node, dc, { settle: '10m' });
    await eventually(
      async () => ((await handle.query<Progress>('progress')).step === 'settle' ? true : undefined),
      15_000,
      'settle',
    );
    await handle.cancel();
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect(events()).toEqual(['drain', 'undrain', 'notify']);
    expect(hooks.posted('/notify')[0]!.message).toContain('undrained');
    expect((await handle.query<Progress>('progress')).status).toBe('cancelled');
    await recordHistory('rebootNode-cancelled', handle);
  });

  it('does nothing and escalates when no worker answers on the node queue', async () => {
    const dc = unique('dc');
    workers.push(await startTestWorker({ datacenter: dc, settings: hookSettings() }));
    const handle = await start(unique('ghost'), dc, { probe_timeout: '2s' });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err.cause!.message).toContain('has no live worker');
    expect(events()).toEqual(['notify']);
  });
});
