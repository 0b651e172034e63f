// `medic worker` with role node (the lean runtime) as a real process, the workflows on a general
// SDK worker in the test: drain on SIGTERM, exit after the grace period, SIGHUP reload without
// dropping the running activity, its own /metrics, polling again after Temporal went away, and
// mTLS through a TLS front end with the TLS diagnosis when the CA is wrong.
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { WorkflowHandle } from '@temporalio/client';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  writeKeyPair,
} from '../../src/tls/certificates';
import type { RunbookStep } from '../../workflows/shared/input';
import { metricsUrlOf, spawnMedic, writeWorkerConfig, type MedicProcess } from '../helpers/medic-process';
import { activityRunning, leanTestBed, startGeneralWorker } from '../helpers/lean-worker';
import { eventually, temporalAddress, unique, workflowBundle } from '../helpers/temporal';

const bed = leanTestBed('lean-proc');
const procs: MedicProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});

const general = (dc: string) => startGeneralWorker(bed, dc);

interface NodeWorker {
  node: string;
  dc: string;
  p: MedicProcess;
  configDir: string;
}

function nodeWorker(
  extra: { grace?: string; address?: string; metrics?: string; temporal?: string; allowed?: string } = {},
): NodeWorker {
  const [node, dc] = [unique('leanp'), unique('dc')];
  const configDir = writeWorkerConfig(
    path.join(bed.dir, `config-${procs.length}`),
    [
      `datacenter = "${dc}"`,
      'node_type = "generic"',
      `node = "${node}"`,
      'role = "node"',
      `shutdown_grace = "${extra.grace ?? '30s'}"`,
      `allowed_commands = [${extra.allowed ?? '"/usr/bin/sleep"'}]`,
      'reboot_dry_run = true',
      extra.metrics ? `metrics_listen = "${extra.metrics}"` : '',
    ].join('\n'),
    `temporal {\n  address = "${extra.address ?? temporalAddress()}"\n${extra.temporal ?? ''}}\n`,
  );
  const p = spawnMedic(['worker', '--config', configDir, '--workflow-bundle', workflowBundle().codePath]);
  procs.push(p);
  return { node, dc, p, configDir };
}

function startRunbook(w: { node: string; dc: string }, steps: RunbookStep[]): Promise<WorkflowHandle> {
  return bed.client.workflow.start('runbook', {
    taskQueue: generalQueue(w.dc),
    workflowId: unique('leanp'),
    workflowExecutionTimeout: '5m',
    args: [
      { workflow: 'leanProc', target: { node: w.node, datacenter: w.dc }, params: {}, steps, activityQueue: nodeQueue(w.node) },
    ],
  });
}

const sleepStep = (seconds: number): RunbookStep[] => [
  { name: 'sleep', kind: 'command', command: '/usr/bin/sleep', args: [String(seconds)] },
];

const events = async (h: WorkflowHandle) => (await h.fetchHistory()).events ?? [];

/** A TCP front end to the dev server that can be taken down (dropping every connection) and up again. */
async function frontEnd(make?: () => net.Server) {
  const [host, port] = temporalAddress().split(':');
  const sockets = new Set<net.Socket>();
  let up = true;
  const relay = (sock: net.Socket): void => {
    if (!up) return void sock.destroy();
    const upstream = net.connect(Number(port), host);
    for (const s of [sock, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    sock.pipe(upstream).pipe(sock);
    sock.on('error', () => upstream.destroy());
    upstream.on('error', () => sock.destroy());
  };
  const server = make ? make() : net.createServer(relay);
  if (make) server.on('secureConnection', relay);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  bed.cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    down() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    up() {
      up = true;
    },
  };
}

it('finishes the running activity on SIGTERM, then exits 0', async () => {
  const w = nodeWorker();
  await general(w.dc);
  await w.p.waitFor(/msg="polling"/);
  const h = await startRunbook(w, sleepStep(3));
  await activityRunning(h);
  w.p.child.kill('SIGTERM');
  expect(await w.p.exited).toBe(0);
  expect(w.p.output()).toMatch(/msg="stopping: draining running activities" grace=30s/);
  expect((await events(h)).some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
  await expect(h.result()).resolves.toMatchObject({ outcome: 'healed' });
});

it('exits 0 after the grace period, the running activity cancelled and left to be retried', async () => {
  const w = nodeWorker({ grace: '1s' });
  await general(w.dc);
  await w.p.waitFor(/msg="polling"/);
  const h = await startRunbook(w, sleepStep(120));
  await activityRunning(h);
  w.p.child.kill('SIGTERM');
  expect(await w.p.exited).toBe(0);
  expect(w.p.output()).toMatch(/msg="shutdown grace over: cancelling running activities"/);
  const pending = await eventually(
    async () => (await h.describe()).raw.pendingActivities?.find((a) => a.lastFailure)?.lastFailure ?? undefined,
    30_000,
    'the retryable failure',
  );
  expect(pending.applicationFailureInfo?.type).toBe('WorkerShutdown');
  await h.terminate();
});

it('reloads worker.hcl on SIGHUP without dropping the running activity', async () => {
  const w = nodeWorker();
  await general(w.dc);
  await w.p.waitFor(/msg="polling"/);
  const h = await startRunbook(w, sleepStep(4));
  await activityRunning(h);
  const hcl = path.join(w.configDir, 'worker.hcl');
  fs.writeFileSync(hcl, fs.readFileSync(hcl, 'utf8').replace('["/usr/bin/sleep"]', '["/usr/bin/sleep", "/usr/bin/true"]'));
  w.p.child.kill('SIGHUP');
  await w.p.waitFor(/msg="reloaded worker.hcl"/);
  await expect(h.result()).resolves.toMatchObject({ outcome: 'healed' });
  const next = await startRunbook(w, [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }]);
  await expect(next.result()).resolves.toMatchObject({ outcome: 'healed' });
  fs.writeFileSync(hcl, 'worker {');
  w.p.child.kill('SIGHUP');
  await w.p.waitFor(/msg="reload failed; the previous worker.hcl stays in force"/);
  w.p.child.kill('SIGTERM');
  expect(await w.p.exited).toBe(0);
});

it('serves its counters on metrics_listen and polls again after Temporal went away', async () => {
  const fe = await frontEnd();
  const w = nodeWorker({ address: fe.address, metrics: '127.0.0.1:0', allowed: '"/usr/bin/true"' });
  await general(w.dc);
  await w.p.waitFor(/msg="polling"/);
  const url = await metricsUrlOf(w.p);
  const step: RunbookStep[] = [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }];
  await expect((await startRunbook(w, step)).result()).resolves.toMatchObject({ outcome: 'healed' });

  const queue = `task_queue="${nodeQueue(w.node)}"`;
  // The worker counts a completion once Temporal has answered its report, which can come after
  // the workflow (woken by that report) has already ended: wait for the count, then check it exactly.
  const completed = `medic_worker_activity_tasks_completed_total{${queue}}`;
  const text = await eventually(
    async () => {
      const t = await (await fetch(url)).text();
      return t.includes(completed) ? t : undefined;
    },
    15_000,
    'the completion to be counted',
  );
  expect(text).toContain(`medic_worker_activity_tasks_started_total{${queue}} 1`);
  expect(text).toContain(`medic_worker_activity_tasks_completed_total{${queue}} 1`);
  expect(text).toMatch(new RegExp(`medic_worker_task_queues\\{[^}]*node="${w.node}"[^}]*\\} 2`));
  expect(text).toContain('# TYPE medic_worker_activity_polls_total counter');

  // Temporal goes away: polls fail and back off, then it returns and the worker serves again.
  fe.down();
  await w.p.waitFor(/msg="cannot poll Temporal; retrying"/, 60_000);
  fe.up();
  await w.p.waitFor(/msg="polling again"/, 90_000);
  await expect((await startRunbook(w, step)).result()).resolves.toMatchObject({ outcome: 'healed' });
  expect(await (await fetch(url)).text()).toMatch(/medic_worker_activity_poll_errors_total\{[^}]*\} [1-9]/);
  w.p.child.kill('SIGTERM');
  expect(await w.p.exited).toBe(0);
}, 180_000);

describe('TLS', () => {
  const ca = createCertificateAuthority('lean test CA');
  const otherCa = createCertificateAuthority('some other CA');

  /** A TLS front end like Temporal's with mTLS: server certificate for temporal.test, client certificates of `ca`. */
  async function tlsFrontEnd(seen: string[]) {
    const pair = issueServerCertificate(ca, { dnsNames: ['temporal.test'], ipAddresses: [] });
    return frontEnd(() => {
      const server = tls.createServer({
        key: pair.key,
        cert: pair.cert,
        ca: ca.cert,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      });
      server.on('secureConnection', (s) => seen.push(String(s.getPeerCertificate().subjectaltname)));
      server.on('tlsClientError', () => {});
      return server as unknown as net.Server;
    });
  }

  function tlsBlock(caPem: string): string {
    fs.writeFileSync(path.join(bed.dir, 'ca.pem'), caPem);
    const files = writeKeyPair(bed.dir, 'node', issueClientCertificate(ca, 'spiffe://medic.test/node'));
    return `  tls {\n    ca_file = "${path.join(bed.dir, 'ca.pem')}"\n    cert_file = "${files.certFile}"\n    key_file = "${files.keyFile}"\n    server_name = "temporal.test"\n  }\n`;
  }

  it('polls and runs activities over mTLS', async () => {
    const seen: string[] = [];
    const fe = await tlsFrontEnd(seen);
    const w = nodeWorker({ address: fe.address, temporal: tlsBlock(ca.cert), allowed: '"/usr/bin/true"' });
    await general(w.dc);
    await w.p.waitFor(/msg="polling"/);
    const h = await startRunbook(w, [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }]);
    await expect(h.result()).resolves.toMatchObject({ outcome: 'healed' });
    expect(seen[0]).toBe('URI:spiffe://medic.test/node');
    w.p.child.kill('SIGTERM');
    expect(await w.p.exited).toBe(0);
  });

  /**
   * A gRPC front end (HTTP/2 over TLS, certificate for temporal.test) that relays every call to
   * the dev server and keeps the Authorization header of each.
   */
  async function grpcFrontEnd(seen: string[]): Promise<string> {
    const pair = issueServerCertificate(ca, { dnsNames: ['temporal.test'], ipAddresses: [] });
    const upstream = http2.connect(`http://${temporalAddress()}`);
    const server = http2.createSecureServer({ key: pair.key, cert: pair.cert });
    server.on('stream', (stream, headers) => {
      seen.push(String(headers.authorization ?? ''));
      const forward: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') || k === ':path' || k === ':method') forward[k] = v;
      const call = upstream.request(forward);
      let trailers: http2.IncomingHttpHeaders = {};
      call.on('response', (h) => {
        // A trailers-only answer (an error) ends with its headers.
        if (h['grpc-status'] !== undefined) stream.respond(h, { endStream: true });
        else stream.respond(h, { waitForTrailers: true });
      });
      call.on('trailers', (t) => (trailers = t));
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.pipe(call);
      call.pipe(stream);
      call.on('error', () => stream.destroy());
      stream.on('error', () => call.destroy());
      stream.on('close', () => call.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    bed.cleanups.push(async () => {
      upstream.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  it('sends api_key_file as Authorization: Bearer on every call, a rotated key without a restart', async () => {
    const seen: string[] = [];
    const address = await grpcFrontEnd(seen);
    fs.writeFileSync(path.join(bed.dir, 'ca.pem'), ca.cert);
    const keyFile = path.join(bed.dir, 'api.key');
    fs.writeFileSync(keyFile, 'key-one\n', { mode: 0o600 });
    const w = nodeWorker({
      address,
      allowed: '"/usr/bin/true"',
      temporal: `  api_key_file = "${keyFile}"\n  tls {\n    ca_file = "${path.join(bed.dir, 'ca.pem')}"\n    server_name = "temporal.test"\n  }\n`,
    });
    await general(w.dc);
    await w.p.waitFor(/msg="polling"/);
    const step: RunbookStep[] = [{ name: 'true', kind: 'command', command: '/usr/bin/true', args: [] }];
    await expect((await startRunbook(w, step)).result()).resolves.toMatchObject({ outcome: 'healed' });
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set(['Bearer key-one']));

    fs.writeFileSync(keyFile, 'key-two\n');
    fs.utimesSync(keyFile, new Date(), new Date(Date.now() + 5000));
    // The polls waiting now were sent with the old key; the next calls carry the new one.
    await expect((await startRunbook(w, step)).result()).resolves.toMatchObject({ outcome: 'healed' });
    await eventually(async () => (seen.includes('Bearer key-two') ? true : undefined), 90_000, 'a call with the rotated key');
    w.p.child.kill('SIGTERM');
    expect(await w.p.exited).toBe(0);
  }, 180_000);

  it('stops with the TLS diagnosis when the server certificate is not signed by ca_file', async () => {
    const fe = await tlsFrontEnd([]);
    const w = nodeWorker({ address: fe.address, temporal: tlsBlock(otherCa.cert) });
    expect(await w.p.exited).toBe(1);
    expect(w.p.output()).toMatch(/msg="cannot connect to Temporal".*certificate is not trusted: it is not signed by ca_file/);
  });
});
