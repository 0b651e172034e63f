// A rolling upgrade from the previous release to this one, under a trigger storm. Two coordinators
// of the previous release (built from this repository's history) fill live ledgers: maxExecution
// windows, node locks and budget places, a concurrency slot. They are then replaced one at a time
// by this release's coordinator while callers keep triggering through whichever coordinators run.
// No violation (every limit holds exactly, across versions), nothing forgotten (what the old
// release admitted still counts after it is gone), no admission wedged (no 5xx, no ledger whose
// workflow task fails, and a freed place is admitted again).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { Client as TemporalClient } from '@temporalio/client';
import {
  benchCertificates,
  benchDir,
  benchTemporal,
  clientAgent,
  constraintHcl,
  request,
  startCoordinatorProcess,
  writeConfig,
  type BenchTemporal,
  type CoordinatorProcess,
} from '../bench/fixture';
import { buildRelease } from '../helpers/release';
import type { HttpsResponse } from '../helpers/https';
import { waitFor } from '../helpers/wait';
import { queryValue } from '../../src/naming/search-attributes';

const WORKFLOWS = {
  // A global window: 3 in an hour, whoever admits them.
  upCapped: `workflow = "ping"\ntask_queue_target = "node"\n${constraintHcl('maxExecution', 3, '1h', true)}`,
  // A window per node, with a concurrency above 1 (both through the admission ledger).
  upPerNode: `workflow = "ping"\ntask_queue_target = "node"\n${constraintHcl('concurrency', 2, '15m')}${constraintHcl('maxExecution', 1, '1h')}`,
  // Concurrency 1 per node: the execution holds its slot.
  upSingle: `workflow = "ping"\ntask_queue_target = "node"\n${constraintHcl('concurrency', 1, '15m')}`,
  // Disruptive: the node lock and a place in the datacenter's budget, at the fleet ledger.
  upDrain: `workflow = "ping"\ntask_queue_target = "node"\ndisruptive = true\n`,
  // Disruptive with a window of its own: the old release admits it at its own ledger, this one
  // in the claim at the fleet ledger (which then reads what the old release started).
  upDrainCapped: `workflow = "ping"\ntask_queue_target = "node"\ndisruptive = true\n${constraintHcl('maxExecution', 2, '1h', true)}`,
};
const BUDGET = `budget "upgrade-dc" {\n  per = "datacenter"\n  max = 2\n}\n`;

type Name = keyof typeof WORKFLOWS;
type Answer = Pick<HttpsResponse, 'status' | 'body'>;

let temporal: BenchTemporal;
let client: Client;
let oldMedic: string;
let config: string;
let agent: ReturnType<typeof clientAgent>;
const live: CoordinatorProcess[] = [];

beforeAll(async () => {
  oldMedic = buildRelease(undefined, (l) => process.stderr.write(`[rolling-upgrade] ${l}\n`));
  // A Temporal of its own: only these coordinators' ledger workers poll its ledger queue.
  temporal = await benchTemporal();
  client = new TemporalClient({ connection: await temporal.connect() });
  const dir = benchDir('rolling-upgrade');
  const certs = benchCertificates(dir);
  agent = clientAgent(certs, 64);
  config = writeConfig(dir, certs, temporal, WORKFLOWS, false);
  // The previous release must load this release's shipped-style config: only keys both know.
  fs.appendFileSync(path.join(config, 'coordinator.hcl'), BUDGET);
}, 600_000);

afterAll(async () => {
  await Promise.all(live.map((c) => c.stop()));
  await client?.connection.close();
  await temporal?.stop();
});

function trigger(c: CoordinatorProcess, wf: Name, node: string, datacenter = 'dc1'): Promise<Answer> {
  const target = wf === 'upDrain' || wf === 'upDrainCapped' ? { node, datacenter } : { node };
  return request(agent, 'POST', `${c.url}/v1/workflows/${wf}/executions`, { target, reason: 'rolling upgrade test' });
}

async function running(wf: Name, node?: string): Promise<number> {
  const q = `MedicWorkflow = ${queryValue(wf)}${node ? ` AND MedicNode = ${queryValue(node)}` : ''} AND ExecutionStatus = 'Running'`;
  return (await client.workflow.count(q)).count;
}

/** Visibility lags: waits until the count has settled at `n`, then it must stay there. */
async function expectRunning(wf: Name, n: number, node?: string): Promise<void> {
  await waitFor(
    `${n} running ${wf}${node ? ` on ${node}` : ''}`,
    async () => ((await running(wf, node)) === n ? true : undefined),
    20_000,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${await running(wf, node)} are`);
  });
}

test('two coordinators of the previous release are replaced one at a time under a storm: every limit holds exactly, nothing is forgotten, nothing wedges', async () => {
  const [a, b] = [await startCoordinatorProcess(config, oldMedic), await startCoordinatorProcess(config, oldMedic)];
  live.push(a, b);

  // The previous release fills its ledgers, through both replicas.
  const statuses = async (calls: Array<Promise<Answer>>): Promise<number[]> => (await Promise.all(calls)).map((r) => r.status);
  expect(await statuses([trigger(a, 'upCapped', 'c1'), trigger(b, 'upCapped', 'c2'), trigger(a, 'upCapped', 'c3')])).toEqual([
    202, 202, 202,
  ]);
  expect((await trigger(b, 'upCapped', 'c4')).status).toBe(429);
  expect((await trigger(a, 'upPerNode', 'p1')).status).toBe(202);
  expect((await trigger(b, 'upPerNode', 'p1')).status).toBe(429);
  expect((await trigger(a, 'upSingle', 's1')).status).toBe(202);
  expect((await trigger(a, 'upDrain', 'd1')).status).toBe(202);
  expect((await trigger(b, 'upDrain', 'd2')).status).toBe(202);
  expect((await trigger(a, 'upDrain', 'd3')).status).toBe(429); // the budget: 2 in dc1
  expect((await trigger(b, 'upDrain', 'd1')).status).toBe(429); // the node lock
  expect((await trigger(a, 'upDrainCapped', 'e1', 'dc3')).status).toBe(202); // 1 of its window's 2

  // The storm: every round asks each live coordinator for what must be refused, and for two
  // fresh places that exactly one trigger in the whole storm may take.
  const answers: Array<{ wf: Name; node: string; status: number; body: string; via: string }> = [];
  let storming = true;
  const targets: Array<[Name, string, string?]> = [
    ['upCapped', 'c5'],
    ['upPerNode', 'p1'],
    ['upSingle', 's1'],
    ['upDrain', 'd3'],
    ['upDrain', 'd1'],
    ['upPerNode', 'fresh-window'],
    ['upSingle', 'fresh-slot'],
    ['upDrain', 'fresh-node', 'dc2'],
    // The window's last place: exactly one of these two in the whole storm, across versions.
    ['upDrainCapped', 'e2', 'dc4'],
    ['upDrainCapped', 'e3', 'dc5'],
  ];
  const storm = (async () => {
    while (storming) {
      const round = [...live];
      await Promise.all(
        round.flatMap((c) =>
          targets.map(async ([wf, node, dc]) => {
            const { status, body } = await trigger(c, wf, node, dc);
            answers.push({ wf, node, status, body, via: c.proc.pid === a.proc.pid || c.proc.pid === b.proc.pid ? 'old' : 'new' });
          }),
        ),
      );
    }
  })();
  const rounds = async (n: number): Promise<void> => {
    const start = answers.length;
    await waitFor(`${n} storm rounds`, async () => (answers.length >= start + n * targets.length ? true : undefined), 60_000);
  };
  const replace = async (old: CoordinatorProcess): Promise<void> => {
    live.splice(live.indexOf(old), 1);
    await rounds(1); // the rounds in flight through `old` finish before it stops
    await old.stop();
    live.push(await startCoordinatorProcess(config));
    await rounds(5);
  };
  await rounds(3);
  await replace(a);
  await replace(b);
  storming = false;
  await storm;

  // No answer was a failure: a 5xx would be an admission that could not be decided.
  expect(answers.filter((r) => r.status >= 500).map((r) => `${r.via} ${r.wf} ${r.node}: ${r.status} ${r.body}`)).toEqual([]);
  const admitted = (wf: Name, node: string): number =>
    answers.filter((r) => r.wf === wf && r.node === node && r.status === 202).length;
  // What the previous release admitted still counts: all refused, through both versions.
  for (const [wf, node] of targets.slice(0, 5)) expect([wf, node, admitted(wf as Name, node)]).toEqual([wf, node, 0]);
  // A fresh place is taken exactly once in the whole storm, across versions.
  for (const [wf, node] of targets.slice(5, 8)) expect([wf, node, admitted(wf as Name, node)]).toEqual([wf, node, 1]);
  expect(admitted('upDrainCapped', 'e2') + admitted('upDrainCapped', 'e3')).toBe(1);
  expect(answers.some((r) => r.via === 'old') && answers.some((r) => r.via === 'new')).toBe(true);

  // Temporal agrees, exactly.
  await expectRunning('upCapped', 3);
  await expectRunning('upPerNode', 2);
  await expectRunning('upSingle', 2);
  await expectRunning('upDrain', 3);
  await expectRunning('upDrainCapped', 2);

  // The ledgers run under the new release, none with a failing workflow task.
  for (const id of ['medic-ledger:upCapped', 'medic-ledger:upPerNode', 'medic-fleet-ledger']) {
    const d = await client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId: id } });
    expect([id, d.workflowExecutionInfo?.status]).toEqual([id, 1]);
    expect([id, (d.pendingWorkflowTask?.attempt ?? 1) <= 1]).toEqual([id, true]);
  }

  // Nothing wedged: a hold the old release took is freed when its execution ends, and the new release admits into it once.
  const [newA] = live;
  for await (const d1 of client.workflow.list({ query: `MedicWorkflow = 'upDrain' AND MedicNode = 'd1'` }))
    await client.workflow.getHandle(d1.workflowId).terminate('rolling upgrade test: the remediation ended');
  const after = await statuses([trigger(newA!, 'upDrain', 'd3'), trigger(live[1]!, 'upDrain', 'd3')]);
  expect(after.sort()).toEqual([202, 429]);
  await expectRunning('upDrain', 1, 'd3');
}, 600_000);
