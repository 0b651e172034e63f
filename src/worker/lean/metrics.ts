// The lean worker's /metrics: a handful of counters and gauges in Prometheus' text exposition
// format (version 0.0.4), written by hand: a daemon on every server needs no metrics library.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen } from '../../config/coordinator';

type Labels = Record<string, string>;

interface Family {
  help: string;
  type: 'counter' | 'gauge';
  series: Map<string, { labels: Labels; value: number }>;
}

const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const key = (labels: Labels): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escape(labels[k]!)}"`)
    .join(',');

export const LEAN_METRICS = {
  polls: ['medic_worker_activity_polls_total', 'counter', 'Long polls for activity tasks that returned (with or without a task)'],
  pollErrors: [
    'medic_worker_activity_poll_errors_total',
    'counter',
    'Activity task polls that failed (Temporal unreachable, refused)',
  ],
  started: ['medic_worker_activity_tasks_started_total', 'counter', 'Activity tasks received and started'],
  completed: ['medic_worker_activity_tasks_completed_total', 'counter', 'Activity tasks answered as completed'],
  failed: ['medic_worker_activity_tasks_failed_total', 'counter', 'Activity tasks answered as failed'],
  cancelled: ['medic_worker_activity_tasks_cancelled_total', 'counter', 'Activity tasks answered as cancelled'],
  running: ['medic_worker_activities_running', 'gauge', 'Activities running now'],
  queues: ['medic_worker_task_queues', 'gauge', 'Task queues this worker polls'],
} as const;

export type LeanMetricName = keyof typeof LEAN_METRICS;

/** The registry: `add` and `set` by metric and labels; `text()` is the exposition. */
export class LeanMetrics {
  private readonly families = new Map<string, Family>();

  private series(name: LeanMetricName, labels: Labels): { value: number } {
    const [metric, type, help] = LEAN_METRICS[name];
    let family = this.families.get(metric);
    if (!family) this.families.set(metric, (family = { help, type, series: new Map() }));
    const k = key(labels);
    let s = family.series.get(k);
    if (!s) family.series.set(k, (s = { labels, value: 0 }));
    return s;
  }

  add(name: LeanMetricName, labels: Labels, by = 1): void {
    this.series(name, labels).value += by;
  }

  set(name: LeanMetricName, labels: Labels, value: number): void {
    this.series(name, labels).value = value;
  }

  value(name: LeanMetricName, labels: Labels): number {
    return this.series(name, labels).value;
  }

  text(): string {
    const lines: string[] = [];
    for (const [metric, f] of [...this.families].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`# HELP ${metric} ${f.help}`, `# TYPE ${metric} ${f.type}`);
      for (const [k, s] of f.series) lines.push(`${metric}${k ? `{${k}}` : ''} ${s.value}`);
    }
    return lines.join('\n') + '\n';
  }
}

/** Serves GET /metrics on `listen` (host:port; port 0 picks one); resolves once listening. */
export async function serveMetrics(listen: string, metrics: LeanMetrics): Promise<{ server: http.Server; address: string }> {
  const where = parseListen(listen);
  if (!where) throw new Error(`metrics_listen ${JSON.stringify(listen)} is not host:port`);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics.text());
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { server, address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` };
}
