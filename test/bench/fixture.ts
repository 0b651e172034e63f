// What the benchmarks share: their own Temporal dev server, certificates, a config directory,
// coordinator processes (the built `medic coordinator`), and an mTLS HTTPS client.
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTemporalBinary } from '../../src/temporal/binary';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { writeDevCertificates, type DevCertificates } from '../../src/tls/certificates';
import { request, tlsAgent } from '../helpers/https';
import { startCoordinator, type Proc } from '../helpers/medic-process';
import { prepareForMedic, sdkTls, temporalBlock, type ClusterEnv } from '../helpers/cluster';
import { startCluster } from '../setup/cluster/cluster';

export { request };

export const BENCH_CALLER = 'spiffe://medic.bench/trigger/bench';

/** The Temporal a bench runs against: the dev server, or the production-shaped cluster. */
export interface BenchTemporal {
  address: string;
  /** What the figures were measured on, for the bench's output. */
  label: string;
  namespace: string;
  /** mTLS files (cluster only). */
  tls?: ClusterEnv['tls'];
  /** The `temporal { ... }` block of coordinator.hcl for it. */
  block: string;
  connect(): Promise<Connection>;
  stop(): Promise<void>;
}

/**
 * MEDIC_BENCH_TARGET=cluster: a Temporal server on PostgreSQL with frontend mTLS, started for the
 * bench (test/setup/cluster/); MEDIC_BENCH_CLUSTER_FILE=<cluster.json>: the one that
 * `npm run provision:cluster -- --up` keeps running. Otherwise the dev server (SQLite).
 */
export async function benchTemporal(): Promise<BenchTemporal> {
  const file = process.env.MEDIC_BENCH_CLUSTER_FILE;
  if (file || process.env.MEDIC_BENCH_TARGET === 'cluster') {
    const running = file ? (JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterEnv) : undefined;
    const cluster = running ? undefined : await startCluster({ log: (l) => void process.stderr.write(`[cluster] ${l}\n`) });
    const env: ClusterEnv = running ?? { address: cluster!.address, namespace: cluster!.namespace, tls: cluster!.tls };
    await prepareForMedic(env);
    return {
      address: env.address,
      label: 'cluster (PostgreSQL, mTLS)',
      namespace: env.namespace,
      tls: env.tls,
      block: temporalBlock(env),
      connect: () => Connection.connect({ address: env.address, tls: sdkTls(env.tls) }),
      stop: async () => cluster?.stop(),
    };
  }
  const dev: DevServer = await startDevServer({ binary: await ensureTemporalBinary() });
  return {
    address: dev.address,
    label: 'dev server (SQLite)',
    namespace: 'default',
    block: `temporal {\n  address   = "${dev.address}"\n  namespace = "default"\n}\n`,
    connect: () => Connection.connect({ address: dev.address }),
    stop: () => dev.stop(),
  };
}

export function benchDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `medic-${name}-`));
}

export function benchCertificates(dir: string): DevCertificates {
  return writeDevCertificates(path.join(dir, 'tls'), { caller: BENCH_CALLER });
}

/** BENCH_BUDGETS=1 (or =compare, beside a coordinator without them): fleet budgets at every level, far above what the bench can reach (configured, never binding). */
const BENCH_BUDGETS = ['datacenter', 'node_type', 'global']
  .map((per) => `budget "bench-${per}" {\n  per = "${per}"\n  max = 100000\n}\n`)
  .join('');

/** BENCH_VISIBILITY_QPS=n sets admission.visibility_qps, BENCH_RECONCILE=<duration> admission.reconcile_interval ("0s": off). */
function admissionBlock(): string {
  const lines = [
    process.env.BENCH_VISIBILITY_QPS && `  visibility_qps = ${Number(process.env.BENCH_VISIBILITY_QPS)}`,
    process.env.BENCH_RECONCILE && `  reconcile_interval = ${JSON.stringify(process.env.BENCH_RECONCILE)}`,
  ].filter(Boolean);
  return lines.length ? `admission {\n${lines.join('\n')}\n}\n` : '';
}

/** Writes coordinator.hcl (listening on port 0) and one workflows/<name>.hcl per entry; `budgets` adds BENCH_BUDGETS; `rules`: more route_rule blocks. */
export function writeConfig(
  dir: string,
  certs: DevCertificates,
  temporal: BenchTemporal,
  workflows: Record<string, string>,
  budgets = process.env.BENCH_BUDGETS === '1',
  rules = '',
): string {
  const config = path.join(dir, 'config');
  fs.mkdirSync(path.join(config, 'workflows'), { recursive: true });
  fs.writeFileSync(
    path.join(config, 'coordinator.hcl'),
    `server_config {
  listen         = "127.0.0.1:0"
  enable_tls     = true
  cert_file      = "${certs.server.certFile}"
  key_file       = "${certs.server.keyFile}"
  client_ca_file = "${certs.caFile}"
  route_rule {
    name           = "bench"
    method         = "*"
    route_patterns = ["/v1/*"]
    uris           = ["spiffe://medic.bench/trigger/*"]
  }
  route_rule {
    name           = "public"
    method         = "GET"
    route_patterns = ["/healthz", "/readyz", "/metrics"]
    allow_public   = true
    skip_log_match = true
  }
${rules}}
${admissionBlock()}${budgets ? BENCH_BUDGETS : ''}${temporal.block}`,
  );
  for (const [name, body] of Object.entries(workflows)) fs.writeFileSync(path.join(config, 'workflows', `${name}.hcl`), body);
  return config;
}

export interface CoordinatorProcess {
  port: number;
  url: string;
  proc: Proc;
  stop(): Promise<void>;
  /** SIGKILL, on purpose (its output is not printed). */
  kill(): Promise<void>;
}

/** Starts `medic coordinator` (from dist/) on port 0 and waits until /readyz answers 200. */
export async function startCoordinatorProcess(configDir: string, medic?: string): Promise<CoordinatorProcess> {
  const { proc, url, port } = await startCoordinator(configDir, { medic });
  let stopping = false;
  void proc.exited.then((code) => {
    if (!stopping) process.stderr.write(`coordinator on ${port} exited (${code}):\n${proc.output().slice(-4000)}\n`);
  });
  return {
    port,
    url,
    proc,
    stop: () => {
      stopping = true;
      return proc.stop();
    },
    kill: () => {
      stopping = true;
      return proc.kill();
    },
  };
}

export function clientAgent(certs: DevCertificates, maxSockets: number): https.Agent {
  const c = certs.clients.caller!;
  return tlsAgent(
    { ca: fs.readFileSync(certs.caFile), cert: fs.readFileSync(c.certFile), key: fs.readFileSync(c.keyFile) },
    maxSockets,
  );
}

/** Runs `total` calls of `fn` with `concurrency` callers; returns wall time and sorted latencies (ms). */
export async function drive(
  total: number,
  concurrency: number,
  fn: (i: number) => Promise<void>,
): Promise<{ seconds: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t = process.hrtime.bigint();
        await fn(i);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, latencies };
}

/** A `constraint { }` block of a workflow's HCL. */
export function constraintHcl(kind: string, value: number, period: string, global = false): string {
  return `constraint {\n  kind = "${kind}"\n  value = "${value}"\n  period = "${period}"\n${global ? '  is_global = true\n' : ''}}\n`;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A counter's samples in a Prometheus text exposition, by their `method` label. */
export function byMethod(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const l of text.split('\n')) {
    if (!l.startsWith(`${name}{`) && !l.startsWith(`${name} `)) continue;
    const method = /method="([^"]*)"/.exec(l)?.[1] ?? '';
    out.set(method, (out.get(method) ?? 0) + Number(l.split(' ').pop()));
  }
  return out;
}
