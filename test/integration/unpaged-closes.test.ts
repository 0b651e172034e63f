// Every unhealed end pages, once: a run that reaches its timeout escalates itself; runs that are
// terminated, cancelled, failed before their catch-all, whose only worker was SIGKILLed, or whose
// own page was not delivered are paged by the close watcher, with the run's own dedup_key, once
// each, across two coordinators, a coordinator that stops and continue-as-new; a page no worker
// can take yet stays pending until one can. Real dev server (a namespace of this file's own,
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
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { startCaptureServer } from '../helpers/capture-server';
import { metricSample } from '../helpers/metrics-text';
import { recordHistory } from '../helpers/histories';
import { startPaging, type JsonPage, type Paging } from '../helpers/paging';
import { testNamespace, type TestNamespace } from '../helpers/namespace';
import { activityRunning } from '../helpers/lean-worker';
import { eventually, temporalAddress, unique, workflowBundle } from '../helpers/temporal';

const SECRET = 'hunter2-secret-value';
const HANG = { name: 'hang', kind: 'command' as const, command: '/usr/bin/sleep', args: ['300'] };
const FAILS = { name: 'fix', kind: 'command' as const, command: '/usr/bin/false', args: [] };
// A short poll and a frequent continue-as-new, so the tests see both many times; an attempt to
// page waits 3 s for a general worker, then the page is pending and tried again 1 s later.
const WATCHER = { options: { pollMs: 500, overlapMs: 30_000, maxHistoryEvents: 60, pageWithinMs: 3_000, retryMs: 1_000 } };

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
  /** The watcher's state; undefined while a new run has not set up its query handler yet. */
  const watcherState = () =>
    watcher()
      .query<WatcherState>('watcherState')
      .catch(() => undefined);
  /** Waits for the watcher's next run (continue-as-new): every close it knew of has been listed again since. */
  const nextWatcherRun = async (): Promise<void> => {
    const now = (await watcher().describe()).runId;
    await eventually(async () => ((await watcher().describe()).runId !== now ? true : undefined), 60_000, 'continue-as-new');
  };
  /** medic_unpaged_closes_total{status} on the coordinators' /metrics (one counter: they share this process). */
  const unpagedCount = async (status: string): Promise<number> =>
    metricSample((await coordinators.at(-1)!.app.inject({ method: 'GET', url: '/metrics' })).body, UNPAGED_CLOSES_METRIC, {
      status,
    });
  /** A run as the coordinator starts it, on a datacenter's general queue. */
  const startDirect = (input: WorkflowInput, workflowExecutionTimeout?: number) =>
    client.workflow.start('runbook', {
      taskQueue: generalQueue(input.target.datacenter!),
      workflowId: unique(input.workflow),
      args: [input],
      ...(workflowExecutionTimeout && { workflowExecutionTimeout }),
      typedSearchAttributes: startSearchAttributes({
        workflow: input.workflow,
        node: input.target.node,
        datacenter: input.target.datacenter,
      }),
    });

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

  it('counts each catch once in medic_unpaged_closes_total on the coordinator /metrics, however often visibility lists it', async () => {
    const before = await unpagedCount('terminated');
    const { workflowId, runId } = await start(coordinators[0]!, 'hangs', worker.node);
    await hanging(workflowId);
    const handle = client.workflow.getHandle(workflowId);
    await handle.terminate('counted');
    // The catch is counted before its page starts.
    await pageOf(runId);
    expect(await unpagedCount('terminated')).toBe(before + 1);
    // The watcher lists it again in later polls and in its next run: no second count.
    await nextWatcherRun();
    expect(await unpagedCount('terminated')).toBe(before + 1);
    // Preparing the page again (an attempt tried again) counts nothing; only a watcher run from
    // before medic-watcher-retry-v1 counts where it prepares a page.
    const d = await handle.describe();
    const run = { workflowId, runId, taskQueue: d.taskQueue, status: 'TERMINATED' as const, closeTimeMs: d.closeTime!.getTime() };
    const activities = createWatcherActivities(() => client);
    expect((await activities.prepareUnpagedPage(run, { counted: true })).page.dedupKey).toBe(`medic/hangs/${worker.node}`);
    expect(await unpagedCount('terminated')).toBe(before + 1);
    await activities.describeUnpagedClose(run);
    expect(await unpagedCount('terminated')).toBe(before + 2);
  });

  it('a page no general worker can take stays pending across continue-as-new, and is delivered exactly once when a worker for its queue appears', async () => {
    const before = await unpagedCount('terminated');
    const dc = unique('dc');
    const node = unique('node');
    // No worker polls this datacenter's general queue: the run never runs, and its page cannot go out.
    const handle = await startDirect({
      workflow: 'hangs',
      target: { node, datacenter: dc },
      params: {},
      steps: [HANG],
      activityQueue: nodeQueue(node),
    });
    await handle.terminate('nobody ran it');
    const runId = handle.firstExecutionRunId;
    const pending = await eventually(
      async () => {
        const p = (await watcherState())?.pending?.[runId];
        return p && p.attempts >= 2 ? p : undefined;
      },
      60_000,
      'two attempts that found no worker',
    );
    expect(pending.lastError).toBe('activity ScheduleToStart timeout');
    // Carried to the watcher's next run, still pending.
    await nextWatcherRun();
    const carried = await eventually(watcherState, 30_000, "the new run's state");
    expect(carried.pending?.[runId]?.run.workflowId).toBe(handle.workflowId);
    expect(pages(runId)).toEqual([]);

    const late = await startTestWorker({
      namespace: ns.namespace,
      datacenter: dc,
      node,
      settings: { escalation: { url: `${paging.sink.url}/pages`, format: 'json', headers: {}, timeoutMs: 5_000 } },
    });
    try {
      const page = await pageOf(runId);
      expect(page).toMatchObject({ dedup_key: `medic/hangs/${node}`, outcome: 'terminated', workflow_id: handle.workflowId });
      await eventually(
        async () => {
          const state = await watcherState();
          return state && !state.pending?.[runId] ? true : undefined;
        },
        30_000,
        'the page settled',
      );
      await nextWatcherRun();
      expect(pages(runId)).toHaveLength(1);
      // Counted once, whatever the number of attempts.
      expect(await unpagedCount('terminated')).toBe(before + 1);
    } finally {
      await late.stop();
    }
  }, 150_000);

  it('a run whose own page was not delivered (its sink down) records no outcome, and the watcher pages it once, with its dedup_key, when the sink is back', async () => {
    let down = true;
    const accepted: JsonPage[] = [];
    const sink = await startCaptureServer((req) => {
      if (down) return { status: 503, body: 'down' };
      accepted.push(req.json as JsonPage);
      return { status: 202, body: { status: 'success' } };
    });
    const w = await startTestWorker({
      namespace: ns.namespace,
      settings: {
        allowedCommands: ['/usr/bin/false'],
        escalation: { url: `${sink.url}/pages`, format: 'json', headers: {}, timeoutMs: 2_000 },
      },
    });
    try {
      // As the coordinator starts it, with a short backstop: its own page may try until shortly before it.
      const handle = await startDirect(
        {
          workflow: 'fails',
          target: { node: w.node, datacenter: w.datacenter },
          params: {},
          steps: [FAILS],
          activityQueue: nodeQueue(w.node),
          timeoutMs: 10_000,
        },
        15_000,
      );
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(failure.type).toBe('Escalated');
      expect(failure.message).toMatch(/ \[escalated: NOT notified \(/);
      const d = await handle.describe();
      expect(d.status.name).toBe('FAILED');
      expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome)).toBeUndefined();
      // The run did try, with the key the watcher must use too.
      const tried = sink.posted<JsonPage>('/pages');
      expect(new Set(tried.map((p) => `${p.run_id} ${p.dedup_key}`))).toEqual(
        new Set([`${handle.firstExecutionRunId} medic/fails/${w.node}`]),
      );
      expect(accepted).toEqual([]);
      down = false;
      const page = await eventually(async () => accepted[0], 60_000, "the watcher's page");
      expect(page).toMatchObject({
        event_action: 'trigger',
        dedup_key: `medic/fails/${w.node}`,
        outcome: 'escalated',
        workflow: 'fails',
        workflow_id: handle.workflowId,
        run_id: handle.firstExecutionRunId,
      });
      expect(page.summary).toMatch(
        /^fails on .+ ended without healing and without a page: escalated, but its own page was not delivered: runbook fails: step "fix" failed after 1 attempt: .+ \[escalated: NOT notified \(.+\)\]$/,
      );
      await nextWatcherRun();
      expect(accepted).toHaveLength(1);
      await recordHistory('runbook-unpaged-escalation', handle);
    } finally {
      await w.stop();
      await sink.close();
    }
  }, 150_000);
});
