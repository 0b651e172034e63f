// bench:trigger-lag — evaluation keeps its grid whatever the coordinator does: a real Prometheus
// scrapes 1000 series that all fire, the built `medic trigger` (poll 1 s) evaluates them, and the
// "coordinator" is a plain HTTP endpoint that answers every trigger after 10 s. Samples the
// daemon's own metrics (evaluation lag, missed grid points, send queue) and prints them.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Gauge, Registry } from 'prom-client';
import { metricSample } from '../helpers/metrics-text';
import { startTrigger } from '../helpers/medic-process';
import { startPrometheus } from '../helpers/prometheus';
import { waitFor } from '../helpers/wait';
import { benchDir } from './fixture';

const SERIES = Number(process.env.LAG_SERIES ?? 1000);
const ANSWER_MS = Number(process.env.LAG_ANSWER_MS ?? 10_000);
const SECONDS = Number(process.env.LAG_SECONDS ?? 40);
const POLL_S = 1;

/** An exporter of SERIES series of one gauge, all bad. */
async function startManySeries(): Promise<{ target: string; close(): Promise<void> }> {
  const registry = new Registry();
  const gauge = new Gauge({ name: 'medic_bench_lag_bad', help: 'bench', labelNames: ['node'], registers: [registry] });
  for (let i = 0; i < SERIES; i++) gauge.set({ node: `lag-node-${i}` }, 1);
  const server = http.createServer((_req, res) => {
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    target: `127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The slow coordinator: answers 202 after ANSWER_MS; counts what it was asked. */
async function startSlowCoordinator() {
  let received = 0;
  let answered = 0;
  const server = http.createServer((req, res) => {
    received += 1;
    req.resume();
    setTimeout(() => {
      answered += 1;
      res
        .writeHead(202, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'started', workflow_id: `w-${received}`, run_id: 'r' }));
    }, ANSWER_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    counts: () => ({ received, answered }),
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

async function main(): Promise<void> {
  const exporter = await startManySeries();
  const prometheus = await startPrometheus({ targets: [exporter.target], scrapeInterval: '1s' });
  const coordinator = await startSlowCoordinator();
  const dir = benchDir('trigger-lag');
  fs.mkdirSync(path.join(dir, 'workflows'));
  fs.mkdirSync(path.join(dir, 'triggers'));
  fs.writeFileSync(path.join(dir, 'workflows', 'benchHeal.hcl'), 'workflow = "ping"\ntask_queue_target = "node"\n');
  fs.writeFileSync(
    path.join(dir, 'triggers', 'lag.hcl'),
    `prometheus {
  address       = "${prometheus.address}"
  poll_interval = "${POLL_S}s"
}
coordinator {
  address = "${coordinator.url}"
}
rule "lag" {
  query    = "medic_bench_lag_bad > 0"
  workflow = "benchHeal"
  target { node = "{{ $labels.node }}" }
}
`,
  );
  // Let Prometheus scrape the series once before the daemon starts.
  await waitFor(
    'Prometheus to have scraped the series',
    async () => {
      const r = await fetch(`${prometheus.address}/api/v1/query?query=count(medic_bench_lag_bad)`).catch(() => undefined);
      const body = (await r?.json().catch(() => undefined)) as { data?: { result?: unknown[] } } | undefined;
      return body?.data?.result?.length ? true : undefined;
    },
    30_000,
  );
  const { proc: daemon, metricsUrl: url } = await startTrigger(dir, ['--state-file', path.join(dir, 'state.json')]);
  const metricsUrl = url!;
  try {
    const lags: number[] = [];
    let last = { missed: 0, queue: 0, inFlight: 0, firing: 0, evaluations: 0 };
    // The first evaluation is a cold start: it replays history and queues 1000 new episodes.
    let first: typeof last | undefined;
    const deadline = Date.now() + SECONDS * 1000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      let text: string;
      try {
        text = await (await fetch(metricsUrl)).text();
      } catch {
        continue;
      }
      if (metricSample(text, 'medic_trigger_rule_evaluations_total', { rule: 'lag', result: 'ok' }) === 0) continue;
      lags.push(metricSample(text, 'medic_trigger_evaluation_lag_seconds', { rule: 'lag' }));
      last = {
        missed: metricSample(text, 'medic_trigger_missed_evaluations_total'),
        queue: metricSample(text, 'medic_trigger_send_queue_depth'),
        inFlight: metricSample(text, 'medic_trigger_sends_in_flight'),
        firing: metricSample(text, 'medic_trigger_series', { rule: 'lag', state: 'firing' }),
        evaluations: metricSample(text, 'medic_trigger_rule_evaluations_total', { rule: 'lag', result: 'ok' }),
      };
      first ??= last;
    }
    if (daemon.child.exitCode !== null) throw new Error(`medic trigger exited:\n${daemon.output()}`);
    if (!first) throw new Error('the daemon never evaluated');
    const [coldLag, ...steady] = lags;
    const max = Math.max(...steady);
    const median = [...steady].sort((a, b) => a - b)[Math.floor(steady.length / 2)]!;
    const over = steady.filter((l) => l >= POLL_S).length;
    const missed = last.missed - first.missed;
    if (process.env.LAG_VERBOSE) console.log(lags.map((l) => l.toFixed(2)).join(' '));
    const { received, answered } = coordinator.counts();
    console.log(
      `series=${SERIES} firing=${last.firing} coordinator answers in ${ANSWER_MS / 1000}s; ${SECONDS}s run, ${last.evaluations} evaluations`,
    );
    console.log(`sends: asked ${received}, answered ${answered}, in flight ${last.inFlight}, queued ${last.queue}`);
    console.log(
      `first evaluation (cold start: history replay, ${SERIES} new episodes): lag ${coldLag!.toFixed(3)}s, missed grid points ${first.missed}`,
    );
    console.log(
      `evaluation lag after it: p50=${median.toFixed(3)}s max=${max.toFixed(3)}s over ${steady.length} samples (${over} over one interval), missed grid points ${missed}; poll_interval=${POLL_S}s: ${max < POLL_S && missed === 0 ? 'under one interval' : 'NOT under one interval'}`,
    );
  } finally {
    await daemon.stop();
    await prometheus.stop();
    await coordinator.close();
    await exporter.close();
  }
}

main().catch((err) => {
  console.error(`bench:trigger-lag failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
