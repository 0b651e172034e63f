// A real medic stack for end-to-end tests and benchmarks: generated certificates, a config
// directory, and the built `medic` binary running the coordinator (and, when asked, the
// trigger daemon) against a real Temporal server.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../../src/client/coordinator-client';
import { freePort } from '../../src/temporal/dev-server';
import { packageRoot } from '../../src/paths';
import { writeDevCertificates, type DevCertificates } from '../../src/tls/certificates';
import { startProcess, type Proc } from './processes';

export const ROOT = packageRoot();
export const MEDIC = path.join(ROOT, 'dist', 'cmd', 'medic.js');

export const IDS = {
  admin: 'spiffe://medic.dev/sre-admin',
  trigger: 'spiffe://medic.dev/trigger/e2e',
  alertmanager: 'spiffe://medic.dev/alertmanager',
} as const;

export interface Stack {
  dir: string;
  certs: DevCertificates;
  coordinatorUrl: string;
  coordinator?: Proc;
  /** A client with the given identity's certificate. */
  client(who: keyof typeof IDS): CoordinatorClient;
  startCoordinator(): Promise<Proc>;
  medic(args: string[], env?: NodeJS.ProcessEnv): Proc;
  stop(): Promise<void>;
}

export interface StackOptions {
  temporalAddress: string;
  /** workflows/<name>.hcl files: name -> HCL text. */
  workflows: Record<string, string>;
  /** Extra text for coordinator.hcl (after server_config), e.g. alertmanager { ... }. */
  coordinatorExtra?: string;
  /** triggers/<name>.hcl files. */
  triggers?: Record<string, string>;
  /** Extra files in the config dir (relative path -> text). */
  files?: Record<string, string>;
  /** When set, Alertmanager's identity is admitted to these route patterns only (else to /v1/*). */
  alertmanagerPatterns?: string[];
  /** The whole temporal block (e.g. with tls) instead of `temporal { address = ... }`. */
  temporalBlock?: string;
}

export async function buildStack(opts: StackOptions): Promise<Stack> {
  if (!fs.existsSync(MEDIC)) throw new Error(`${MEDIC} is missing: run npm run build (npm test does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-e2e-'));
  const certs = writeDevCertificates(path.join(dir, 'tls'), IDS);
  const port = await freePort();
  const coordinatorUrl = `https://127.0.0.1:${port}`;
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write(
    'coordinator.hcl',
    `server_config {
  listen         = "127.0.0.1:${port}"
  cert_file      = "tls/server.pem"
  key_file       = "tls/server-key.pem"
  client_ca_file = "tls/ca.pem"
  route_rule {
    name           = "callers"
    method         = "*"
    route_patterns = ["/v1/*"]
    uris           = ["${IDS.admin}", "spiffe://medic.dev/trigger/*"${opts.alertmanagerPatterns ? '' : `, "${IDS.alertmanager}"`}]
  }
  route_rule {
    name           = "alertmanager"
    method         = "POST"
    route_patterns = ${JSON.stringify(opts.alertmanagerPatterns ?? ['/v1/*'])}
    uris           = ["${IDS.alertmanager}"]
  }
  route_rule {
    name           = "public"
    method         = "*"
    route_patterns = ["/metrics", "/healthz", "/readyz", "/v1/chat/slack"]
    uris           = []
    allow_public   = true
    skip_log_match = true
  }
}
${opts.temporalBlock ?? `temporal { address = "${opts.temporalAddress}" }`}
${opts.coordinatorExtra ?? ''}
`,
  );
  for (const [name, text] of Object.entries(opts.workflows)) write(`workflows/${name}.hcl`, text);
  for (const [name, text] of Object.entries(opts.triggers ?? {})) write(`triggers/${name}.hcl`, text);
  for (const [rel, text] of Object.entries(opts.files ?? {})) write(rel, text);

  const clients: CoordinatorClient[] = [];
  const procs: Proc[] = [];
  const stack: Stack = {
    dir,
    certs,
    coordinatorUrl,
    client(who) {
      const c = certs.clients[who]!;
      const client = new CoordinatorClient({
        address: coordinatorUrl,
        caFile: certs.caFile,
        certFile: c.certFile,
        keyFile: c.keyFile,
      });
      clients.push(client);
      return client;
    },
    medic(args, env = {}) {
      const p = startProcess(process.execPath, [MEDIC, ...args], { MEDIC_LOG_LEVEL: 'info', ...env });
      procs.push(p);
      return p;
    },
    async startCoordinator() {
      const proc = stack.medic(['coordinator', '--config', dir]);
      stack.coordinator = proc;
      const probe = stack.client('admin');
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (proc.child.exitCode !== null) throw new Error(`coordinator exited (${proc.child.exitCode}):\n${proc.output()}`);
        try {
          if ((await probe.request('GET', '/readyz')).status === 200) return proc;
        } catch {}
        if (Date.now() > deadline) throw new Error(`coordinator not ready within 30 s:\n${proc.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      for (const c of clients) c.close();
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
  return stack;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `medic` CLI as the stack's admin client (mTLS to its coordinator); never rejects. */
export function runMedicCli(stack: Stack, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const admin = stack.certs.clients.admin!;
  const tls = [
    '--coordinator',
    stack.coordinatorUrl,
    '--cert',
    admin.certFile,
    '--key',
    admin.keyFile,
    '--ca',
    stack.certs.caFile,
  ];
  return new Promise((resolve) => {
    execFile(process.execPath, [MEDIC, ...args, ...tls], { cwd: ROOT, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
