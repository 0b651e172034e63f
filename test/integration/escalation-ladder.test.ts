// Escalation ladders (patch medic-ladder-v1): a run that ends escalated asks for its config's
// `on_unhealed` workflow through the same admission as a trigger, exactly once, linked by
// MedicLadder and the memo; only the last step pages, listing the whole ladder. Real dev server,
// in-process coordinators (their ledger workers serve the ladder activity), a real medic worker
// running real commands, a capture server as the JSON escalation sink.
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { SEARCH_ATTRIBUTES, startSearchAttributes } from '../../src/naming/search-attributes';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import { emptyFleetSafety } from '../../src/config/fleet-safety';
import { readWorkflow, type WorkflowConfig } from '../../src/config/workflow';
import { createLadderActivities, LADDER_IDENTITY } from '../../src/coordinator/ladder';
import { fleetStateQuery } from '../../src/ledger/messages';
import { LADDER_MEMO, type ClimbRequest, type LadderStep, type OnUnhealed } from '../../workflows/shared/ladder';
import type { RunbookStep, WorkflowInput } from '../../workflows/shared/input';
import { recordHistory } from '../helpers/histories';
import { decode } from '../helpers/hcl';
import {
  ADMIN,
  coordinatorConfig,
  coordinatorTestFile,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import type { TestWorker } from '../helpers/medic-worker';
import { startPaging, type JsonPage, type Paging } from '../helpers/paging';
import { testNamespace, type TestNamespace } from '../helpers/namespace';
import { eventually, settledCount, unique } from '../helpers/temporal';

const FAILS: RunbookStep = { name: 'fix', kind: 'command', command: '/usr/bin/false', args: [] };
const HEALS: RunbookStep = { name: 'fix', kind: 'command', command: '/usr/bin/true', args: [] };
const HANGS: RunbookStep = { name: 'hang', kind: 'command', command: '/usr/bin/sleep', args: ['300'] };

const file = coordinatorTestFile();

// Its own namespace: every coordinator polls the namespace's ladder queue, so another test file's
// coordinators (which know none of these workflows) would otherwise take some of these climbs.
describe('escalation ladders', () => {
  let ns: TestNamespace;
  let paging: Paging;
  let worker: TestWorker;
  const started: string[] = [];
  // Names of this file's own: visibility counts of one test never see another's runs.
  const names = {
    restart: unique('restart'),
    reboot: unique('reboot'),
    restart2: unique('restart'),
    rebootHeals: unique('reboot'),
    loop: unique('loop'),
    restart3: unique('restart'),
    verify: unique('verify'),
    restart4: unique('restart'),
    rebootAsk: unique('reboot'),
    verify2: unique('verify'),
    step1: unique('step1'),
    step2: unique('step2'),
    step3: unique('step3'),
    step4: unique('step4'),
  };
  const runbook = (name: string, steps: RunbookStep[], over: Partial<WorkflowConfig> = {}): WorkflowConfig =>
    workflowConfig(name, { workflowType: 'runbook', steps, ...over });
  const climbTo = (start: string, maxDepth = 3) => ({ onUnhealed: { start, params: {}, maxDepth } });
  const workflows: WorkflowConfig[] = [
    runbook(names.restart, [FAILS], climbTo(names.reboot)),
    runbook(names.reboot, [HANGS], { disruptive: true }),
    runbook(names.restart2, [FAILS], climbTo(names.rebootHeals)),
    runbook(names.rebootHeals, [HEALS], { disruptive: true }),
    runbook(names.loop, [FAILS], climbTo(names.loop, 2)),
    runbook(names.restart3, [FAILS], climbTo(names.verify)),
    runbook(names.verify, [HEALS]),
    // A step that waits for a human: approved, it is the episode's second step of two.
    runbook(names.restart4, [FAILS], climbTo(names.rebootAsk, 2)),
    runbook(names.rebootAsk, [FAILS], {
      ...climbTo(names.verify2),
      approval: { when: 'always', approvers: [ADMIN], timeoutMs: 600_000 },
    }),
    runbook(names.verify2, [HEALS]),
  ];
  /** `on_unhealed { start = "<start>" }` read from HCL as a file would be: no max_depth, so its default. */
  const climbByDefault = async (start: string): Promise<OnUnhealed> => {
    const read = await decode(`workflow = "ping"\ntask_queue_target = "node"\non_unhealed {\n  start = "${start}"\n}\n`, (d) =>
      readWorkflow('step', d),
    );
    expect(read.errors).toEqual([]);
    return read.value.onUnhealed!;
  };
  // A fleet budget of one disruptive run per datacenter: a reboot elsewhere in it refuses ours.
  const fleet = { ...emptyFleetSafety(), budgets: [{ name: 'dc', per: 'datacenter' as const, max: 1 }] };
  // A fleet ledger of this file's own, whose sweep ends a closed run's hold within seconds.
  const fleetLedgerId = unique('fleet-ledger');
  const coordinator = async (): Promise<TestCoordinator> => {
    const c = await testCoordinator(workflows, {
      config: { fleet, temporal: { ...coordinatorConfig().temporal, namespace: ns.namespace } },
      deps: { fleetLedgerId, ledgerOrphanGraceMs: 10_000 },
    });
    file.coordinators.push(c);
    return c;
  };

  const pages = (): JsonPage[] => paging.pages();
  const client = (): Client => ns.client;

  /** Triggers `name` on the worker's node and waits for the run to end; its ids and failure. */
  async function escalatedRun(c: TestCoordinator, name: string) {
    const res = await trigger(c.app, name, { target: { node: worker.node, datacenter: worker.datacenter }, reason: 'test' });
    expect(res.statusCode).toBe(202);
    const { workflow_id: workflowId, run_id: runId } = res.json<{ workflow_id: string; run_id: string }>();
    started.push(workflowId);
    const handle = client().workflow.getHandle(workflowId);
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
    return { workflowId, runId, handle, failure };
  }
  const memoLadder = async (workflowId: string): Promise<LadderStep[]> =>
    JSON.parse(String((await client().workflow.getHandle(workflowId).describe()).memo?.[LADDER_MEMO])) as LadderStep[];

  beforeAll(async () => {
    // Three steps that fail, each climbing to the next by default; the fourth is never reached.
    workflows.push(
      runbook(names.step1, [FAILS], { onUnhealed: await climbByDefault(names.step2) }),
      runbook(names.step2, [FAILS], { onUnhealed: await climbByDefault(names.step3) }),
      runbook(names.step3, [FAILS], { onUnhealed: await climbByDefault(names.step4) }),
      runbook(names.step4, [HEALS]),
    );
    ns = await testNamespace('ladder');
    paging = await startPaging('ladder', ['/usr/bin/false', '/usr/bin/true', '/usr/bin/sleep'], ns.namespace);
    worker = paging.worker;
    await coordinator();
  }, 90_000);
  beforeEach(() => {
    paging.sink.requests.length = 0;
  });
  afterAll(async () => {
    await Promise.all(
      started.map((id) =>
        ns.client.workflow
          .getHandle(id)
          .terminate('test done')
          .catch(() => undefined),
      ),
    );
    await Promise.all(file.coordinators.splice(0).map((c) => c.close()));
    await paging?.close();
    await ns?.close();
  });

  it('climbs restart → reboot → page when a fleet budget refuses the reboot: 1 restart run, 0 reboot runs, 1 page listing both steps and the refusal', async () => {
    const [c] = file.coordinators;
    // Another node of the datacenter holds the budget: a reboot that waits for its (absent) worker.
    const holder = await trigger(c!.app, names.reboot, {
      target: { node: unique('other'), datacenter: worker.datacenter },
    });
    expect(holder.statusCode).toBe(202);
    const holderId = holder.json<{ workflow_id: string }>().workflow_id;
    started.push(holderId);

    const run = await escalatedRun(c!, names.restart);
    expect(run.failure.type).toBe('Escalated');
    // It paged before it ended: the pages are final now.
    const all = pages();
    expect(all).toHaveLength(1);
    const [page] = all;
    expect(page).toMatchObject({
      dedup_key: `medic/${names.restart}/${worker.node}`,
      outcome: 'escalated',
      workflow: names.restart,
      workflow_id: run.workflowId,
      run_id: run.runId,
    });
    const refusal = `budget "dc" allows 1 concurrent disruptive remediations in datacenter=${worker.datacenter}; 1 running: ${holderId}`;
    expect(page!.summary).toContain(`; ladder: next step ${names.reboot} refused: `);
    expect(page!.ladder).toEqual([
      {
        workflow: names.restart,
        workflowId: run.workflowId,
        runId: run.runId,
        outcome: 'escalated',
        summary: `runbook ${names.restart}: step "fix" failed after 1 attempt: /usr/bin/false: exit 1, expected 0`,
      },
      { workflow: names.reboot, outcome: 'refused', summary: expect.stringContaining(refusal) },
    ]);
    // The refusal was admission's: audited as the ladder's, and nothing started.
    const audited = c!.audit.filter((a) => a.source === 'ladder');
    expect(audited.map((a) => [a.decision, a.identity, a.workflow])).toEqual([['refused', LADDER_IDENTITY, names.reboot]]);
    expect(await settledCount(client(), `MedicWorkflow = '${names.restart}'`)).toBe(1);
    expect(await settledCount(client(), `MedicWorkflow = '${names.reboot}' AND MedicNode = '${worker.node}'`)).toBe(0);
    // Linked: the episode is the first run's id, in MedicLadder and the memo.
    const d = await run.handle.describe();
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.ladder)).toBe(run.workflowId);
    expect(await memoLadder(run.workflowId)).toEqual(page!.ladder);
    await recordHistory('runbook-ladder-refused', run.handle);
    // The budget is free again for the next test once the ledger has ended the holder's hold.
    await client().workflow.getHandle(holderId).terminate('test done');
    await eventually(
      async () =>
        Object.keys((await client().workflow.getHandle(fleetLedgerId).query(fleetStateQuery)).holds).length === 0
          ? true
          : undefined,
      30_000,
      'the holder of the budget to be released',
    );
  });

  it('climbs restart → reboot that heals: 2 runs linked by MedicLadder and the memo, 0 pages', async () => {
    const [c] = file.coordinators;
    const run = await escalatedRun(c!, names.restart2);
    expect(run.failure.type).toBe('Escalated');
    expect(run.failure.message).toMatch(
      new RegExp(`\\[escalated: handed over to ${names.rebootHeals} \\(${names.rebootHeals}:key-`),
    );
    const ladder = await memoLadder(run.workflowId);
    expect(ladder).toEqual([
      expect.objectContaining({ workflow: names.restart2, workflowId: run.workflowId, outcome: 'escalated' }),
      {
        workflow: names.rebootHeals,
        workflowId: expect.any(String),
        runId: expect.any(String),
        outcome: 'started',
        summary: 'asked for by the ladder',
      },
    ]);
    const next = client().workflow.getHandle(ladder[1]!.workflowId!);
    expect(await next.result()).toMatchObject({ outcome: 'healed' });
    const d = await next.describe();
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.ladder)).toBe(run.workflowId);
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.trigger)).toBe(LADDER_IDENTITY);
    // The next run's memo: the steps before it.
    expect(JSON.parse(String(d.memo?.[LADDER_MEMO]))).toEqual([ladder[0]]);
    expect(await settledCount(client(), `MedicLadder = '${run.workflowId}'`)).toBe(2);
    // GET /v1/executions/{id} (medic status) shows the episode and the steps before the run.
    const status = await c!.app.inject({
      method: 'GET',
      url: `/v1/executions/${encodeURIComponent(next.workflowId)}`,
      headers: { 'x-test-identity': ADMIN },
    });
    expect(status.json<{ ladder: unknown }>().ladder).toEqual({ episode: run.workflowId, steps: [ladder[0]] });
    // GET /v1/executions?ladder= (medic list --ladder) lists the episode.
    const listed = await c!.app.inject({
      method: 'GET',
      url: `/v1/executions?ladder=${encodeURIComponent(run.workflowId)}`,
      headers: { 'x-test-identity': ADMIN },
    });
    expect(
      listed
        .json<{ executions: Array<{ workflow_id: string }> }>()
        .executions.map((e) => e.workflow_id)
        .sort(),
    ).toEqual([run.workflowId, next.workflowId].sort());
    expect(pages()).toEqual([]);
    await recordHistory('runbook-ladder-handed', run.handle);
    await recordHistory('runbook-ladder-last-step-healed', next);
  });

  it("climbs three steps with the default max_depth of 3: 3 runs, the 4th not asked, 1 page (the third run's) listing the whole ladder", async () => {
    const [c] = file.coordinators;
    expect(workflows.find((w) => w.name === names.step1)!.onUnhealed!.maxDepth).toBe(3);
    const first = await escalatedRun(c!, names.step1);
    expect(first.failure.message).toMatch(new RegExp(`\\[escalated: handed over to ${names.step2} `));
    const second = client().workflow.getHandle((await memoLadder(first.workflowId))[1]!.workflowId!);
    const secondFailure = await second.result().then(
      () => undefined,
      (e: unknown) => (e as WorkflowFailedError).cause as ApplicationFailure,
    );
    expect(secondFailure!.message).toMatch(new RegExp(`\\[escalated: handed over to ${names.step3} `));
    const secondLadder = await memoLadder(second.workflowId);
    const third = client().workflow.getHandle(secondLadder[2]!.workflowId!);
    const thirdFailure = await third.result().then(
      () => undefined,
      (e: unknown) => (e as WorkflowFailedError).cause as ApplicationFailure,
    );
    expect(thirdFailure!.type).toBe('Escalated');
    const thirdRun = (await third.describe()).runId;
    // Each step ran once, linked to the episode; the fourth was never asked for.
    for (const name of [names.step1, names.step2, names.step3])
      expect(await settledCount(client(), `MedicWorkflow = '${name}' AND MedicLadder = '${first.workflowId}'`)).toBe(1);
    expect(await settledCount(client(), `MedicWorkflow = '${names.step4}'`)).toBe(0);
    // Only the last step paged (it paged before it ended: the pages are final), listing every step.
    const all = pages();
    expect(all).toHaveLength(1);
    const fix = (name: string) => `runbook ${name}: step "fix" failed after 1 attempt: /usr/bin/false: exit 1, expected 0`;
    expect(all[0]).toMatchObject({
      dedup_key: `medic/${names.step3}/${worker.node}`,
      outcome: 'escalated',
      workflow: names.step3,
      workflow_id: third.workflowId,
      run_id: thirdRun,
      summary: `${fix(names.step3)}; ladder: next step ${names.step4} not asked: the ladder's max_depth of 3 steps is reached`,
    });
    expect(all[0]!.ladder).toEqual([
      {
        workflow: names.step1,
        workflowId: first.workflowId,
        runId: first.runId,
        outcome: 'escalated',
        summary: fix(names.step1),
      },
      {
        workflow: names.step2,
        workflowId: second.workflowId,
        runId: (await second.describe()).runId,
        outcome: 'escalated',
        summary: fix(names.step2),
      },
      { workflow: names.step3, workflowId: third.workflowId, runId: thirdRun, outcome: 'escalated', summary: fix(names.step3) },
      { workflow: names.step4, outcome: 'not_asked', summary: "the ladder's max_depth of 3 steps is reached" },
    ]);
  }, 120_000);

  it('honours max_depth: a workflow that climbs to itself runs twice (max_depth = 2), and the second run pages the ladder once', async () => {
    const [c] = file.coordinators;
    const first = await escalatedRun(c!, names.loop);
    const ladder = await memoLadder(first.workflowId);
    const second = client().workflow.getHandle(ladder[1]!.workflowId!);
    const err = await second.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('Escalated');
    expect(await settledCount(client(), `MedicWorkflow = '${names.loop}'`)).toBe(2);
    const all = pages();
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ workflow_id: second.workflowId, dedup_key: `medic/${names.loop}/${worker.node}` });
    expect(all[0]!.ladder!.map((s) => [s.workflow, s.workflowId, s.outcome])).toEqual([
      [names.loop, first.workflowId, 'escalated'],
      [names.loop, second.workflowId, 'escalated'],
      [names.loop, undefined, 'not_asked'],
    ]);
    expect(all[0]!.ladder![2]!.summary).toBe("the ladder's max_depth of 2 steps is reached");
    expect(all[0]!.summary).toContain(
      `; ladder: next step ${names.loop} not asked: the ladder's max_depth of 2 steps is reached`,
    );
  });

  it('a next step that waits for approval keeps its ladder: approved, it starts linked to the first run (MedicLadder, memo) and is step 2 of max_depth 2, so it pages the ladder instead of climbing', async () => {
    const [c] = file.coordinators;
    const run = await escalatedRun(c!, names.restart4);
    expect(run.failure.type).toBe('Escalated');
    // The first run asked, the step waits for a human: the first run pages, saying how to approve.
    const [asked, ...more] = pages();
    expect(more).toEqual([]);
    expect(asked!.ladder!.map((s) => [s.workflow, s.outcome])).toEqual([
      [names.restart4, 'escalated'],
      [names.rebootAsk, 'refused'],
    ]);
    const approvalId = /awaits approval (\S+) until /.exec(asked!.ladder![1]!.summary)![1]!;
    expect(await settledCount(client(), `MedicWorkflow = '${names.rebootAsk}'`)).toBe(0);

    const approved = await c!.app.inject({
      method: 'POST',
      url: `/v1/approvals/${approvalId}`,
      headers: { 'x-test-identity': ADMIN },
      payload: { decision: 'approve', reason: 'reboot it' },
    });
    expect(approved.statusCode).toBe(202);
    const nextId = approved.json<{ workflow_id: string }>().workflow_id;
    started.push(nextId);
    const next = client().workflow.getHandle(nextId);
    const d = await next.describe();
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.ladder)).toBe(run.workflowId);
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.trigger)).toBe(LADDER_IDENTITY);
    expect(JSON.parse(String(d.memo?.[LADDER_MEMO]))).toEqual([asked!.ladder![0]]);

    // Depth counted on: the approved step is step 2 of the episode's 2, so it does not climb to verify.
    const err = await next.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('Escalated');
    const all = pages();
    expect(all).toHaveLength(2);
    expect(all[1]).toMatchObject({ workflow: names.rebootAsk, workflow_id: nextId });
    expect(all[1]!.ladder!.map((s) => [s.workflow, s.workflowId, s.outcome])).toEqual([
      [names.restart4, run.workflowId, 'escalated'],
      [names.rebootAsk, nextId, 'escalated'],
      [names.verify2, undefined, 'not_asked'],
    ]);
    expect(all[1]!.ladder![2]!.summary).toBe("the ladder's max_depth of 2 steps is reached");
    expect(await settledCount(client(), `MedicLadder = '${run.workflowId}'`)).toBe(2);
    expect(await settledCount(client(), `MedicWorkflow = '${names.verify2}'`)).toBe(0);
  });

  it('with two coordinators the next step starts exactly once per escalated run, also when a climb is asked again on the other coordinator', async () => {
    const b = await coordinator();
    const [a] = file.coordinators;
    const runs = await Promise.all([0, 1, 2, 3].map((i) => escalatedRun(i % 2 ? a! : b, names.restart3)));
    for (const run of runs) {
      const ladder = await memoLadder(run.workflowId);
      expect(ladder.map((s) => s.outcome)).toEqual(['escalated', 'started']);
      expect(await client().workflow.getHandle(ladder[1]!.workflowId!).result()).toMatchObject({ outcome: 'healed' });
    }
    expect(await settledCount(client(), `MedicWorkflow = '${names.verify}'`)).toBe(4);
    for (const run of runs) expect(await settledCount(client(), `MedicLadder = '${run.workflowId}'`)).toBe(2);

    // A climb asked again (its reply was lost) on the other coordinator, and one asked on both at once: one start each.
    const [first] = runs;
    const ladder = await memoLadder(first!.workflowId);
    const request = (fromRunId: string, episode: string): ClimbRequest => ({
      workflow: names.verify,
      target: { node: worker.node, datacenter: worker.datacenter },
      params: {},
      ladder: { episode, maxDepth: 3, steps: ladder.slice(0, 1) },
      fromRunId,
      reason: 'asked again',
    });
    const climbOn = (c: TestCoordinator) =>
      createLadderActivities(
        (r) => c.app.admission.admitTrigger(r),
        () => ns.client,
        () => c.live.current.workflows,
      ).climbLadder;
    for (const c of [a!, b]) {
      expect(await climbOn(c)(request(first!.runId, first!.workflowId))).toEqual({
        result: 'started',
        workflowId: ladder[1]!.workflowId,
        runId: ladder[1]!.runId,
      });
    }
    const episode = unique('episode');
    const from = unique('run');
    const both = await Promise.all([a!, b].map((c) => climbOn(c)(request(from, episode))));
    expect(both[0]).toMatchObject({ result: 'started' });
    expect(both[1]).toEqual(both[0]);
    expect(await settledCount(client(), `MedicLadder = '${episode}'`)).toBe(1);
    expect(await settledCount(client(), `MedicWorkflow = '${names.verify}'`)).toBe(5);
    expect(pages()).toEqual([]);
  }, 120_000);
});

describe('an escalation ladder where no coordinator polls the ladder queue (older coordinators only)', () => {
  let ns: TestNamespace;
  let paging: Paging;

  beforeAll(async () => {
    ns = await testNamespace('no-ladder');
    paging = await startPaging('no-ladder', ['/usr/bin/false'], ns.namespace);
  }, 90_000);
  afterAll(async () => {
    await paging?.close();
    await ns?.close();
  });

  it('the run waits 15 s for the ask to be taken, then pages as it would without a ladder, saying why it did not climb', async () => {
    const { worker } = paging;
    const input: WorkflowInput = {
      workflow: 'restart',
      target: { node: worker.node, datacenter: worker.datacenter },
      params: {},
      steps: [FAILS],
      activityQueue: nodeQueue(worker.node),
      onUnhealed: { start: 'reboot', params: {}, maxDepth: 3 },
    };
    const handle = await ns.client.workflow.start('runbook', {
      taskQueue: generalQueue(worker.datacenter),
      workflowId: unique('restart'),
      args: [input],
      typedSearchAttributes: startSearchAttributes({ workflow: 'restart', node: worker.node, datacenter: worker.datacenter }),
    });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(((err as WorkflowFailedError).cause as ApplicationFailure).type).toBe('Escalated');
    const [page, ...more] = paging.pages();
    expect(more).toEqual([]);
    expect(page!.ladder).toEqual([
      expect.objectContaining({ workflow: 'restart', workflowId: handle.workflowId, outcome: 'escalated' }),
      { workflow: 'reboot', outcome: 'not_asked', summary: 'no coordinator answered: activity ScheduleToStart timeout' },
    ]);
    expect(page!.summary).toMatch(
      /; ladder: next step reboot not asked: no coordinator answered: activity ScheduleToStart timeout$/,
    );
  }, 60_000);
});
