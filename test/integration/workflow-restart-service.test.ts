// restartService against the real dev server, with a real medic worker. Only systemctl is a fake
// (it would restart a real unit); health checks and notifications are real HTTP on loopback.
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Activities, UnitStatus } from '../../activities';
import type { WorkflowInput } from '../../workflows/shared/input';
import type { Progress } from '../../workflows/progress';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { recordHistory } from '../helpers/histories';
import { connectClient, eventually, unique } from '../helpers/temporal';

/** The service under repair: unhealthy until it has been restarted `healthyAfter` times. */
class FakeService {
  restarts = 0;
  constructor(readonly healthyAfter: number) {}
  get healthy(): boolean {
    return this.restarts >= this.healthyAfter;
  }
  readonly systemdUnit: Activities['systemdUnit'] = async (req) => {
    if (req.action === 'restart') this.restarts += 1;
    const status: UnitStatus = {
      unit: `${req.unit}.service`,
      action: req.action,
      actionExitCode: 0,
      activeState: 'active',
      subState: 'running',
      active: true,
    };
    return status;
  };
}

describe('restartService', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let hooks: CaptureServer;
  let health: CaptureServer;
  let service: FakeService;
  let worker: TestWorker | undefined;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    hooks = await startCaptureServer();
    health = await startCaptureServer(() =>
      service.healthy ? { status: 200, body: 'OK ready' } : { status: 503, body: 'starting' },
    );
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(async () => {
    await Promise.all([hooks.close(), health.close(), closeClient()]);
  });

  async function start(healthyAfter: number, params: Record<string, string>) {
    service = new FakeService(healthyAfter);
    worker = await startTestWorker({
      fakes: { systemdUnit: service.systemdUnit },
      settings: { hooks: { notify: { kind: 'webhook', url: `${hooks.url}/notify`, headers: {}, timeoutMs: 5000 } } },
    });
    const input: WorkflowInput = {
      workflow: 'restartService',
      target: { node: worker.node, datacenter: worker.datacenter },
      params: { unit: 'nginx', health_url: `${health.url}/healthz`, expect_body: 'ready', settle: '200ms', ...params },
      reason: 'test',
    };
    return client.workflow.start('restartService', {
      taskQueue: worker.queues[2]!,
      workflowId: unique('restart'),
      args: [input],
    });
  }

  it('restarts the unit once and succeeds when the service is healthy again', async () => {
    const handle = await start(1, {});
    await expect(handle.result()).resolves.toMatchObject({ unit: 'nginx.service', attempts: 1 });
    expect(service.restarts).toBe(1);
    const progress = await handle.query<Progress>('progress');
    expect(progress).toMatchObject({ status: 'succeeded', step: 'verify', steps: ['check', 'restart', 'settle', 'verify'] });
    expect(hooks.requests).toHaveLength(0);
    await recordHistory('restartService-success', handle);
  });

  it('restarts again when the first restart does not make it healthy', async () => {
    const handle = await start(2, { attempts: '3' });
    await expect(handle.result()).resolves.toMatchObject({ attempts: 2 });
    expect(service.restarts).toBe(2);
    const progress = await handle.query<Progress>('progress');
    expect(progress.history.some((e) => e.detail?.includes('still unhealthy: ') && e.detail.includes('status 503'))).toBe(true);
    await recordHistory('restartService-retry', handle);
  });

  it('escalates (notifies, then fails) when still unhealthy after the allowed restarts', async () => {
    const handle = await start(99, { attempts: '2' });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('Escalated');
    expect(cause.message).toContain('nginx on');
    expect(cause.message).toContain('after 2 restarts');
    expect(service.restarts).toBe(2);
    const [notice] = hooks.posted('/notify');
    expect(notice).toMatchObject({ event: 'notify', severity: 'critical', node: worker!.node, workflow_id: handle.workflowId });
    expect(notice!.message).toContain('status 503');
    expect((await handle.query<Progress>('progress')).status).toBe('escalated');
    await recordHistory('restartService-escalation', handle);
  });

  it('stops when cancelled while waiting for the service to settle', async () => {
    const handle = await start(1, { settle: '10m' });
    await eventually(
      async () => ((await handle.query<Progress>('progress')).step === 'settle' ? true : undefined),
      15_000,
      'the settle step',
    );
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(service.restarts).toBe(1);
    await recordHistory('restartService-cancelled', handle);
  });

  it('fails at once, naming every problem, when the input is unusable', async () => {
    worker = await startTestWorker();
    const handle = await client.workflow.start('restartService', {
      taskQueue: worker.queues[2]!,
      workflowId: unique('restart-bad'),
      args: [{ workflow: 'restartService', target: {}, params: { unit: '-rf /', attempts: 'many', settle: 'soon' } }],
    });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    const cause = err.cause as ApplicationFailure;
    // Unusable input is no remediation: the catch-all ends it "failed and escalated", naming every problem.
    expect(cause.type).toBe('FailedAndEscalated');
    expect(cause.message).toContain('invalid input: ');
    expect(cause.message).toContain('params.unit');
    expect(cause.message).toContain('params.attempts');
    expect(cause.message).toContain('params.settle');
  });
});
