// `medic temporal setup` (the real CLI) against the cluster over mTLS: registers medic's search
// attributes in a namespace an operator made, says what it did, is idempotent, checks the
// retention against the longest constraint period, and fails clearly (never hangs) on a missing
// namespace, an unreachable server, a client certificate the server refuses or a wrong server name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import { createCertificateAuthority, issueClientCertificate, writeKeyPair } from '../../src/tls/certificates';
import { clusterEnv, temporalBlock, type ClusterEnv } from '../helpers/cluster';
import { spawnMedic } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { connectClient, unique } from '../helpers/temporal';

const env = clusterEnv();
let client: Client;
let closeClient: () => Promise<void>;
let dir: string;

beforeAll(async () => {
  ({ client, close: closeClient } = await connectClient());
  dir = tempDir('cluster-setup');
});
afterAll(async () => {
  await closeClient();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A config dir with worker.hcl (its temporal block is what setup uses) and one workflow with a 30d constraint. */
function configDir(name: string, e: ClusterEnv, tls: Parameters<typeof temporalBlock>[1] = {}): string {
  const d = path.join(dir, name);
  fs.mkdirSync(path.join(d, 'workflows'), { recursive: true });
  fs.writeFileSync(
    path.join(d, 'worker.hcl'),
    `worker {\n  datacenter = "dc1"\n  node_type = "generic"\n}\n${temporalBlock(e, tls)}`,
  );
  fs.writeFileSync(
    path.join(d, 'workflows', 'monthly.hcl'),
    'workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind = "maxExecution"\n  value = "1"\n  period = "720h"\n}\n',
  );
  return d;
}

async function setup(configDirPath: string): Promise<{ code: number | string; out: string }> {
  const p = spawnMedic(['temporal', 'setup', '--config', configDirPath]);
  const code = await p.exited;
  return { code, out: p.output() };
}

const NAMES = Object.values(SEARCH_ATTRIBUTES).map((k) => k.name);

it('registers the missing search attributes, says so, and changes nothing when run again', async () => {
  const namespace = unique('medic-setup');
  await client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  const d = configDir('fresh', { ...env, namespace });

  const first = await setup(d);
  expect(first.code).toBe(0);
  expect(first.out).toContain(`connected to Temporal at ${env.address} (mTLS)`);
  expect(first.out).toContain(`namespace ${namespace}: exists, retention 1d`);
  expect(first.out).toContain(`search attributes: registered ${NAMES.join(', ')}`);
  expect(first.out).toMatch(/warning: retention 1d is shorter than the longest constraint period 30d \(.*monthly\.hcl\)/);
  const listed = await client.connection.operatorService.listSearchAttributes({ namespace });
  for (const name of NAMES) expect(listed.customAttributes?.[name]).toBeDefined();

  const again = await setup(d);
  expect(again.code).toBe(0);
  expect(again.out).toContain(`search attributes: nothing to register; already present: ${NAMES.join(', ')}`);
});

it('fails with the namespace named when it does not exist (an operator creates namespaces)', async () => {
  const namespace = unique('missing');
  const r = await setup(configDir('missing', { ...env, namespace }));
  expect(r.code).toBe(1);
  expect(r.out).toContain(`namespace ${namespace} does not exist`);
});

it('exits 3 quickly when nothing answers at the address', async () => {
  const r = await setup(configDir('unreachable', { ...env, address: '127.0.0.1:1' }));
  expect(r.code).toBe(3);
  expect(r.out).toContain('cannot reach Temporal at 127.0.0.1:1');
});

it('names the client certificate the server refuses (signed by a CA the cluster does not trust)', async () => {
  const stranger = createCertificateAuthority('not the cluster CA');
  const files = writeKeyPair(path.join(dir, 'stranger'), 'client', issueClientCertificate(stranger, 'spiffe://elsewhere/medic'));
  const r = await setup(configDir('stranger', env, files));
  expect(r.code).toBe(1);
  expect(r.out).toContain(`refused the client certificate cert_file ${files.certFile}`);
});

it('names the server name the certificate does not cover', async () => {
  const r = await setup(configDir('wrong-name', env, { serverName: 'temporal.wrong.example' }));
  expect(r.code).toBe(1);
  expect(r.out).toContain(`not valid for the name "temporal.wrong.example"`);
});
