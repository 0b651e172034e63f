// bench:detect — time from a metric going bad to the remediation workflow being started:
// exporter -> real Prometheus (scrape) -> `medic trigger` (poll, for = 0s; two replicas, as in
// production) -> coordinator (mTLS, ACL, constraints, idempotency) -> Temporal. The start time
// is Temporal's own record of the start, so visibility lag does not count. Prints one line per
// episode, then the summary, and checks that each episode started exactly one execution.
import * as path from 'node:path';
import { Client } from '@temporalio/client';
import { queryValue } from '../../src/naming/search-attributes';
import { metricSample } from '../helpers/metrics-text';
import { startExporter, startPrometheus } from '../helpers/prometheus';
import { buildStack } from '../helpers/stack';
import { benchTemporal } from './fixture';

const EPISODES = Number(process.env.DETECT_EPISODES ?? 20);
const SCRAPE_S = 1;
const POLL_S = 1;
const REPLICAS = Number(process.env.DETECT_REPLICAS ?? 2);
const PROBE_MS = Number(process.env.DETECT_PROBE_MS ?? 250);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Waits until a daemon has evaluated its rule once (its start-up is not detection latency). */
async function firstEvaluation(metricsUrl: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const text = await fetch(metricsUrl)
      .then((r) => r.text())
      .catch(() => '');
    if (metricSample(text, 'medic_trigger_rule_evaluations_total', { result: 'ok' }) > 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no evaluation by the daemon behind ${metricsUrl} within 60 s`);
}

async function main(): Promise<void> {
  const temporal = await benchTemporal();
  const exporter = await startExporter('medic_bench_bad', { node: 'bench-node', dc: 'bench' }, 0);
  const prometheus = await startPrometheus({ targets: [exporter.target], scrapeInterval: `${SCRAPE_S}s` });
  const stack = await buildStack({
    temporalAddress: temporal.address,
    workflows: { benchHeal: 'workflow = "ping"\ntask_queue_target = "node"\n' },
    triggers: {
      bench: `prometheus {
  address       = "${prometheus.address}"
  poll_interval  = "${POLL_S}s"
  probe_interval = "${PROBE_MS}ms"
}
coordinator {
  address   = "COORDINATOR"
  cert_file = "../tls/trigger.pem"
  key_file  = "../tls/trigger-key.pem"
  ca_file   = "../tls/ca.pem"
}
rule "bench" {
  query    = "medic_bench_bad > 0"
  for      = "0s"
  workflow = "benchHeal"
  target {
    node = "{{ $labels.node }}"
  }
}
`,
    },
  });
  const connection = await temporal.connect();
  const client = new Client({ connection });
  try {
    await stack.startCoordinator();
    const ready: Array<Promise<void>> = [];
    for (let i = 0; i < REPLICAS; i++) {
      ready.push(
        stack.startTrigger(['--state-file', path.join(stack.dir, `state-${i}.json`)]).then((t) => firstEvaluation(t.metricsUrl!)),
      );
    }
    await Promise.all(ready);
    const query = `MedicWorkflow = ${queryValue('benchHeal')}`;
    const latencies: number[] = [];
    let seen = 0;
    for (let episode = 1; episode <= EPISODES; episode++) {
      // Let the previous episode resolve (one scrape and one poll of a healthy value), then
      // flip at a random phase relative to the scrape and poll cycles.
      await new Promise((r) => setTimeout(r, (SCRAPE_S + POLL_S) * 1000 + 500 + Math.random() * 1000));
      const flipped = Date.now();
      exporter.set(1);
      let started: Date | undefined;
      const deadline = Date.now() + 30_000;
      while (!started && Date.now() < deadline) {
        const found: Date[] = [];
        for await (const wf of client.workflow.list({ query })) found.push(wf.startTime);
        if (found.length > seen) started = found.sort((a, b) => b.getTime() - a.getTime())[0];
        else await new Promise((r) => setTimeout(r, 100));
      }
      exporter.set(0);
      if (!started) throw new Error(`episode ${episode}: no workflow started within 30 s`);
      seen += 1;
      const s = (started.getTime() - flipped) / 1000;
      latencies.push(s);
      console.log(`episode ${episode}: ${s.toFixed(2)} s`);
    }
    // Every replica sent every episode; the coordinator's idempotency made each one execution.
    await new Promise((r) => setTimeout(r, 3000));
    const total = (await client.workflow.count(query)).count;
    if (total !== EPISODES) throw new Error(`${EPISODES} episodes started ${total} executions`);
    latencies.sort((a, b) => a - b);
    const p50 = quantile(latencies, 0.5);
    const p99 = quantile(latencies, 0.99);
    const budget = 1.5; // issue 17: p99 <= 1.5 s with two replicas
    console.log(
      `replicas=${REPLICAS} scrape_interval=${SCRAPE_S}s poll_interval=${POLL_S}s probe_interval=${PROBE_MS}ms for=0s target p99 <= ${budget}s: ${p99 <= budget ? 'met' : 'NOT met'}; executions=${total} for ${EPISODES} episodes`,
    );
    console.log(`detect: p50=${p50.toFixed(2)} p99=${p99.toFixed(2)} over ${latencies.length} episodes`);
  } finally {
    await stack.stop();
    await prometheus.stop();
    await exporter.close();
    await connection.close();
    await temporal.stop();
  }
}

main().catch((err) => {
  console.error(`bench:detect failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
