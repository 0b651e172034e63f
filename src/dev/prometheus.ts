// The Prometheus that `medic dev` runs: provisioned like the temporal CLI (an installed one,
// else .medic/bin/prometheus or the machine cache, else built from its Go module into the machine
// cache with progress), and
// configured to scrape the demo service and medic's own /metrics with medic's alert rules loaded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot, stateDir } from '../paths';
import { executable, findGo, goInstall, goToolPath, linkIntoCheckout, onPath, type Progress } from '../temporal/binary';

/** Prometheus 3.x (its Go module versions are v0.3xx for v3.xx). */
export const PROMETHEUS_MODULE = 'github.com/prometheus/prometheus/cmd/prometheus@v0.316.0';

export class PrometheusBinaryError extends Error {
  override name = 'PrometheusBinaryError';
}

/** An already available prometheus: $MEDIC_PROMETHEUS_BIN, Debian's, on PATH, or .medic/bin. */
export function findPrometheusBinary(): string | undefined {
  const explicit = process.env.MEDIC_PROMETHEUS_BIN;
  if (explicit) return executable(explicit) ? explicit : undefined;
  if (executable('/usr/bin/prometheus')) return '/usr/bin/prometheus';
  const found = [stateDir('bin', 'prometheus'), goToolPath(PROMETHEUS_MODULE)].find(executable);
  return onPath('prometheus') ?? found;
}

/** Returns a usable prometheus binary, building it once with Go if none is installed. */
export async function ensurePrometheusBinary(progress: Progress): Promise<string> {
  const found = findPrometheusBinary();
  if (found) return found;
  if (process.env.MEDIC_PROMETHEUS_BIN) {
    throw new PrometheusBinaryError(`MEDIC_PROMETHEUS_BIN=${process.env.MEDIC_PROMETHEUS_BIN} is not an executable file`);
  }
  const go = findGo();
  if (!go) {
    throw new PrometheusBinaryError(
      "no prometheus binary and no Go toolchain to build one: install Debian's prometheus (apt-get install --no-install-recommends prometheus) or Go",
    );
  }
  return linkIntoCheckout(await goInstall(go, PROMETHEUS_MODULE, progress), 'prometheus');
}

/** medic's own alert rules, shipped in deploy/; dev loads them so they are exercised. */
export function medicRulesFile(): string {
  return path.join(packageRoot(), 'deploy', 'prometheus', 'medic-rules.yml');
}

export interface ScrapeTargets {
  demo: string;
  coordinator: string;
  worker: string;
  trigger?: string;
  /** CA that signed the coordinator's certificate. */
  caFile: string;
}

/** prometheus.yml for `medic dev`: fast scrapes (the demo should heal within seconds). */
export function devPrometheusConfig(t: ScrapeTargets, rulesFile: string | undefined): string {
  const job = (name: string, target: string, extra: string[] = []): string[] => [
    `  - job_name: ${name}`,
    ...extra,
    '    static_configs:',
    `      - targets: [${JSON.stringify(target)}]`,
  ];
  return [
    '# Written by medic dev on every start; edits are lost.',
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    ...(rulesFile ? ['rule_files:', `  - ${JSON.stringify(rulesFile)}`] : []),
    'scrape_configs:',
    // honor_labels: the demo names its own node, datacenter and directory.
    ...job('medic-demo', t.demo, ['    honor_labels: true']),
    ...job('medic-coordinator', t.coordinator, [
      '    scheme: https',
      '    tls_config:',
      `      ca_file: ${JSON.stringify(t.caFile)}`,
    ]),
    ...job('medic-worker', t.worker),
    ...(t.trigger ? job('medic-trigger', t.trigger) : []),
    '',
  ].join('\n');
}

/** Writes the config under `dir` and returns the prometheus argv. */
export function devPrometheusArgs(dir: string, listen: string, config: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(file, config);
  return [
    `--config.file=${file}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    '--storage.tsdb.retention.time=1d',
    `--web.listen-address=${listen}`,
    '--log.level=warn',
  ];
}
