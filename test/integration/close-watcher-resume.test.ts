// The close watcher's pages carry diagnostics (patch medic-watcher-diagnose-v1), and a watcher
// started after the last one was terminated resumes from the watermark that one left in its memo
// (medic-watcher-resume-v1): what closed while none ran is paged, once. Real dev server (a
// namespace of this file's own), in-process coordinators and a real medic worker running real
// commands, a capture server as the JSON escalation sink.
import type { Client } from '@temporalio/client';
import { startSearchAttributes } from '../../src/naming/search-attributes';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import { WATCHER_MEMO, type WatcherState } from '../../src/watcher/state';
import type { RunbookStep, WorkflowInput } from '../../workflows/shared/input';
import { testCoordinator, type TestCoordinator } from '../helpers/coordinator';
import { startPaging, type JsonPage, type Paging } from '../helpers/paging';
import type { TestWorker } from '../helpers/medic-worker';
import { testNamespace, type TestNamespace } from '../helpers/namespace';
import { activityRunning } from '../helpers/lean-worker';
import { eventually, temporalAddress, unique } from '../helpers/temporal';

const SECRET = 'resume-secret-31337';
const HANG: RunbookStep = { name: 'hang', kind: 'command', command: '/usr/bin/sleep', args: ['300'] };

describe('the close watcher: diagnostics in its pages, and a restart that resumes', () => {
  let ns: TestNamespace;
  let client: Client;
  let paging: Paging;
  let worker: TestWorker;
  const coordinators: TestCoordinator[] = [];
  const watcherId = unique('watcher');
  // No look-back and a short overlap: without its resume point, a new watcher would miss what closed before it.
  const settings = { workflowId: watcherId, options: { pollMs: 500, overlapMs: 500, lookbackMs: 0, diagnoseWithinMs: 3_000 } };

  const coordinator = async (): Promise<TestCoordinator> => {
    const c = await testCoordinator([], {
      config: { temporal: { address: temporalAddress(), namespace: ns.namespace } },
      deps: { closeWatcher: settings },
    });
    coordinators.push(c);
    return c;
  };
  const pages = (runId: string): JsonPage[] => paging.pages(runId);
  const pageOf = (runId: string): Promise<JsonPage> =>
    eventually(async () => pages(runId)[0], 60_000, `a page about run ${runId}`);

  /** A run as the coordinator starts it (diagnose steps, a secret param), on `node`; resolves once its step runs or waits. */
  async function hangingRun(node: string): Promise<{ workflowId: string; runId: string }> {
    const input: WorkflowInput = {
      workflow: 'hangs',
      target: { node, datacenter: worker.datacenter },
      params: { token: SECRET },
      paramSchema: { token: { type: 'string', settable: false, secret: true, list: false } },
      steps: [HANG],
      activityQueue: nodeQueue(node),
      diagnose: [
        { name: 'where', kind: 'command', command: '/usr/bin/printf', args: ['on %s\\n', '{{node}}'] },
        { name: 'token', kind: 'command', command: '/usr/bin/printf', args: ['token=%s\\n', '{{params.token}}'] },
      ],
    };
    const handle = await client.workflow.start('runbook', {
      taskQueue: generalQueue(worker.datacenter),
      workflowId: unique('hangs'),
      args: [input],
      typedSearchAttributes: startSearchAttributes({ workflow: 'hangs', node, datacenter: worker.datacenter }),
    });
    if (node === worker.node) await activityRunning(handle);
    return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
  }
  const terminate = (workflowId: string, why: string) => client.workflow.getHandle(workflowId).terminate(why);

  beforeAll(async () => {
    ns = await testNamespace('resume');
    client = ns.client;
    paging = await startPaging('resume', ['/usr/bin/sleep', '/usr/bin/printf'], ns.namespace);
    worker = paging.worker;
    await coordinator();
    // The watcher looks back nothing: it must have started (its watermark set) before the first close.
    await eventually(
      () =>
        client.workflow
          .getHandle(watcherId)
          .query<WatcherState>('watcherState')
          .catch(() => undefined),
      30_000,
      'the watcher to run',
    );
  }, 90_000);
  afterAll(async () => {
    await paging?.close();
    for (const c of coordinators) await c.close();
    await client.workflow
      .getHandle(watcherId)
      .terminate('test done')
      .catch(() => undefined);
    await ns?.close();
  });

  it("a watcher's page carries what the run's diagnose steps see on its node, secrets masked; a dead node's says why there are none", async () => {
    const alive = await hangingRun(worker.node);
    await terminate(alive.workflowId, 'operator');
    expect((await pageOf(alive.runId)).diagnostics).toEqual([
      { name: 'where', output: `on ${worker.node}\n(exit 0)`, truncated: false },
      { name: 'token', output: 'token=********\n(exit 0)', truncated: false },
    ]);

    const dead = await hangingRun(unique('gone'));
    await terminate(dead.workflowId, 'operator');
    expect((await pageOf(dead.runId)).diagnostics).toEqual([
      { name: 'where', output: 'diagnostics unavailable: activity ScheduleToStart timeout', truncated: false },
      { name: 'token', output: 'diagnostics unavailable: activity ScheduleToStart timeout', truncated: false },
    ]);
    expect(JSON.stringify(paging.sink.requests.map((r) => r.body))).not.toContain(SECRET);
  }, 90_000);

  it('a watcher started after the last one was terminated pages what closed while none ran, once, and nothing it paged before', async () => {
    const before = await hangingRun(worker.node);
    await terminate(before.workflowId, 'before');
    await pageOf(before.runId);
    // The watcher keeps its resume point in its memo.
    const first = client.workflow.getHandle(watcherId);
    await eventually(
      async () => {
        const raw = (await first.describe()).memo?.[WATCHER_MEMO];
        return typeof raw === 'string' && before.runId in (JSON.parse(raw) as { handled: object }).handled ? true : undefined;
      },
      15_000,
      'the resume point to list the paged run',
    );

    // No coordinator and no watcher: a run closes meanwhile.
    for (const c of coordinators.splice(0)) await c.close();
    await first.terminate('watcher gone');
    const during = await hangingRun(worker.node);
    await terminate(during.workflowId, 'while nobody watched');
    const closed = (await client.workflow.getHandle(during.workflowId).describe()).closeTime!.getTime();
    // Beyond the new watcher's look-back and overlap: only the resume point covers it.
    await eventually(
      async () => (Date.now() > closed + 2_000 ? true : undefined),
      10_000,
      'the close to be older than the overlap',
    );

    await coordinator();
    const page = await pageOf(during.runId);
    expect(page.outcome).toBe('terminated');
    // A close after the restart is paged too: the new watcher has polled past both.
    const after = await hangingRun(worker.node);
    await terminate(after.workflowId, 'after');
    await pageOf(after.runId);
    expect([before, during, after].map((r) => pages(r.runId).length)).toEqual([1, 1, 1]);
    const state = await client.workflow.getHandle(watcherId).query<WatcherState>('watcherState');
    expect([state.caught, state.paged, state.failed]).toEqual([2, 2, 0]);
  }, 120_000);
});
