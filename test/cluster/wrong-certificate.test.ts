// A wrong client certificate fails fast with a clear error that names the file, never a hang:
// the coordinator and the worker toward the cluster's mTLS frontend, the trigger toward the
// coordinator. The certificate is well-formed and current, but signed by a CA nobody trusts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createCertificateAuthority, issueClientCertificate, writeKeyPair } from '../../src/tls/certificates';
import { clusterEnv, temporalBlock } from '../helpers/cluster';
import { spawnMedic, writeWorkerConfig } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { buildStack, IDS, type Stack } from '../helpers/stack';
import { unique, workflowBundle } from '../helpers/temporal';

const env = clusterEnv();
let dir: string;
let stranger: { certFile: string; keyFile: string };
const stacks: Stack[] = [];

beforeAll(() => {
  dir = tempDir('cluster-wrong-cert');
  const ca = createCertificateAuthority('a CA nobody trusts');
  stranger = writeKeyPair(path.join(dir, 'stranger'), 'client', issueClientCertificate(ca, IDS.trigger));
});
afterAll(async () => {
  await Promise.all(stacks.map((s) => s.stop()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Waits for the exit, failing the test if it takes longer than `ms` (a hang). */
async function exitWithin<T>(exited: Promise<T>, ms: number, output: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms (a hang):\n${output()}`)), ms);
  });
  try {
    return await Promise.race([exited, hang]);
  } finally {
    clearTimeout(timer);
  }
}

it('the coordinator exits non-zero naming the client certificate the Temporal frontend refused', async () => {
  const stack = await buildStack({
    temporalAddress: env.address,
    temporalBlock: temporalBlock(env, stranger),
    workflows: { ping: 'workflow = "ping"\ntask_queue_target = "node"\n' },
  });
  stacks.push(stack);
  const p = stack.medic(['coordinator', '--config', stack.dir]);
  const code = await exitWithin(new Promise<number | null>((r) => p.child.once('exit', (c) => r(c))), 60_000, p.output);
  expect(code).toBe(1);
  expect(p.output()).toContain(`refused the client certificate cert_file ${stranger.certFile}`);
});

it('the worker exits non-zero naming the client certificate the Temporal frontend refused', async () => {
  const config = writeWorkerConfig(
    path.join(dir, 'worker'),
    ['datacenter = "dc1"', 'node_type = "generic"', `node = "${unique('node')}"`].join('\n'),
    temporalBlock(env, stranger),
  );
  const p = spawnMedic(['worker', '--config', config, '--workflow-bundle', workflowBundle().codePath]);
  expect(await exitWithin(p.exited, 60_000, p.output)).toBe(1);
  expect(p.output()).toContain(`refused the client certificate cert_file ${stranger.certFile}`);
});

it('the trigger exits non-zero naming the client certificate the coordinator refused', async () => {
  const stack = await buildStack({
    temporalAddress: env.address,
    temporalBlock: temporalBlock(env),
    workflows: { ping: 'workflow = "ping"\ntask_queue_target = "node"\n' },
    triggers: {
      rules: `prometheus {
  address       = "http://127.0.0.1:1"
  poll_interval = "1s"
}
coordinator {
  address   = "COORDINATOR"
  cert_file = "${stranger.certFile}"
  key_file  = "${stranger.keyFile}"
  ca_file   = "../tls/ca.pem"
}
rule "down" {
  query    = "up == 0"
  workflow = "ping"
  target {
    node = "{{ $labels.instance }}"
  }
}
`,
    },
  });
  stacks.push(stack);
  await stack.startCoordinator();
  const p = stack.medic([
    'trigger',
    '--config',
    stack.dir,
    '--metrics-listen',
    'off',
    '--state-file',
    path.join(dir, 'trigger-state.json'),
  ]);
  const code = await exitWithin(new Promise<number | null>((r) => p.child.once('exit', (c) => r(c))), 60_000, p.output);
  expect(code).toBe(1);
  expect(p.output()).toContain('the coordinator at');
  expect(p.output()).toContain(`refused this daemon (403`);
  expect(p.output()).toContain(`cert_file ${stranger.certFile}`);
});
