// Admission stays exact when a real `medic coordinator` process is SIGKILLed at the worst moments
// (src/failpoints.ts): between its ledger admission and the start, between the start and its
// answer, and between its fleet claim and the start. Replica A (armed with MEDIC_FAILPOINTS)
// takes a trigger, stops at the failpoint and is killed with SIGKILL by pid; replica B (another
// process on the same config dir and dev server) then decides. Counts are exact: what Temporal
// shows once visibility has caught up (settledCount), never a bound.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { CoordinatorClient } from '../../src/client/coordinator-client';
import type { FailpointName } from '../../src/failpoints';
import { FLEET_LEDGER_ID } from '../../src/ledger/fleet/client';
import { NONCE_MEMO } from '../../src/ledger/activities';
import { ledgerWorkflowId } from '../../src/ledger/client';
import { fleetStateQuery, stateQuery } from '../../src/ledger/messages';
import type { Coordinator } from '../helpers/medic-process';
import { buildStack, type Stack } from '../helpers/stack';
import { connectClient, eventually, settledCount, temporalAddress, unique } from '../helpers/temporal';

/** The orphan grace of the ledgers these coordinators start (admission.orphan_grace). */
const GRACE_MS = 10_000;
const once = unique('once');
const careful = unique('careful');
const budget = unique('per-dc');

let stack: Stack;
let b: Coordinator;
let client: Client;
let closeClient: (() => Promise<void>) | undefined;
const started: string[] = [];
const clients = new Map<string, CoordinatorClient>();

beforeAll(async () => {
  stack = await buildStack({
    temporalAddress: temporalAddress(),
    workflows: {
      [once]:
        'workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind   = "maxExecution"\n  value  = "1"\n  period = "1h"\n}\n',
      [careful]: 'workflow = "ping"\ntask_queue_target = "node"\ndisruptive = true\n',
    },
    coordinatorExtra: `admission {\n  orphan_grace = "${GRACE_MS / 1000}s"\n}\nbudget "${budget}" {\n  per = "datacenter"\n  max = 1\n}\n`,
  });
  b = await stack.startReplica();
  ({ client, close: closeClient } = await connectClient());
}, 120_000);

afterAll(async () => {
  await Promise.all(
    started.map((id) =>
      client?.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined),
    ),
  );
  await stack?.stop();
  await closeClient?.();
});

interface Answer {
  status: number;
  body: { workflow_id?: string; details?: { constraint?: Record<string, unknown>; count?: number } };
}

/** POST /v1/workflows/WORKFLOW/executions to one replica, as the admin. */
async function trigger(c: Coordinator, workflow: string, target: Record<string, string>): Promise<Answer> {
  let api = clients.get(c.url);
  // A loaded CI machine can keep an answer past the client's default 10 s (the fleet ledger moving
  // off the killed replica's worker); a slow answer is not what this file tests, a wrong one is.
  if (!api) clients.set(c.url, (api = stack.client('admin', c.url, 45_000)));
  const r = await api.request('POST', `/v1/workflows/${workflow}/executions`, { target });
  const answer = { status: r.status, body: r.body as Answer['body'] };
  if (answer.status === 202) started.push(answer.body.workflow_id!);
  return answer;
}

/**
 * Starts replica A armed at `failpoint`, sends it one trigger, waits for the failpoint's line and
 * SIGKILLs A by pid there. The caller never gets an answer: its connection dies with A.
 */
async function killedAt(failpoint: FailpointName, workflow: string, target: Record<string, string>): Promise<void> {
  const a = await stack.startReplica({ MEDIC_FAILPOINTS: failpoint });
  const answer = trigger(a, workflow, target).then(
    (r) => r,
    (err: Error) => err,
  );
  await a.proc.waitFor(new RegExp(`^medic failpoint ${failpoint.replace('.', '\\.')} reached$`, 'm'), 60_000);
  process.kill(a.proc.pid, 'SIGKILL');
  expect(await a.proc.exited).toBe('SIGKILL');
  expect(await answer).toBeInstanceOf(Error);
}

/** Triggers through B until it admits; every answer before that must be a 429 (a 503 fails). */
async function admittedEventually(workflow: string, target: Record<string, string>, timeoutMs: number): Promise<Answer> {
  const before: number[] = [];
  const admitted = await eventually(
    async () => {
      const r = await trigger(b, workflow, target);
      if (r.status === 202) return r;
      before.push(r.status);
      return undefined;
    },
    timeoutMs,
    `B to admit ${workflow} on ${JSON.stringify(target)}`,
  );
  expect(before).toEqual(before.map(() => 429));
  return admitted;
}

const executionsOn = (workflow: string, node: string): string => `MedicWorkflow = '${workflow}' AND MedicNode = '${node}'`;
const ledgerState = () => client.workflow.getHandle(ledgerWorkflowId(once)).query(stateQuery);
const fleetState = () => client.workflow.getHandle(FLEET_LEDGER_ID).query(fleetStateQuery);

/** The admissions of the ledger's windows that name `node`'s scope. */
async function admissionsOn(node: string): Promise<Array<[number, string]>> {
  const state = await ledgerState();
  return Object.entries(state.windows)
    .filter(([w]) => w.endsWith(`|node=${node}`))
    .flatMap(([, entries]) => entries);
}

describe('a coordinator process SIGKILLed at the worst moment of admission', () => {
  it('after its ledger admission, before the start: B refuses while the orphan holds the place, 0 executions; past the orphan grace B starts exactly one, never two', async () => {
    const node = unique('n');
    await killedAt('admission.after_ledger_admit', once, { node });
    const killed = Date.now();

    const held = await trigger(b, once, { node });
    expect(held.status).toBe(429);
    expect(held.body.details).toMatchObject({ constraint: { kind: 'maxExecution', value: 1, scope: `node=${node}` }, count: 1 });
    const [orphan] = await admissionsOn(node);
    expect(await admissionsOn(node)).toHaveLength(1);
    expect(Object.keys((await ledgerState()).unconfirmed)).toContain(orphan![1]);
    expect(await settledCount(client, executionsOn(once, node))).toBe(0);

    const admitted = await admittedEventually(once, { node }, GRACE_MS + 60_000);
    process.stderr.write(
      `[admission-sigkill] the orphan's place was taken again ${Date.now() - killed} ms after the SIGKILL (orphan grace ${GRACE_MS} ms)\n`,
    );
    // The sweep freed the orphan (not a second place): the window holds B's admission alone.
    const after = await admissionsOn(node);
    expect(after.map(([, id]) => id)).not.toContain(orphan![1]);
    expect(after).toHaveLength(1);
    expect((await trigger(b, once, { node })).status).toBe(429);
    expect(await settledCount(client, executionsOn(once, node))).toBe(1);
    expect((await client.workflow.getHandle(admitted.body.workflow_id!).describe()).status.name).toBe('RUNNING');
  }, 180_000);

  it('after the start, before the answer: the execution runs exactly once; B refuses and keeps refusing once the sweep has seen it (no place freed)', async () => {
    const node = unique('n');
    await killedAt('admission.after_start', once, { node });

    expect(await settledCount(client, executionsOn(once, node))).toBe(1);
    const ids: string[] = [];
    for await (const e of client.workflow.list({ query: executionsOn(once, node) })) ids.push(e.workflowId);
    expect(ids).toHaveLength(1);
    started.push(ids[0]!);
    const execution = await client.workflow.getHandle(ids[0]!).describe();
    expect(execution.status.name).toBe('RUNNING');
    const nonce = execution.memo?.[NONCE_MEMO] as string;
    expect((await admissionsOn(node)).map(([, id]) => id)).toEqual([nonce]);

    expect((await trigger(b, once, { node })).status).toBe(429);
    // Past the orphan grace the sweep looks for the admission's execution, finds it, and settles it as started.
    await eventually(
      async () => ((await ledgerState()).unconfirmed[nonce] === undefined ? true : undefined),
      GRACE_MS + 60_000,
      'the sweep to settle the admission',
    );
    expect((await admissionsOn(node)).map(([, id]) => id)).toEqual([nonce]);
    const again = await Promise.all([1, 2, 3].map(() => trigger(b, once, { node })));
    expect(again.map((r) => r.status)).toEqual([429, 429, 429]);
    expect(await settledCount(client, executionsOn(once, node))).toBe(1);
  }, 180_000);

  it('after its fleet claim, before the start: the node lock and the budget place stay held (0 executions) until the orphan grace, then exactly one start', async () => {
    const datacenter = unique('dc');
    const [node, neighbour] = [unique('n'), unique('n')];
    await killedAt('fleet.after_claim', careful, { node, datacenter });

    const ledger = await fleetState();
    const orphan = ledger.nodes[node]!;
    expect(orphan).toMatch(new RegExp(`^${careful}:`));
    expect(ledger.places[`${budget}|${datacenter}`]).toEqual([orphan]);
    await expect(client.workflow.getHandle(orphan).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

    const locked = await trigger(b, careful, { node, datacenter });
    expect(locked.status).toBe(429);
    expect(locked.body.details?.constraint).toMatchObject({ kind: 'disruptive_lock', held_by: orphan });
    const budgeted = await trigger(b, careful, { node: neighbour, datacenter });
    expect(budgeted.status).toBe(429);
    expect(budgeted.body.details?.constraint).toMatchObject({ kind: 'budget', budget, held_by: [orphan] });
    expect(await settledCount(client, `MedicWorkflow = '${careful}' AND MedicDatacenter = '${datacenter}'`)).toBe(0);

    // The fleet ledger is the namespace's: its grace is whatever the coordinator that started it had.
    const admitted = await admittedEventually(careful, { node, datacenter }, ledger.orphanGraceMs + 90_000);
    const now = await fleetState();
    expect(now.nodes[node]).toBe(admitted.body.workflow_id);
    expect(now.places[`${budget}|${datacenter}`]).toEqual([admitted.body.workflow_id]);
    const next = await trigger(b, careful, { node: neighbour, datacenter });
    expect(next.status).toBe(429);
    expect(next.body.details?.constraint).toMatchObject({ kind: 'budget', held_by: [admitted.body.workflow_id] });
    expect(await settledCount(client, `MedicWorkflow = '${careful}' AND MedicDatacenter = '${datacenter}'`)).toBe(1);
  }, 240_000);
});
