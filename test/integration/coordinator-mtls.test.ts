// The ACL matrix over real TLS with certificates made by the test: no certificate, a client
// from another CA, an expired client, a client with another SPIFFE ID, an allowed client, and
// a public route; the coordinator listens on a loopback port with mTLS.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Agent } from 'node:https';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  type CertificateAuthority,
} from '../../src/tls/certificates';
import { runCoordinator } from '../../src/coordinator/server';
import type { AuditEntry } from '../../src/telemetry/audit';
import {
  ADMIN,
  STRANGER,
  coordinatorConfig,
  testCoordinator,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { request, tlsAgent } from '../helpers/https';
import { waitFor } from '../helpers/wait';
import { tlsCallerIdentity } from '../../src/coordinator/identity';
import { unique } from '../helpers/temporal';

let ca: CertificateAuthority;
let c: TestCoordinator;
let base: string;
const agents: Record<string, Agent> = {};

beforeAll(async () => {
  ca = createCertificateAuthority('medic test CA');
  const otherCa = createCertificateAuthority('someone else');
  const server = issueServerCertificate(ca);
  const tls = (pair?: { cert: string; key: string }) => tlsAgent({ ca: ca.cert, ...pair });
  agents.none = tls();
  agents.allowed = tls(issueClientCertificate(ca, ADMIN));
  agents.otherId = tls(issueClientCertificate(ca, STRANGER));
  agents.otherCa = tls(issueClientCertificate(otherCa, ADMIN));
  agents.expired = tls(
    issueClientCertificate(ca, ADMIN, { notBefore: new Date('2020-01-01'), notAfter: new Date('2020-06-01') }),
  );
  c = await testCoordinator([workflowConfig('pingNode')], {
    deps: { identify: tlsCallerIdentity, https: { key: server.key, cert: server.cert, ca: ca.cert } },
  });
  await c.app.listen({ host: '127.0.0.1', port: 0 });
  base = `https://127.0.0.1:${(c.app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  Object.values(agents).forEach((a) => a.destroy());
  await c.close();
});

describe('mTLS and the ACL over real TLS', () => {
  it.each<[string, string, number, string | null, string | undefined]>([
    // caller, certificate, status of a trigger dry run, identity seen, certificate problem
    ['allowed SPIFFE ID', 'allowed', 200, ADMIN, undefined],
    ['another SPIFFE ID', 'otherId', 403, STRANGER, undefined],
    ['no client certificate', 'none', 403, null, undefined],
    ['a client certificate from another CA', 'otherCa', 403, null, 'certificate not verified'],
    ['an expired client certificate', 'expired', 403, null, 'certificate not verified (CERT_HAS_EXPIRED)'],
  ])('%s', async (_d, agent, status, identity, problem) => {
    const res = await request(agents[agent]!, 'POST', `${base}/v1/workflows/pingNode/executions?dry_run=true`, {
      target: { node: unique('tls') },
    });
    expect(res.status).toBe(status);
    if (status === 403) {
      const body = res.json<{ error: string; details: Record<string, unknown> }>();
      expect(body.error).toBe('forbidden');
      if (identity === null) {
        // An anonymous caller learns nothing about the rules.
        expect(res.json()).toMatchObject({ message: 'forbidden' });
        expect(body.details.identity).toBeUndefined();
        expect(body.details.rules_consulted).toBeUndefined();
      } else expect(body.details.identity).toBe(identity);
      if (problem) expect(String(body.details.certificate)).toContain(problem);
      else expect(body.details.certificate).toBeUndefined();
      // Never the identities a rule admits.
      expect(res.body).not.toContain('sre-admin');
      expect(res.body).not.toContain('spiffe://medic.test/trigger');
    } else {
      expect(res.json()).toMatchObject({ status: 'dry_run' });
    }
  });

  it.each(['allowed', 'otherId', 'none', 'otherCa', 'expired'])('the public route answers every caller (%s)', async (agent) => {
    const res = await request(agents[agent]!, 'GET', `${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('the allowed caller reads through the same connection again (identity cached per connection)', async () => {
    for (let i = 0; i < 3; i++) expect((await request(agents.allowed!, 'GET', `${base}/v1/workflows`)).status).toBe(200);
  });

  it('audits the identity from the certificate', () => {
    const denied = c.audit.filter((e: AuditEntry) => e.decision === 'denied');
    expect(denied.map((e) => e.identity)).toEqual(expect.arrayContaining([STRANGER, null]));
  });
});

describe('runCoordinator', () => {
  it('refuses enable_tls = false without the development flag', async () => {
    const controller = new AbortController();
    await expect(
      runCoordinator({
        config: { coordinator: coordinatorConfig({ enableTls: false }), workflows: new Map() },
        signal: controller.signal,
        log: () => undefined,
      }),
    ).rejects.toThrow(/--insecure-no-tls/);
  });

  it('with the flag, serves plain HTTP, warns loudly, and admits only allow_public routes', async () => {
    const controller = new AbortController();
    const logs: string[] = [];
    let port = 0;
    const listening = new Promise<void>((resolve) => {
      void runCoordinator({
        config: {
          coordinator: coordinatorConfig({ enableTls: false }),
          workflows: new Map([['pingNode', workflowConfig('pingNode')]]),
        },
        insecureNoTls: true,
        signal: controller.signal,
        audit: () => undefined,
        log: (m) => logs.push(m),
        onListening: (a) => {
          port = a.port;
          resolve();
        },
      });
    });
    await listening;
    try {
      expect(logs.join('\n')).toContain('TLS IS OFF');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/v1/workflows`)).status).toBe(403);
    } finally {
      controller.abort();
    }
  });

  it('reloads route rules, workflows and certificates, and keeps the running config when a reload fails', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-reload-'));
    const write = (name: string, pem: string) => {
      fs.writeFileSync(path.join(dir, name), pem);
      return path.join(dir, name);
    };
    const server = issueServerCertificate(ca);
    const tlsFiles = {
      certFile: write('server.pem', server.cert),
      keyFile: write('server-key.pem', server.key),
      clientCaFile: write('ca.pem', ca.cert),
    };
    const first = {
      coordinator: coordinatorConfig({ enableTls: true, ...tlsFiles }),
      workflows: new Map([['pingNode', workflowConfig('pingNode')]]),
    };
    let next: typeof first | Error = first;
    const reloaders: Array<() => void> = [];
    const logs: string[] = [];
    const controller = new AbortController();
    let port = 0;
    await new Promise<void>((resolve) => {
      void runCoordinator({
        config: first,
        signal: controller.signal,
        reload: async () => {
          if (next instanceof Error) throw next;
          return next;
        },
        onReload: (h) => reloaders.push(h),
        audit: () => undefined,
        log: (m) => logs.push(m),
        onListening: (a) => {
          port = a.port;
          resolve();
        },
      });
    });
    /** Asks every reload hook to reload; resolves once the coordinator has logged the outcome. */
    const reload = async () => {
      const outcomes = () => logs.filter((l) => l.startsWith('configuration reload')).length;
      const before = outcomes();
      reloaders.forEach((h) => h());
      await waitFor('the reload to be logged', () => (outcomes() > before ? true : undefined), 15_000, 20);
    };
    const names = async () =>
      (await request(agents.allowed!, 'GET', `https://127.0.0.1:${port}/v1/workflows`))
        .json<{ workflows: Array<{ name: string }> }>()
        .workflows.map((w) => w.name);
    try {
      expect(await names()).toEqual(['pingNode']);
      next = { ...first, workflows: new Map([...first.workflows, ['cleanDisk', workflowConfig('cleanDisk')]]) };
      await reload();
      expect(await names()).toEqual(['cleanDisk', 'pingNode']);
      expect(logs.join('\n')).toContain('configuration reloaded: 2 workflows');

      next = new Error('workflows/bad.hcl:3,1: Invalid expression');
      await reload();
      expect(logs.at(-1)).toContain('reload failed, keeping the running configuration');
      expect(await names()).toEqual(['cleanDisk', 'pingNode']);

      // A CA rotation closes the keep-alive connections authenticated under the old CA: the
      // next request handshakes again, and a certificate of the old CA no longer identifies.
      write('ca.pem', createCertificateAuthority('rotated CA').cert);
      next = { ...first, workflows: new Map([...first.workflows, ['cleanDisk', workflowConfig('cleanDisk')]]) };
      await reload();
      expect(logs.join('\n')).toMatch(/client CA changed: closed [1-9]\d* connections/);
      // A pooled connection the server has just closed may still be handed out: such a request
      // is reset ("socket hang up") before it reaches the server, and is sent again, as any
      // keep-alive client does for an idempotent GET.
      const get = (): ReturnType<typeof request> => request(agents.allowed!, 'GET', `https://127.0.0.1:${port}/v1/workflows`);
      const after = await get().catch((err: Error) => {
        if (!/socket hang up|ECONNRESET/.test(err.message)) throw err;
        return get();
      });
      expect(after.status).toBe(403);
    } finally {
      controller.abort();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
