// Issue 11 against the real dev server: the scope is the workflow's routing key, config changes
// (period, lowered value) never open slots next to running executions, a start whose reply is
// lost is resolved by its id (no double run, no leaked slot), a refusal writes nothing, and
// idempotency keys belong to their caller.
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { Constraint, WorkflowConfig } from '../../src/config/workflow';
import { LEASE_WORKFLOW_TYPE } from '../../src/coordinator/leases';
import { ledgerWorkflowId } from '../../src/ledger/client';
import { LiveConfig } from '../../src/coordinator/live-config';
import { TemporalGateway } from '../../src/temporal/gateway';
import {
  ADMIN,
  TRIGGER_DC1,
  constraint,
  coordinatorConfig,
  coordinatorTestFile,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { eventually, settledCount, unique } from '../helpers/temporal';
import { startSearchAttributes } from '../../src/naming/search-attributes';
import { nodeQueue } from '../../src/naming/task-queues';

const MIN = 60_000;
const file = coordinatorTestFile();
const { coordinators, started } = file;

/** A coordinator that refuses on slots alone (no visibility counts, no remembered refusals) unless `visibilityQps` is given. */
async function coordinatorFor(wfs: WorkflowConfig[], temporal?: TemporalGateway, visibilityQps = 0): Promise<TestCoordinator> {
  const c = await testCoordinator(wfs, {
    temporal,
    config: { admission: { visibilityQps } },
    deps: { admission: { startMarginMs: 1_000, refusalCacheMs: 0 } },
  });
  coordinators.push(c);
  return c;
}

/** Swaps the coordinator's workflow configs, as a SIGHUP reload does. */
function reload(c: TestCoordinator, ...wfs: WorkflowConfig[]): void {
  c.live.swap(LiveConfig.build(c.live.current.coordinator, new Map(wfs.map((w) => [w.name, w]))));
}

async function admit(c: TestCoordinator, name: string, target: object, identity?: string): Promise<number> {
  const r = await trigger(c.app, name, { target }, identity ? { identity } : {});
  if (r.statusCode === 202) started.push(r.json().workflow_id);
  return r.statusCode;
}

async function running(name: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of file.client.workflow.list({ query: `MedicWorkflow = '${name}' AND ExecutionStatus = 'Running'` })) {
    ids.push(e.workflowId);
  }
  return ids;
}

describe('scope is the routing key of task_queue_target', () => {
  it('a general workflow refuses target.node (400 naming it) and scopes by datacenter', async () => {
    const name = unique('general');
    const dc = unique('dc');
    const c = await coordinatorFor([
      workflowConfig(name, { taskQueueTarget: 'general', constraints: [constraint('concurrency', 1, 15 * MIN)] }),
    ]);
    expect(await admit(c, name, { datacenter: dc })).toBe(202);
    const res = await trigger(c.app, name, { target: { datacenter: dc, node: 'a' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe(`target.node: not used by general workflow "${name}"`);
    expect(res.json().details.field).toBe('target.node');
    expect(await admit(c, name, { datacenter: dc })).toBe(429);
  });

  it('rebootNode (general, reads target.node) counts nodes of one datacenter together', async () => {
    const name = unique('reboot');
    const dc = unique('dc');
    const c = await coordinatorFor([
      workflowConfig(name, {
        workflowType: 'rebootNode',
        taskQueueTarget: 'general',
        constraints: [constraint('concurrency', 1, 15 * MIN)],
      }),
    ]);
    const codes = await Promise.all(['a', 'b', 'c'].map((node) => admit(c, name, { datacenter: dc, node })));
    expect(codes.sort()).toEqual([202, 429, 429]);
    expect(await admit(c, name, { datacenter: unique('other'), node: 'a' })).toBe(202);
  });
});

describe('config changes never open slots next to running executions', () => {
  it('changing the period of concurrency and maxExecution keeps the running ones counted', async () => {
    const name = unique('period');
    const node = unique('n');
    const wf = (c: Constraint[]): WorkflowConfig => workflowConfig(name, { constraints: c });
    const c = await coordinatorFor([wf([constraint('concurrency', 1, 15 * MIN)])]);
    expect(await admit(c, name, { node })).toBe(202);
    reload(c, wf([constraint('concurrency', 1, 30 * MIN)]));
    expect(await admit(c, name, { node })).toBe(429);

    const name2 = unique('periodMax');
    const c2 = await coordinatorFor([workflowConfig(name2, { constraints: [constraint('maxExecution', 1, 60 * MIN)] })]);
    expect(await admit(c2, name2, { node })).toBe(202);
    reload(c2, workflowConfig(name2, { constraints: [constraint('maxExecution', 1, 120 * MIN)] }));
    expect(await admit(c2, name2, { node })).toBe(429);
  });

  it('raising a maxExecution period keeps the starts of the longer window counted', async () => {
    const name = unique('raisePeriod');
    const node = unique('n');
    const wf = (periodMs: number): WorkflowConfig =>
      workflowConfig(name, { constraints: [constraint('maxExecution', 1, periodMs)] });
    const c = await coordinatorFor([wf(2_000)]);
    const t0 = Date.now();
    expect(await admit(c, name, { node })).toBe(202);
    // Past the 2 s window and its 1 s start margin: under the old period a second start would pass.
    await eventually(async () => (Date.now() - t0 > 3_500 ? true : undefined), 10_000, 'the old window to pass');
    reload(c, wf(60 * MIN));
    expect(await admit(c, name, { node })).toBe(429);
  });

  it('lowering value counts slots above the new value, and kills nothing', async () => {
    const name = unique('lower');
    const node = unique('n');
    const wf = (value: number): WorkflowConfig =>
      workflowConfig(name, { constraints: [constraint('concurrency', value, 15 * MIN)] });
    const c = await coordinatorFor([wf(3)]);
    expect(await Promise.all([admit(c, name, { node }), admit(c, name, { node }), admit(c, name, { node })])).toEqual([
      202, 202, 202,
    ]);
    reload(c, wf(2));
    expect(await admit(c, name, { node })).toBe(429);
    const ids = await eventually(
      async () => {
        const r = await running(name);
        return r.length === 3 ? r : undefined;
      },
      20_000,
      'three running executions',
    );
    // Close the one in slot 0: slots 1 and 2 still run, which is the lowered value: still full.
    const slot0 = ids.find((id) => id.endsWith(':slot-0'))!;
    await file.client.workflow.getHandle(slot0).terminate('test: free slot 0');
    expect(await admit(c, name, { node })).toBe(429);
    const slot2 = ids.find((id) => id.endsWith(':slot-2'))!;
    await file.client.workflow.getHandle(slot2).terminate('test: free slot 2');
    expect(await admit(c, name, { node })).toBe(202);
    expect(await admit(c, name, { node })).toBe(429);
  });
});

describe('a start whose reply is lost', () => {
  it('is resolved by describing its id: one execution, reported started, its slot held', async () => {
    const name = unique('lost');
    const node = unique('n');
    let drop = 1;
    const lose: WorkflowClientInterceptor = {
      async start(input, next) {
        const runId = await next(input);
        if (input.workflowType !== LEASE_WORKFLOW_TYPE && drop-- > 0) {
          throw Object.assign(new Error('13 INTERNAL: reply lost (test)'), { code: 13, details: 'reply lost (test)' });
        }
        return runId;
      },
    };
    const temporal = await TemporalGateway.connect(coordinatorConfig().temporal, { interceptors: { workflow: [lose] } });
    const c = await coordinatorFor(
      [workflowConfig(name, { constraints: [constraint('concurrency', 1, 15 * MIN), constraint('maxExecution', 2, 60 * MIN)] })],
      temporal,
    );
    const first = await trigger(c.app, name, { target: { node } });
    expect(drop).toBe(0);
    expect(first.statusCode).toBe(202);
    started.push(first.json().workflow_id);
    expect((await file.client.workflow.getHandle(first.json().workflow_id).describe()).status.name).toBe('RUNNING');
    // No double run: the slot is held by the execution whose reply was lost.
    expect(await admit(c, name, { node })).toBe(429);
    await file.client.workflow.getHandle(first.json().workflow_id).terminate('test: close it');
    // No leaked slot: concurrency frees; maxExecution counts exactly one start so far.
    expect(await admit(c, name, { node })).toBe(202);
    expect(await admit(c, name, { node })).toBe(429);
  });

  it('unconfirmed and not found: 503 says the start is unknown and names its execution, which Temporal does not have', async () => {
    const name = unique('unconfirmed');
    let drop = 1;
    // The reply is lost before the request reaches Temporal: nothing starts, and nothing confirms it.
    const lose: WorkflowClientInterceptor = {
      async start(input, next) {
        if (input.workflowType !== LEASE_WORKFLOW_TYPE && drop-- > 0) {
          throw Object.assign(new Error('13 INTERNAL: reply lost (test)'), { code: 13, details: 'reply lost (test)' });
        }
        return next(input);
      },
    };
    const temporal = await TemporalGateway.connect(coordinatorConfig().temporal, { interceptors: { workflow: [lose] } });
    const c = await coordinatorFor([workflowConfig(name, { constraints: [constraint('maxExecution', 2, 60 * MIN)] })], temporal);
    const lost = await trigger(c.app, name, { target: { node: unique('n') } });
    expect(lost.statusCode).toBe(503);
    const id = lost.json().details.workflow_id as string;
    expect(lost.json().details).toEqual({ started: 'unknown', workflow_id: id });
    expect(id.startsWith(`${name}:`)).toBe(true);
    await expect(file.client.workflow.getHandle(id).describe()).rejects.toThrow(/not found/i);
    // A retry starts (the window's second place: the unconfirmed one is held until the ledger's sweep).
    const again = await trigger(c.app, name, { target: { node: unique('n') } });
    if (again.statusCode === 202) started.push(again.json().workflow_id);
    expect(again.statusCode).toBe(202);
  });
});

it('a refusal writes nothing: no execution is added by refused triggers', async () => {
  const name = unique('nowrite');
  const node = unique('n');
  const c = await coordinatorFor([
    workflowConfig(name, {
      constraints: [
        constraint('concurrency', 1, 15 * MIN),
        constraint('maxExecution', 5, 60 * MIN),
        constraint('maxExecution', 10, 24 * 60 * MIN, true),
      ],
    }),
  ]);
  expect(await admit(c, name, { node })).toBe(202);
  const ledger = file.client.workflow.getHandle(ledgerWorkflowId(name));
  const query = `WorkflowId STARTS_WITH '${name}' OR WorkflowId STARTS_WITH 'medic-lease:${name}' OR WorkflowId = '${ledger.workflowId}'`;
  const count = async (): Promise<number> => (await file.client.workflow.count(query)).count;
  const before = await eventually(async () => ((await count()) === 2 ? 2 : undefined), 20_000, 'the execution and the ledger');
  const history = (await ledger.describe()).historyLength;
  const codes = await Promise.all(Array.from({ length: 10 }, () => admit(c, name, { node })));
  expect(codes).toEqual(Array(10).fill(429));
  // Nor did they write to the ledger's history.
  expect((await ledger.describe()).historyLength).toBe(history);
  // Anything a refusal wrote was written before its 429: a count settled after them sees it.
  expect(await settledCount(file.client, query)).toBe(before);
});

it('idempotency keys belong to their caller: the same key from another identity is not a duplicate', async () => {
  const name = unique('idem');
  const c = await coordinatorFor([workflowConfig(name, { constraints: [constraint('concurrency', 2, 15 * MIN)] })]);
  const body = { target: { node: unique('n') }, idempotency_key: 'am-0123456789abcdef' };
  const a = await trigger(c.app, name, body, { identity: ADMIN });
  const b = await trigger(c.app, name, body, { identity: TRIGGER_DC1 });
  const a2 = await trigger(c.app, name, body, { identity: ADMIN });
  expect([a.statusCode, b.statusCode, a2.statusCode]).toEqual([202, 202, 200]);
  started.push(a.json().workflow_id, b.json().workflow_id);
  expect(b.json().workflow_id).not.toBe(a.json().workflow_id);
  expect(a2.json()).toMatchObject({ workflow_id: a.json().workflow_id, run_id: a.json().run_id });
  // Both hold concurrency slots (leases naming them): a third caller is refused.
  expect(await admit(c, name, body.target, 'spiffe://medic.test/trigger/other')).toBe(429);
});

it('reconciliation reports an execution started behind medic back as drift (metric and log)', async () => {
  const name = unique('drift');
  const node = unique('n');
  const c = await coordinatorFor([workflowConfig(name, { constraints: [constraint('concurrency', 1, 15 * MIN)] })]);
  expect(await admit(c, name, { node })).toBe(202);
  expect(await c.app.admission.reconcileNow()).toEqual([]);
  const outside = unique('outside');
  await file.client.workflow.start('ping', {
    taskQueue: nodeQueue(node),
    workflowId: outside,
    typedSearchAttributes: startSearchAttributes({ workflow: name, node, trigger: 'an operator with the temporal CLI' }),
  });
  started.push(outside);
  const found = await eventually(
    async () => {
      const d = await c.app.admission.reconcileNow();
      return d.length ? d : undefined;
    },
    20_000,
    'drift to show',
  );
  expect(found).toEqual([
    expect.objectContaining({
      workflow: name,
      kind: 'concurrency',
      scope: `node=${node}`,
      count: 2,
      value: 1,
      outside: [outside],
    }),
  ]);
  expect(c.logs.join('\n')).toContain(
    `admission drift: ${name} concurrency 1/15m per target in node=${node}: visibility shows 2`,
  );
  const metrics = (await c.app.inject({ url: '/metrics' })).body;
  expect(metrics).toContain(`medic_coordinator_admission_drift{workflow="${name}",kind="concurrency"} 1`);
});

describe('every replica enforces the strictest config in use (announced to the ledger)', () => {
  const configs = { bucketMs: 2_000, refreshMs: 200 };
  async function replica(wf: WorkflowConfig): Promise<TestCoordinator> {
    const c = await testCoordinator([wf], {
      config: { admission: { visibilityQps: 0 } },
      deps: { admission: { startMarginMs: 1_000, refusalCacheMs: 0 }, configs },
    });
    coordinators.push(c);
    return c;
  }
  const concurrency = (name: string, value: number): WorkflowConfig =>
    workflowConfig(name, { constraints: [constraint('concurrency', value, 15 * MIN)] });
  /** The value a coordinator enforces now, as its dry run reports it. */
  async function enforced(c: TestCoordinator, name: string, node: string): Promise<number> {
    const r = await c.app.admission.admitTrigger({
      workflow: name,
      target: { node },
      identity: ADMIN,
      source: 'api',
      dryRun: true,
    });
    if (r.result === 'dry_run') return Number(r.checks[0]!.constraint.value);
    if (r.result === 'refused') return Number(r.refusal.constraint.value);
    throw new Error(`dry run: ${JSON.stringify(r)}`);
  }

  it('a coordinator restarted with a lower value counts the slots the higher one handed out', async () => {
    const name = unique('restartLower');
    const node = unique('n');
    const before = await replica(concurrency(name, 3));
    expect(await Promise.all([1, 2, 3].map(() => admit(before, name, { node })))).toEqual([202, 202, 202]);
    await before.close();
    const after = await replica(concurrency(name, 1));
    const ids = await eventually(
      async () => {
        const r = await running(name);
        return r.length === 3 ? r : undefined;
      },
      20_000,
      'three running executions',
    );
    expect(await admit(after, name, { node })).toBe(429);
    // Lowering kills nothing; slot 0 free while slots 1 and 2 run is still full for value 1.
    const [slot0, ...others] = [...ids].sort();
    expect(slot0).toMatch(/:slot-0$/);
    await file.client.workflow.getHandle(slot0!).terminate('test: free slot 0');
    expect(await admit(after, name, { node })).toBe(429);
    for (const id of others) await file.client.workflow.getHandle(id).terminate('test: close the others');
    expect(await admit(after, name, { node })).toBe(202);
    expect(await admit(after, name, { node })).toBe(429);
  });

  it('two replicas on different configs at once: the stricter governs both; a raise waits for the old config to leave', async () => {
    const name = unique('twoConfigs');
    const node = unique('n');
    const loose = await replica(concurrency(name, 3));
    const strict = await replica(concurrency(name, 1));
    await eventually(
      async () => ((await enforced(loose, name, node)) === 1 ? true : undefined),
      20_000,
      'the loose replica to see the strict config',
    );
    const codes = await Promise.all([loose, strict, loose, strict, loose].map((c) => admit(c, name, { node })));
    expect(codes.filter((s) => s === 202)).toHaveLength(1);
    const refused = await trigger(loose.app, name, { target: { node } });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().details.constraint).toMatchObject({
      value: 1,
      configured: 'concurrency 3/15m per target',
      stricter_config_in_use: true,
    });
    // The strict replica goes away: after 2.5 buckets its config no longer governs.
    await strict.close();
    await eventually(
      async () => ((await enforced(loose, name, node)) === 3 ? true : undefined),
      30_000,
      'the raise to take effect',
    );
    expect(await Promise.all([1, 2].map(() => admit(loose, name, { node })))).toEqual([202, 202]);
    expect(await admit(loose, name, { node })).toBe(429);
  });
});

// A coordinator SIGKILLed between its ledger admission and its start is attacked with real
// processes in admission-sigkill.test.ts.
describe("the admission ledger's clock", () => {
  /** A coordinator whose clock runs `aheadMs` ahead of Temporal's. */
  async function coordinatorAhead(wfs: WorkflowConfig[], aheadMs = 0): Promise<TestCoordinator> {
    const c = await testCoordinator(wfs, {
      config: { admission: { visibilityQps: 0 } },
      deps: { admission: { startMarginMs: 1_000, refusalCacheMs: 0, now: () => Date.now() + aheadMs } },
    });
    coordinators.push(c);
    return c;
  }

  it("windows use the ledger's time: a coordinator whose clock runs hours ahead still counts the window", async () => {
    const name = unique('clock');
    const node = unique('n');
    const wf = workflowConfig(name, { constraints: [constraint('maxExecution', 1, 60 * MIN)] });
    expect(await admit(await coordinatorAhead([wf]), name, { node })).toBe(202);
    expect(await admit(await coordinatorAhead([wf], 2 * 60 * MIN), name, { node })).toBe(429);
  });
});
