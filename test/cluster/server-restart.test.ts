// The Temporal server SIGKILLed mid-workflow and started again on the same PostgreSQL: the
// execution's state lives in the database, so the remediation completes. This file runs its
// own cluster, since it kills the server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import type { RunbookResult } from '../../workflows/runbook';
import { startCluster, type Cluster } from '../setup/cluster/cluster';
import { prepareForMedic, temporalBlock, type ClusterEnv } from '../helpers/cluster';
import { spawnMedic, writeWorkerConfig, type MedicProcess } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { buildStack, type Stack } from '../helpers/stack';
import { eventually, unique, workflowBundle } from '../helpers/temporal';

let cluster: Cluster;
let env: ClusterEnv;
let stack: Stack;
let worker: MedicProcess | undefined;
let dir: string;

beforeAll(async () => {
  cluster = await startCluster();
  env = { address: cluster.address, namespace: cluster.namespace, tls: cluster.tls };
  await prepareForMedic(env);
  dir = tempDir('cluster-restart');
  stack = await buildStack({
    temporalAddress: env.address,
    temporalBlock: temporalBlock(env),
    workflows: {
      slowHeal: `workflow = "runbook"
task_queue_target = "node"
step {
  name    = "before"
  kind    = "command"
  command = "/usr/bin/sleep"
  args    = ["8"]
  timeout = "60s"
}
step {
  name    = "after"
  kind    = "command"
  command = "/usr/bin/true"
}
`,
    },
  });
  await stack.startCoordinator();
});

afterAll(async () => {
  if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await stack?.stop();
  await cluster?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

it('completes a remediation when the Temporal server is SIGKILLed and restarted mid-workflow', async () => {
  const node = unique('node');
  const config = writeWorkerConfig(
    path.join(dir, 'worker'),
    [
      'datacenter = "dc1"',
      'node_type = "generic"',
      `node = "${node}"`,
      'allowed_commands = ["/usr/bin/true", "/usr/bin/sleep"]',
    ].join('\n'),
    temporalBlock(env),
  );
  worker = spawnMedic(['worker', '--config', config, '--workflow-bundle', workflowBundle().codePath]);
  await worker.waitFor(/polling/, 90_000);
  const outcome = await stack
    .client('admin')
    .trigger('slowHeal', { target: { node, datacenter: 'dc1' }, reason: 'restart test' });
  if (outcome.kind !== 'started') throw new Error(`not started: ${JSON.stringify(outcome)}`);

  let connection = await cluster.connect();
  let client = new Client({ connection, namespace: cluster.namespace });
  await eventually(
    async () =>
      (await client.workflow.getHandle(outcome.workflowId).describe()).raw.pendingActivities?.some((a) => a.state === 2)
        ? true
        : undefined,
    60_000,
    'the first step to run',
  );
  await connection.close();

  const pidBefore = cluster.server.pid();
  await cluster.server.kill();
  await cluster.server.restart();
  expect(cluster.server.pid()).not.toBe(pidBefore);

  connection = await cluster.connect();
  client = new Client({ connection, namespace: cluster.namespace });
  try {
    const result = (await client.workflow.getHandle(outcome.workflowId).result()) as RunbookResult;
    expect(result.steps.map((s) => [s.name, s.ok])).toEqual([
      ['before', true],
      ['after', true],
    ]);
    // The worker and the coordinator reconnected by themselves: a new trigger works too.
    expect(worker.child.exitCode).toBeNull();
    const admin = stack.client('admin');
    await eventually(
      async () => ((await admin.request('GET', '/readyz')).status === 200 ? true : undefined),
      60_000,
      '/readyz 200',
    );
  } finally {
    await connection.close();
  }
});
