// A run enforces its own timeout (patch medic-own-timeout-v1): the body is cancelled before the
// end, its cleanup runs, and the run escalates with one page; a run that ends in time or is
// cancelled by a person is unchanged. Real dev server, real medic worker, capture servers for
// the hooks and the JSON escalation sink. Its histories are recorded for the replay test.
import {
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Hook } from '../../src/config/worker';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import type { RunbookStep, WorkflowInput } from '../../workflows/shared/input';
import type { Progress } from '../../workflows/progress';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { recordHistory } from '../helpers/histories';
import { activityRunning } from '../helpers/lean-worker';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { connectClient, unique } from '../helpers/temporal';

describe('a run enforces its own timeout', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let server: CaptureServer;
  let worker: TestWorker;

  const webhook = (event: string): Hook => ({ kind: 'webhook', url: `${server.url}/${event}`, headers: {}, timeoutMs: 5000 });
  const triggers = () => server.posted<Record<string, unknown>>('/pages').filter((p) => p.event_action === 'trigger');

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    server = await startCaptureServer(() => ({ status: 202, body: { status: 'success' } }));
    worker = await startTestWorker({
      settings: {
        allowedCommands: ['/usr/bin/true', '/usr/bin/sleep'],
        hooks: { drain: webhook('drain'), undrain: webhook('undrain'), notify: webhook('notify') },
        escalation: { url: `${server.url}/pages`, format: 'json', headers: {}, timeoutMs: 5000 },
      },
    });
  });
  beforeEach(() => {
    server.requests.length = 0;
  });
  afterAll(async () => {
    await worker?.stop();
    await Promise.all([server?.close(), closeClient()]);
  });

  function start(
    type: string,
    input: Partial<WorkflowInput>,
    executionTimeout?: '5m',
  ): Promise<WorkflowHandleWithFirstExecutionRunId> {
    return client.workflow.start(type, {
      taskQueue: generalQueue(worker.datacenter),
      workflowId: unique('own-timeout'),
      args: [{ workflow: 'hangs', target: { node: worker.node, datacenter: worker.datacenter }, params: {}, ...input }],
      ...(executionTimeout && { workflowExecutionTimeout: executionTimeout }),
    });
  }
  async function failure(handle: WorkflowHandle): Promise<unknown> {
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    return (err as WorkflowFailedError).cause;
  }
  const hang: RunbookStep = { name: 'hang', kind: 'command', command: '/usr/bin/sleep', args: ['300'] };

  it('a step that no worker takes is cancelled a reserve before the timeout, and the run escalates with one page', async () => {
    const gone = unique('gone');
    const handle = await start(
      'runbook',
      { target: { node: gone, datacenter: worker.datacenter }, steps: [hang], activityQueue: nodeQueue(gone), timeoutMs: 4_000 },
      '5m',
    );
    const cause = await failure(handle);
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('Escalated');
    const d = await handle.describe();
    // Cancelled at 3 s (4 s less a quarter kept for the page), then paged and done (how long the
    // page takes depends on the machine): closed FAILED as escalated, before Temporal's backstop.
    expect(d.closeTime!.getTime() - d.startTime.getTime()).toBeGreaterThanOrEqual(3_000);
    expect(d.status.name).toBe('FAILED');
    expect(d.closeTime!.getTime() - d.startTime.getTime()).toBeLessThan(
      Number(d.raw.executionConfig!.workflowExecutionTimeout!.seconds) * 1000,
    );
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome)).toBe('escalated');
    expect(triggers()).toEqual([
      {
        event_action: 'trigger',
        dedup_key: `medic/hangs/${gone}`,
        summary: 'hangs: did not finish within its timeout of 4s (stopped at step "hang")',
        outcome: 'escalated',
        workflow: 'hangs',
        workflow_id: handle.workflowId,
        run_id: handle.firstExecutionRunId,
        target: { node: gone, datacenter: worker.datacenter },
        tried: [
          'hang: command',
          'hang: cancelled during step hang',
          'escalate: hangs: did not finish within its timeout of 4s (stopped at step "hang")',
        ],
      },
    ]);
    expect((await handle.query<Progress>('progress')).status).toBe('escalated');
    await recordHistory('runbook-own-timeout', handle);
  });

  it('rebootNode reaching its timeout while the node is drained undrains it, then escalates', async () => {
    const handle = await start(
      'rebootNode',
      { workflow: 'rebootNode', params: { settle: '60s', probe_every: '500ms' }, reason: 'test', timeoutMs: 8_000 },
      '5m',
    );
    const cause = await failure(handle);
    expect((cause as ApplicationFailure).type).toBe('Escalated');
    expect((cause as ApplicationFailure).message).toBe(
      'rebootNode: did not finish within its timeout of 8s (stopped at step "settle") [escalated: notified]',
    );
    expect(server.requests.map((r) => r.path)).toEqual(['/drain', '/undrain', '/notify', '/pages']);
    expect(triggers()).toHaveLength(1);
    await recordHistory('rebootNode-own-timeout', handle);
  });

  it('a run that ends in time cancels its deadline timer and pages no one', async () => {
    const ok: RunbookStep = { name: 'ok', kind: 'command', command: '/usr/bin/true', args: [] };
    const handle = await start('runbook', { steps: [ok], activityQueue: nodeQueue(worker.node), timeoutMs: 60_000 });
    await expect(handle.result()).resolves.toMatchObject({ outcome: 'healed' });
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.timerCanceledEventAttributes)).toHaveLength(1);
    expect(triggers()).toEqual([]);
    await recordHistory('runbook-own-timeout-healed', handle);
  });

  it('a run a person cancels before its deadline ends cancelled, as before, without a page of its own', async () => {
    const handle = await start('runbook', { steps: [hang], activityQueue: nodeQueue(worker.node), timeoutMs: 60_000 });
    await activityRunning(handle);
    await handle.cancel();
    expect(await failure(handle)).toBeInstanceOf(CancelledFailure);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(triggers()).toEqual([]);
    await recordHistory('runbook-cancelled-before-deadline', handle);
  });
});
