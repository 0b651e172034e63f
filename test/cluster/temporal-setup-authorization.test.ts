// `medic temporal setup` against a Temporal server that authorizes every call (Temporal's default
// authorizer and JWT claim mapper, keys from a JWKS on loopback), medic sending its api_key_file
// as `Authorization: Bearer`: a namespace writer is refused with the operator permission named,
// a namespace or system admin registers (idempotently), and no / a bad token fails clearly, fast.
// Then the permissions docs/operations/production.md gives each role are enough: a coordinator and a node
// worker holding only namespace write heal a node end to end.
// The server is this file's own (own databases in the suite's PostgreSQL, own ports and config).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import { spawnNodeWorker } from './node-worker';
import { clusterEnv, temporalBlock, type ClusterEnv } from '../helpers/cluster';
import { spawnMedic, type MedicProcess } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { buildStack, type Stack } from '../helpers/stack';
import { unique } from '../helpers/temporal';
import type { RunbookResult } from '../../workflows/runbook';
import { startCluster, type Cluster } from '../setup/cluster/cluster';
import { startJwtIssuer, type JwtIssuer } from '../setup/cluster/jwt';

const NAMES = Object.values(SEARCH_ATTRIBUTES).map((k) => k.name);
/** A hang guard, not a speed assertion: a refusal must end the command, not leave it retrying. */
const ENDS_WITHIN_MS = 60_000;

let issuer: JwtIssuer;
let cluster: Cluster;
let operator: Connection;
let server: ClusterEnv;
let dir: string;

beforeAll(async () => {
  issuer = await startJwtIssuer();
  cluster = await startCluster({
    postgres: clusterEnv().postgres,
    databasePrefix: 'temporal_authz',
    authorization: { keySourceUri: issuer.jwksUri, operatorToken: issuer.token('operator', ['temporal-system:admin']) },
  });
  operator = await cluster.connect();
  server = { address: cluster.address, namespace: cluster.namespace, tls: cluster.tls };
  dir = tempDir('cluster-authz');
}, 180_000);
afterAll(async () => {
  await operator?.close();
  await cluster?.stop();
  await issuer?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** A namespace the operator made (medic never creates one), with nothing of medic's in it yet. */
async function freshNamespace(): Promise<string> {
  const namespace = unique('authz');
  await operator.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('7 days') });
  return namespace;
}

/** A file holding this token, as api_key_file names it (mode 0600, one line). */
function writeKeyFile(token: string): string {
  const keyFile = path.join(dir, `${unique('api-key')}`);
  fs.writeFileSync(keyFile, `${token}\n`, { mode: 0o600 });
  return keyFile;
}

/** A config dir whose worker.hcl points at the authorizing server over mTLS, with this token as api_key_file. */
function configDir(namespace: string, token: string | undefined): { dir: string; keyFile?: string } {
  const d = path.join(dir, unique('cfg'));
  fs.mkdirSync(path.join(d, 'workflows'), { recursive: true });
  const keyFile = token === undefined ? undefined : writeKeyFile(token);
  fs.writeFileSync(
    path.join(d, 'worker.hcl'),
    `worker {\n  datacenter = "dc1"\n  node_type = "generic"\n}\n${temporalBlock({ ...server, namespace }, {}, keyFile)}`,
  );
  return { dir: d, ...(keyFile && { keyFile }) };
}

async function setup(configDirPath: string): Promise<{ code: number | string; out: string; ms: number }> {
  const started = Date.now();
  const p = spawnMedic(['temporal', 'setup', '--config', configDirPath]);
  const code = await p.exited;
  return { code, out: p.output(), ms: Date.now() - started };
}

async function registeredAttributes(namespace: string): Promise<string[]> {
  const listed = await operator.operatorService.listSearchAttributes({ namespace });
  return NAMES.filter((name) => listed.customAttributes?.[name] !== undefined);
}

it('a namespace writer (what coordinators and workers hold) is refused, with the operator permission it lacks named', async () => {
  const namespace = await freshNamespace();
  const token = issuer.token('medic-coordinator', [`${namespace}:write`]);
  const { dir: d, keyFile } = configDir(namespace, token);

  const r = await setup(d);
  expect(r.code).toBe(1);
  expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
  // Writing is enough to connect, describe the namespace and list its search attributes ...
  expect(r.out).toContain(`connected to Temporal at ${server.address} (mTLS)`);
  expect(r.out).toContain(`namespace ${namespace}: exists, retention 7d`);
  // ... but not to register them: the message says what is missing, for whom, and what to do.
  expect(r.out).toContain(`registering search attributes in namespace ${namespace} needs the operator permission`);
  expect(r.out).toContain(`admin on namespace ${namespace}`);
  expect(r.out).toContain(`"${namespace}:admin"`);
  expect(r.out).toContain(`which the API key in ${keyFile} lacks`);
  expect(r.out).toContain('Request unauthorized');
  expect(r.out).not.toContain(token);
  expect(await registeredAttributes(namespace)).toEqual([]);
});

it.each([
  ['a namespace admin', (ns: string) => [`${ns}:admin`]],
  ['the system admin', () => ['temporal-system:admin']],
])('%s registers the search attributes, and a second run changes nothing', async (_who, permissions) => {
  const namespace = await freshNamespace();
  const { dir: d } = configDir(namespace, issuer.token('operator', permissions(namespace)));

  const first = await setup(d);
  expect(first.out).toContain(`connected to Temporal at ${server.address} (mTLS)`);
  expect(first.out).toContain(`search attributes: registered ${NAMES.join(', ')}`);
  expect(first.code).toBe(0);
  expect(await registeredAttributes(namespace)).toEqual(NAMES);

  const again = await setup(d);
  expect(again.code).toBe(0);
  expect(again.out).toContain(`search attributes: nothing to register; already present: ${NAMES.join(', ')}`);
});

it('without a token, the refusal names the missing api_key_file (not a hang, not a TLS error)', async () => {
  const namespace = await freshNamespace();
  const r = await setup(configDir(namespace, undefined).dir);
  expect(r.code).toBe(1);
  expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
  expect(r.out).toContain(`describing namespace ${namespace} needs the read permission on namespace ${namespace}`);
  expect(r.out).toContain('No api_key_file is set');
});

it.each([
  ['an expired token', (i: JwtIssuer, ns: string) => i.token('operator', [`${ns}:admin`], -60)],
  ['a token signed by another key', (_i: JwtIssuer, ns: string) => forged(ns)],
])('%s is refused when connecting (exit 1, not "unreachable"), named as the API key file', async (_what, token) => {
  const namespace = await freshNamespace();
  const { dir: d, keyFile } = configDir(namespace, await token(issuer, namespace));
  const r = await setup(d);
  expect(r.code).toBe(1);
  expect(r.ms).toBeLessThan(ENDS_WITHIN_MS);
  expect(r.out).toContain(`Temporal at ${server.address} refused the API key in ${keyFile} on connecting`);
  expect(r.out).toContain('Request unauthorized');
  expect(r.out).toContain('an expired token, one signed by a key it does not trust');
  expect(r.out).not.toContain('cannot reach');
  expect(await registeredAttributes(namespace)).toEqual([]);
});

/** An admin token with the issuer's key id, signed by a key the server has never seen. */
async function forged(namespace: string): Promise<string> {
  const other = await startJwtIssuer();
  try {
    return other.token('intruder', [`${namespace}:admin`, 'temporal-system:admin']);
  } finally {
    await other.close();
  }
}

describe('a coordinator and a node worker holding only namespace write', () => {
  let namespace: string;
  let stack: Stack;
  let worker: MedicProcess | undefined;
  const DC = unique('dc');

  beforeAll(async () => {
    namespace = await freshNamespace();
    const admin = await setup(configDir(namespace, issuer.token('operator', [`${namespace}:admin`])).dir);
    if (admin.code !== 0) throw new Error(`setup as namespace admin failed:\n${admin.out}`);
    const block = temporalBlock({ ...server, namespace }, {}, writeKeyFile(issuer.token('medic', [`${namespace}:write`])));
    stack = await buildStack({
      temporalAddress: server.address,
      temporalBlock: block,
      workflows: {
        heal: 'workflow = "runbook"\ntask_queue_target = "node"\nstep {\n  name = "fix"\n  kind = "command"\n  command = "/usr/bin/true"\n}\n',
      },
    });
    await stack.startCoordinator();
  }, 180_000);
  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await stack?.stop();
  });

  it('heal a node end to end on the authorizing server', async () => {
    const node = unique('node');
    worker = spawnNodeWorker(path.join(dir, unique('worker')), {
      datacenter: DC,
      node,
      allowedCommands: ['/usr/bin/true'],
      temporalBlock: temporalBlock({ ...server, namespace }, {}, writeKeyFile(issuer.token('medic', [`${namespace}:write`]))),
    });
    await worker.waitFor(/polling/, 90_000);
    const outcome = await stack.client('admin').trigger('heal', { target: { node, datacenter: DC }, reason: 'authorized e2e' });
    expect(outcome).toMatchObject({ kind: 'started', taskQueue: `medic:node:${node}` });
    if (outcome.kind !== 'started') return;
    const result = (await new Client({ connection: operator, namespace }).workflow
      .getHandle(outcome.workflowId)
      .result()) as RunbookResult;
    expect(result.steps).toEqual([expect.objectContaining({ name: 'fix', ok: true })]);
    expect(stack.coordinator!.output()).not.toMatch(/PermissionDenied|Request unauthorized/);
    expect(worker.output()).not.toMatch(/PermissionDenied|Request unauthorized/);
  });
});
