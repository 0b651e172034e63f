// `npm run bench:alertmanager`: how long the coordinator takes to answer one Alertmanager
// webhook of a large group, as a rack or a bad deploy sends it: BENCH_ALERTS (2,000) firing
// alerts, about 1.7 KB each (a 3.4 MB body), each on its own node, to the built `medic
// coordinator` (mTLS) on a Temporal dev server. Timed from the request to the whole answer:
// BENCH_ROUNDS fresh groups (every alert starts an execution), the last group sent again (every
// alert a duplicate, as Alertmanager's repeat notifications are) and a group of resolved alerts
// (nothing to start: parse, validate, answer). Checks every alert's result; prints the 1-minute
// load average beside each figure.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../../src/client/coordinator-client';
import { benchCertificates, benchDir, benchTemporal, percentile, startCoordinatorProcess, writeConfig } from './fixture';

const ALERTS = Number(process.env.BENCH_ALERTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKFLOW = 'benchHeal';

const load = (): string => `load ${os.loadavg()[0]!.toFixed(2)}`;

/** One figure: what was sent, the answer time, per alert, and the load average now. */
function figure(what: string, ms: number): string {
  return `  ${what.padEnd(46)} ${(ms / 1000).toFixed(2).padStart(6)} s  (${(ms / ALERTS).toFixed(2)} ms per alert)  ${load()}`;
}

/** A version 4 webhook body: `count` alerts of one group, fingerprints and nodes unique to `group`. */
function webhook(group: string, count: number, status: 'firing' | 'resolved'): object {
  const alerts = Array.from({ length: count }, (_, i) => ({
    status,
    labels: { alertname: 'BenchDiskFull', instance: `${group}-${i}:9100`, datacenter: 'bench', mountpoint: '/var' },
    annotations: { summary: `/var on ${group}-${i} is almost full`, description: 'x'.repeat(1500) },
    startsAt: '2026-12-01T10:00:00.000Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus.bench:9090/graph?g0.expr=disk_free',
    fingerprint: `${group}-${i}`,
  }));
  return {
    version: '4',
    groupKey: `{}:{alertname="BenchDiskFull",group="${group}"}`,
    truncatedAlerts: 0,
    status,
    receiver: 'medic',
    groupLabels: { alertname: 'BenchDiskFull' },
    commonLabels: { alertname: 'BenchDiskFull' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.bench:9093',
    alerts,
  };
}

interface Answer {
  ms: number;
  status: number;
  /** How many alerts got each result. */
  results: Record<string, number>;
}

async function send(client: CoordinatorClient, body: object): Promise<Answer> {
  const t = process.hrtime.bigint();
  const answer = await client.request('POST', '/v1/alertmanager', body);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  const list = (answer.body as { results?: Array<{ result: string }> } | undefined)?.results ?? [];
  const results: Record<string, number> = {};
  for (const r of list) results[r.result] = (results[r.result] ?? 0) + 1;
  return { ms, status: answer.status, results };
}

function expectAll(what: string, a: Answer, result: string): void {
  if (a.status !== 200 || a.results[result] !== ALERTS)
    throw new Error(`${what}: expected HTTP 200 and ${ALERTS} ${result}, got HTTP ${a.status} ${JSON.stringify(a.results)}`);
}

async function main(): Promise<void> {
  const temporal = await benchTemporal();
  const dir = benchDir('alertmanager-group');
  const certs = benchCertificates(dir);
  const config = writeConfig(dir, certs, temporal, { [WORKFLOW]: 'workflow = "ping"\ntask_queue_target = "node"\n' });
  fs.appendFileSync(
    path.join(config, 'coordinator.hcl'),
    `alertmanager {\n  route {\n    alertname = "BenchDiskFull"\n    workflow  = "${WORKFLOW}"\n  }\n}\n`,
  );
  const coordinator = await startCoordinatorProcess(config);
  const caller = certs.clients.caller!;
  const client = new CoordinatorClient({
    address: coordinator.url,
    certFile: caller.certFile,
    keyFile: caller.keyFile,
    caFile: certs.caFile,
    timeoutMs: 600_000,
  });
  const lines: string[] = [];
  try {
    const run = `g${Date.now().toString(36)}`;
    const bytes = Buffer.byteLength(JSON.stringify(webhook(`${run}-0`, ALERTS, 'firing')));
    lines.push(
      `Alertmanager group of ${ALERTS} alerts (${(bytes / 1e6).toFixed(2)} MB body) to medic coordinator (mTLS), ` +
        `Temporal ${temporal.label}; ${os.cpus().length} CPUs, Node.js ${process.versions.node}`,
    );
    const fresh: number[] = [];
    let last: object | undefined;
    for (let round = 0; round < ROUNDS; round++) {
      last = webhook(`${run}-${round}`, ALERTS, 'firing');
      const a = await send(client, last);
      expectAll(`fresh group ${round + 1}`, a, 'started');
      fresh.push(a.ms);
      lines.push(figure(`fresh group ${round + 1}: every alert starts`, a.ms));
    }
    const repeat = await send(client, last!);
    expectAll('repeat', repeat, 'duplicate');
    lines.push(figure('the last group again: every alert a duplicate', repeat.ms));
    const resolved = await send(client, webhook(`${run}-resolved`, ALERTS, 'resolved'));
    expectAll('resolved group', resolved, 'skipped');
    lines.push(figure('a resolved group: nothing to start', resolved.ms));
    const sorted = [...fresh].sort((a, b) => a - b);
    lines.push(
      `answer time of a fresh ${ALERTS}-alert group: p50 ${(percentile(sorted, 50) / 1000).toFixed(2)} s, ` +
        `min ${(sorted[0]! / 1000).toFixed(2)} s over ${ROUNDS} groups`,
    );
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    client.close();
    await coordinator.stop();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:alertmanager: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
