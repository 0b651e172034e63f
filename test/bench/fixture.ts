// What the benchmarks share: their own Temporal dev server, certificates, a config directory,
// coordinator processes (the built `medic coordinator`), and an mTLS HTTPS client.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureTemporalBinary } from '../../src/temporal/binary';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { writeDevCertificates, type DevCertificates } from '../../src/tls/certificates';
import { packageRoot } from '../../src/paths';
import { request, tlsAgent } from '../helpers/https';

export { request };

export const BENCH_CALLER = 'spiffe://medic.bench/trigger/bench';

export async function benchTemporal(): Promise<DevServer> {
  const binary = await ensureTemporalBinary();
  return startDevServer({ binary });
}

export function benchDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `medic-${name}-`));
}

export function benchCertificates(dir: string): DevCertificates {
  return writeDevCertificates(path.join(dir, 'tls'), { caller: BENCH_CALLER });
}

/** Writes coordinator.hcl (listening on `port`) and one workflows/<name>.hcl per entry. */
export function writeConfig(
  dir: string,
  certs: DevCertificates,
  temporal: string,
  port: number,
  workflows: Record<string, string>,
): string {
  const config = path.join(dir, 'config');
  fs.mkdirSync(path.join(config, 'workflows'), { recursive: true });
  fs.writeFileSync(
    path.join(config, 'coordinator.hcl'),
    `server_config {
  listen         = "127.0.0.1:${port}"
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
}
${process.env.BENCH_VISIBILITY_QPS ? `admission {\n  visibility_qps = ${Number(process.env.BENCH_VISIBILITY_QPS)}\n}\n` : ''}temporal {
  address   = "${temporal}"
  namespace = "default"
}
`,
  );
  for (const [name, body] of Object.entries(workflows)) fs.writeFileSync(path.join(config, 'workflows', `${name}.hcl`), body);
  return config;
}

export interface CoordinatorProcess {
  port: number;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `medic coordinator` (from dist/) as its own process and waits until /readyz answers 200. */
export async function startCoordinatorProcess(configDir: string, port: number, agent: https.Agent): Promise<CoordinatorProcess> {
  const entry = path.join(packageRoot(), 'dist', 'cmd', 'medic.js');
  const child = spawn(process.execPath, [entry, 'coordinator', '--config', configDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const url = `https://127.0.0.1:${port}`;
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`coordinator on ${port} exited (${code ?? signal}):\n${stderr}\n`);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`coordinator exited with ${child.exitCode}:\n${stderr}`);
    const r = await request(agent, 'GET', `${url}/readyz`).catch(() => undefined);
    if (r?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`coordinator on ${port} not ready:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    port,
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        stopping = true;
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
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

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export { freePort };
