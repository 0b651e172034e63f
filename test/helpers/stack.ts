// A real medic stack for end-to-end tests and benchmarks: generated certificates, a config
// directory, and the built `medic` binary running the coordinator (and, when asked, the
// trigger daemon) against a real Temporal server. The coordinator binds port 0: its URL is known
// once startCoordinator() has read the bound port from its output.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../../src/client/coordinator-client';
import { writeDevCertificates, type DevCertificates } from '../../src/tls/certificates';
import {
  MEDIC,
  ROOT,
  spawnMedic,
  startCoordinator,
  startTrigger,
  type Coordinator,
  type Proc,
  type Trigger,
} from './medic-process';

export { MEDIC, ROOT };

export const IDS = {
  admin: 'spiffe://medic.dev/sre-admin',
  trigger: 'spiffe://medic.dev/trigger/e2e',
  alertmanager: 'spiffe://medic.dev/alertmanager',
} as const;

export interface Stack {
  dir: string;
  certs: DevCertificates;
  /** https://127.0.0.1:PORT, once startCoordinator() has answered (throws before). */
  readonly coordinatorUrl: string;
  coordinator?: Proc;
  /** A client with the given identity's certificate, of the stack's coordinator or of `address` (a replica's URL). */
  /** A CLI client as `who`; `timeoutMs` bounds one answer (10 s by default). */
  client(who: keyof typeof IDS, address?: string, timeoutMs?: number): CoordinatorClient;
  startCoordinator(): Promise<Proc>;
  /** Another `medic coordinator` process on the same config dir (its own port), with extra environment; stopped with the stack. */
  startReplica(env?: NodeJS.ProcessEnv): Promise<Coordinator>;
  /** `medic trigger --config DIR` with /metrics on a port-0 listener; stopped with the stack. */
  startTrigger(args?: string[]): Promise<Trigger>;
  medic(args: string[], env?: NodeJS.ProcessEnv): Proc;
  stop(): Promise<void>;
}

export interface StackOptions {
  temporalAddress: string;
  /** workflows/<name>.hcl files: name -> HCL text. */
  workflows: Record<string, string>;
  /** Extra text for coordinator.hcl (after server_config), e.g. alertmanager { ... }. */
  coordinatorExtra?: string;
  /**
   * triggers/<name>.hcl files, written once the coordinator listens, with "COORDINATOR" replaced
   * by its URL (the coordinator checks them too, so they cannot wait with a placeholder).
   */
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
  let coordinatorUrl: string | undefined;
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write(
    'coordinator.hcl',
    `server_config {
  listen         = "127.0.0.1:0"
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
  for (const [rel, text] of Object.entries(opts.files ?? {})) write(rel, text);

  const clients: CoordinatorClient[] = [];
  const procs: Proc[] = [];
  const url = (): string => {
    if (!coordinatorUrl) throw new Error('the coordinator URL is known once stack.startCoordinator() has answered (port 0)');
    return coordinatorUrl;
  };
  const stack: Stack = {
    dir,
    certs,
    get coordinatorUrl() {
      return url();
    },
    client(who, address, timeoutMs) {
      const c = certs.clients[who]!;
      const client = new CoordinatorClient({
        address: address ?? url(),
        ...(timeoutMs !== undefined && { timeoutMs }),
        caFile: certs.caFile,
        certFile: c.certFile,
        keyFile: c.keyFile,
      });
      clients.push(client);
      return client;
    },
    medic(args, env = {}) {
      const p = spawnMedic(args, env);
      procs.push(p);
      return p;
    },
    async startCoordinator() {
      const started = await startCoordinator(dir);
      procs.push(started.proc);
      stack.coordinator = started.proc;
      coordinatorUrl = started.url;
      for (const [name, text] of Object.entries(opts.triggers ?? {}))
        write(`triggers/${name}.hcl`, text.replaceAll('"COORDINATOR"', `"${coordinatorUrl}"`));
      return started.proc;
    },
    async startReplica(env = {}) {
      const started = await startCoordinator(dir, { env });
      procs.push(started.proc);
      return started;
    },
    async startTrigger(args = []) {
      const started = await startTrigger(dir, args);
      procs.push(started.proc);
      return started;
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
