// A real Prometheus (Debian's package, installed by .ci/run) on a free loopback port, with
// its own config and data directory, scraping the exporters a test names.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { startOnFreePort, startProcess, waitForHttp, type Proc } from './medic-process';

export const PROMETHEUS_BIN = process.env.MEDIC_PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export function requireBinary(bin: string, pkg: string): void {
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} is missing: install Debian's ${pkg} (apt-get install --no-install-recommends ${pkg}); .ci/run does`);
  }
}

export interface RunningPrometheus {
  address: string;
  port: number;
  proc: Proc;
  dataDir: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (after stop or kill). */
  restart(): Promise<void>;
}

export const PROMTOOL_BIN = process.env.MEDIC_PROMTOOL_BIN ?? '/usr/bin/promtool';

export async function startPrometheus(opts: {
  targets: string[];
  scrapeInterval?: string;
  port?: number;
  /** History to load before the start: OpenMetrics text, backfilled with `promtool tsdb create-blocks-from openmetrics`. */
  backfill?: string;
}): Promise<RunningPrometheus> {
  requireBinary(PROMETHEUS_BIN, 'prometheus');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-prom-'));
  if (opts.backfill !== undefined) {
    requireBinary(PROMTOOL_BIN, 'prometheus');
    const input = path.join(dir, 'backfill.om');
    fs.writeFileSync(input, opts.backfill);
    execFileSync(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', input, path.join(dir, 'data')], { stdio: 'pipe' });
  }
  const interval = opts.scrapeInterval ?? '1s';
  fs.writeFileSync(
    path.join(dir, 'prometheus.yml'),
    [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'scrape_configs:',
      '  - job_name: medic-e2e',
      '    honor_labels: true',
      '    static_configs:',
      `      - targets: [${opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  const args = (port: number) => [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ];
  const ready = (port: number, proc: Proc) => waitForHttp(`http://127.0.0.1:${port}/-/ready`, proc);
  const { port, proc } = opts.port
    ? { port: opts.port, proc: startProcess(PROMETHEUS_BIN, args(opts.port)) }
    : await startOnFreePort((p) => startProcess(PROMETHEUS_BIN, args(p)), ready);
  if (opts.port) await ready(port, proc);
  const running: RunningPrometheus = {
    address: `http://127.0.0.1:${port}`,
    port,
    dataDir: dir,
    proc,
    stop: () => running.proc.stop(),
    kill: () => running.proc.kill(),
    async restart() {
      running.proc = startProcess(PROMETHEUS_BIN, args(port));
      await ready(port, running.proc);
    },
  };
  return running;
}

/** A tiny exporter served with prom-client: one gauge whose value the test flips. */
export async function startExporter(metric: string, labels: Record<string, string>, initial: number) {
  const registry = new Registry();
  const gauge = new Gauge({
    name: metric,
    help: 'medic e2e test metric',
    labelNames: Object.keys(labels),
    registers: [registry],
  });
  gauge.set(labels, initial);
  const server = http.createServer((_req, res) => {
    registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    target: `127.0.0.1:${port}`,
    set: (v: number) => gauge.set(labels, v),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
