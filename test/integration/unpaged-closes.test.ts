// Every unhealed end pages, once: a run that reaches its timeout escalates itself; runs that are
// terminated, cancelled, failed before their catch-all, or whose only worker was SIGKILLed are
// paged by the close watcher, with the run's own dedup_key, once each, across two coordinators,
// a coordinator that stops and continue-as-new. Real dev server (a namespace of this file's own,
// so no other file's watcher or runs mix in), in-process coordinators and worker, a real
// `medic worker` process, a capture server as the JSON escalation sink.
import * as path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { SEARCH_ATTRIBUTES, startSearchAttributes } from '../../src/naming/search-attributes';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import { CLOSE_WATCHER_ID } from '../../src/watcher/start';
import type { WatcherState } from '../../src/watcher/state';
import { createWatcherActivities, UNPAGED_CLOSES_METRIC } from '../../src/watcher/activities';
import type { WorkflowInput } from '../../workflows/shared/input';
import { testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { spawnMedic, writeWorkerConfig } from '../helpers/medic-process';
import type { TestWorker } from '../helpers/medic-worker';
import { startPaging, type JsonPage, type Paging } from '../helpers/paging';
import { testNamespace, type TestNamespace } from '../helpers/namespace';
import { activityRunning } from '../helpers/lean-worker';
import { eventually, temporalAddress, unique, workflowBundle } from '../helpers/temporal';

const SECRET = 'hunter2-secret-value';
const HANG = { name: 'hang', kind: 'command' as const, command: '/usr/bin/sleep', args: ['300'] };
// A short poll and a frequent continue-as-new, so the tests see both many times.
const WATCHER = { options: { pollMs: 500, overlapMs: 30_000, maxHistoryEvents: 60 } };

describe('every unhealed end pages, once', () => {
  let ns: TestNamespace;
  let client: Client;
  let paging: Paging;
  let worker: TestWorker;
  let dir: string;
  const coordinators: TestCoordinator[] = [];

  const workflows = [
    workflowConfig('hangs', {
      workflowType: 'runbook',
      steps: [HANG],
      params: { token: SECRET },
      paramSchema: { token: { type: 'string', settable: false, secret: true, list: false, default: SECRET } },
    }),
    workflowConfig('timesOut', {
      workflowType: 'runbook',
      steps: [HANG],
      timeoutMs: 8_000,
      diagnose: [{ name: 'where', kind: 'command', command: '/usr/bin/printf', args: ['on %s', '{{node}}'] }],
    }),
  ];
  const coordinator = async (): Promise<TestCoordinator> => {
    const c = await testCoordinator(workflows, {
      config: { temporal: { address: temporalAddress(), namespace: ns.namespace } },
      deps: { closeWatcher: WATCHER },
    });
    coordinators.push(c);
    return c;
  };
  const pages = (runId?: string): JsonPage[] => paging.pages(runId);
  const pageOf = (runId: string): Promise<JsonPage> =>
    eventually(async () => pages(runId)[0], 60_000, `a page about run ${runId}`);
  const watcher = () => client.workflow.getHandle(CLOSE_WATCHER_ID);

  async function start(c: TestCoordinator, name: string, node: string): Promise<{ workflowId: string; runId: string }> {
    const res = await trigger(c.app, name, { target: { node, datacenter: worker.datacenter }, reason: 'test' });
    expect(res.statusCode).toBe(202);
    const { workflow_id: workflowId, run_id: runId } = res.json<{ workflow_id: string; run_id: string }>();
    return { workflowId, runId };
  }
  const hanging = (workflowId: string) => activityRunning(client.workflow.getHandle(workflowId));

  beforeAll(async () => {
    ns = await testNamespace('pages');
    client = ns.client;
    paging = await startPaging('pages', ['/usr/bin/sleep'], ns.namespace);
    ({ worker, dir } = paging);
    await coordinator();
  }, 90_000);
  afterAll(async () => {
    await paging?.close();
    for (const c of coordinators) await c.close();
    await watcher()
      .terminate('test done')
      .catch(() => undefined);
    await ns?.close();
  });

  it('a run that reaches its timeout escalates by itself before the backstop, pages once, and the watcher adds no page', async () => {
    const node = unique('gone'); // no worker polls its queue: the step never starts
    const { workflowId, runId } = await start(coordinators[0]!, 'timesOut', node);
    const handle = client.workflow.getHandle(workflowId);
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('Escalated');
    const d = await handle.describe();
    expect(d.status.name).toBe('FAILED');
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome)).toBe('escalated');
    // The run ended by its configured timeout (FAILED as escalated, above), not by Temporal's
    // backstop: that one is set 5 minutes later and would have closed it TIMED_OUT, unpaged.
    const backstopMs = Number(d.raw.executionConfig!.workflowExecutionTimeout!.seconds) * 1000;
    expect(backstopMs).toBe(8_000 + 5 * 60_000);
    expect(d.closeTime!.getTime() - d.startTime.getTime()).toBeLessThan(backstopMs);
    const page = await pageOf(runId);
    expect(page).toMatchObject({
      dedup_key: `medic/timesOut/${node}`,
      outcome: 'escalated',
      summary: 'timesOut: did not finish within its timeout of 8s (stopped at step "hang")',
      workflow_id: workflowId,
      // The coordinator passed the config's diagnose steps on; the node is gone, so they could not run.
      diagnostics: [
        { name: 'where', output: expect.stringMatching(/^not run: activity ScheduleToStart timeout$/), truncated: false },
      ],
    });

    // A run terminated afterwards is paged by the watcher: by then it has listed past the escalated one.
    const later = await start(coordinators[0]!, 'hangs', worker.node);
    await hanging(later.workflowId);
    await client.workflow.getHandle(later.workflowId).terminate('sentinel');
    await pageOf(later.runId);
    expect(pages(runId)).toHaveLength(1);
  });

  it('a terminated run is paged once, within 60 s of its close, with the dedup_key its own escalation would have', async () => {
    const { workflowId, runId } = await start(coordinators[0]!, 'hangs', worker.node);
    await hanging(workflowId);
    const handle = client.workflow.getHandle(workflowId);
    await handle.terminate(`operator gave up on ${SECRET}`);
    const page = await pageOf(runId);
    const closed = (await handle.describe()).closeTime!.getTime();
    expect(Date.now() - closed).toBeLessThan(60_000);
    expect(page).toMatchObject({
      event_action: 'trigger',
      dedup_key: `medic/hangs/${worker.node}`,
      outcome: 'terminated',
      workflow: 'hangs',
      workflow_id: workflowId,
      target: { node: worker.node, datacenter: worker.datacenter },
    });
    // The reason quoted the run's secret param: the page carries the mask.
    expect(page.summary).toMatch(
      /^hangs on .+ ended without healing and without a page: terminated by .+: operator gave up on \*{8}$/,
    );
    expect(JSON.stringify(paging.sink.requests.map((r) => r.body))).not.toContain(SECRET);
    expect(page.tried).toEqual(['runCommand: unfinished', expect.stringMatching(/^closed TERMINATED at /)]);
  });

  it('a cancelled run is paged once', async () => {
    const { workflowId, runId } = await start(coordinators[0]!, 'hangs', worker.node);
    await hanging(workflowId);
    const handle = client.workflow.getHandle(workflowId);
    await handle.cancel();
    const page = await pageOf(runId);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect(page).toMatchObject({ dedup_key: `medic/hangs/${worker.node}`, outcome: 'cancelled' });
    expect(page.summary).toMatch(/: cancelled by /);
  });

  it('a run that failed before its catch-all (its input refused by the worker) is paged once', async () => {
    const workflowId = unique('failed');
    const input: WorkflowInput = {
      workflow: 'hangs',
      target: { node: worker.node, datacenter: worker.datacenter },
      // The worker's re-check refuses a value the schema forbids, before any workflow code runs.
      params: { mode: 'nope' },
      paramSchema: { mode: { type: 'enum', settable: false, secret: false, list: false, values: ['a', 'b'] } },
      steps: [HANG],
      activityQueue: nodeQueue(worker.node),
    };
    const handle = await client.workflow.start('runbook', {
      taskQueue: generalQueue(worker.datacenter),
      workflowId,
      args: [input],
      typedSearchAttributes: startSearchAttributes({ workflow: 'hangs', node: worker.node, datacenter: worker.datacenter }),
    });
    const page = await pageOf(handle.firstExecutionRunId);
    expect((await handle.describe()).status.name).toBe('FAILED');
    expect(page).toMatchObject({ dedup_key: `medic/hangs/${worker.node}`, outcome: 'failed' });
    expect(page.summary).toMatch(/failed before its catch-all could page: invalid input: params\.mode/);
  });

  it('a run whose only general worker was SIGKILLed is paged once its execution timeout closes it and a worker is back', async () => {
    const dc = unique('dc');
    const node = unique('node');
    const configDir = writeWorkerConfig(
      path.join(dir, 'killed'),
      [`datacenter = "${dc}"`, 'node_type = "generic"', `node = "${node}"`, 'allowed_commands = ["/usr/bin/sleep"]'].join('\n'),
      `temporal {\n  address = "${temporalAddress()}"\n  namespace = "${ns.namespace}"\n}\n`,
    );
    const argv = [
      'worker',
      '--config',
      configDir,
      '--workflow-bundle',
      workflowBundle().codePath,
      '--escalation-url',
      `${paging.sink.url}/pages`,
    ];
    const first = spawnMedic(argv);
    await first.waitFor(/msg="polling"/, 60_000);
    const workflowId = unique('killed');
    const input: WorkflowInput = {
      workflow: 'hangs',
      target: { node, datacenter: dc },
      params: {},
      steps: [HANG],
      activityQueue: nodeQueue(node),
      timeoutMs: 6_000,
    };
    // As the coordinator starts it, with a short backstop: Temporal closes it after 10 s.
    const handle = await client.workflow.start('runbook', {
      taskQueue: generalQueue(dc),
      workflowId,
      args: [input],
      workflowExecutionTimeout: '10s',
      typedSearchAttributes: startSearchAttributes({ workflow: 'hangs', node, datacenter: dc }),
    });
    await hanging(workflowId);
    await first.kill();
    await eventually(async () => ((await handle.describe()).status.name === 'TIMED_OUT' ? true : undefined), 30_000, 'TIMED_OUT');
    // The page waits on the datacenter's queue until a worker is back there (systemd restarts it).
    const second = spawnMedic(argv);
    const page = await pageOf(handle.firstExecutionRunId);
    expect(page).toMatchObject({ dedup_key: `medic/hangs/${node}`, outcome: 'timed_out' });
    expect(page.summary).toMatch(/killed by its execution timeout before it could page/);
    await second.stop();
    expect(pages(handle.firstExecutionRunId)).toHaveLength(1);
  }, 120_000);

  it('with two coordinators one watcher runs; across a coordinator that stops and continue-as-new, each close is paged exactly once', async () => {
    const b = await coordinator();
    const running = await eventually(
      async () => {
        const found: string[] = [];
        for await (const e of client.workflow.list({
          query: `WorkflowType = 'medicCloseWatcher' AND ExecutionStatus = 'Running'`,
        }))
          found.push(e.workflowId);
        return found.length ? found : undefined;
      },
      15_000,
      'the running watcher',
    );
    expect(running).toEqual([CLOSE_WATCHER_ID]);
    const firstRun = (await watcher().describe()).runId;

    const terminateSome = async (c: TestCoordinator, n: number): Promise<string[]> => {
      const runs = await Promise.all(Array.from({ length: n }, () => start(c, 'hangs', worker.node)));
      for (const r of runs) await hanging(r.workflowId);
      await Promise.all(runs.map((r) => client.workflow.getHandle(r.workflowId).terminate('round done')));
      return runs.map((r) => r.runId);
    };
    const before = await terminateSome(b, 3);
    // The first coordinator stops: its ledger worker goes, the other one runs the watcher on.
    await coordinators[0]!.close();
    coordinators.splice(0, 1);
    const after = await terminateSome(b, 3);
    const c = await coordinator();
    const last = await terminateSome(c, 2);
    const all = [...before, ...after, ...last];
    for (const runId of all) await pageOf(runId);
    // Two new runs of the watcher later (several polls, each listing the closes again), still one page per run.
    for (let i = 0; i < 2; i++) {
      const now = (await watcher().describe()).runId;
      await eventually(async () => ((await watcher().describe()).runId !== now ? true : undefined), 60_000, 'continue-as-new');
    }
    expect((await watcher().describe()).runId).not.toBe(firstRun);
    const state = await watcher().query<WatcherState>('watcherState');
    expect(state.failed).toBe(0);
    for (const runId of all) expect(pages(runId)).toHaveLength(1);
    const running2: string[] = [];
    for await (const e of client.workflow.list({ query: `WorkflowType = 'medicCloseWatcher' AND ExecutionStatus = 'Running'` }))
      running2.push(e.workflowId);
    expect(running2).toEqual([CLOSE_WATCHER_ID]);
  }, 180_000);

  it('counts each catch in medic_unpaged_closes_total on the coordinator /metrics', async () => {
    const read = async (): Promise<number> => {
      const text = (await coordinators[0]!.app.inject({ method: 'GET', url: '/metrics' })).body;
      const line = text.split('\n').find((l) => l.startsWith(`${UNPAGED_CLOSES_METRIC}{status="terminated"}`));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const { workflowId, runId } = await start(coordinators[0]!, 'hangs', worker.node);
    await hanging(workflowId);
    const handle = client.workflow.getHandle(workflowId);
    await handle.terminate('counted');
    const d = await handle.describe();
    // The watcher caught it (in this process: every coordinator of this namespace is here).
    await pageOf(runId);
    const before = await read();
    expect(before).toBeGreaterThanOrEqual(1);
    // The activity as the watcher calls it, once more: the counter moves by one.
    const req = await createWatcherActivities(() => client).describeUnpagedClose({
      workflowId,
      runId,
      taskQueue: d.taskQueue,
      status: 'TERMINATED',
      closeTimeMs: d.closeTime!.getTime(),
    });
    expect(req.dedupKey).toBe(`medic/hangs/${worker.node}`);
    expect(await read()).toBe(before + 1);
  });
});
