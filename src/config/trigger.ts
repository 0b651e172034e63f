// triggers/*.hcl: the Prometheus to poll, the coordinator to call, and the rules that turn
// query results into workflow starts.
import type { Decoder } from './decoder';
import { readClientTls } from './temporal';
import { parseTemplate } from '../trigger/template';

/** Checks a `{{ $labels.x }}` template where it is written, so errors carry the attribute path. */
function checkTemplate(d: Decoder, key: string, value: string | undefined): void {
  if (value === undefined) return;
  try {
    parseTemplate(value);
  } catch (err) {
    d.error(key, (err as Error).message);
  }
}

export interface PrometheusSource {
  address: string;
  pollIntervalMs: number;
  queryTimeoutMs: number;
  /** How long after a grid point it is evaluated, so the scrapes up to it are stored. */
  evaluationDelayMs: number;
  /** Rules with `for = 0` are also probed this often between grid points (off when unset). */
  probeIntervalMs?: number;
}

export interface CoordinatorClient {
  address: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  serverName?: string;
  /** Trigger requests in flight at once. */
  maxInFlight?: number;
  /** Firing episodes waiting to be sent; beyond this, new ones wait for the next evaluation. */
  maxQueue?: number;
}

export interface TargetTemplate {
  node?: string;
  /** `node_from = "<label>"`: the node is that label's value without a `:port` suffix. */
  nodeFrom?: string;
  datacenter?: string;
  node_type?: string;
}

export interface TriggerRule {
  name: string;
  file: string;
  query: string;
  /** How long a series must keep matching before it fires (0: at once). */
  forMs: number;
  /** How long a firing series that is no longer returned keeps firing (0: resolves at once). */
  keepFiringForMs: number;
  workflow: string;
  target: TargetTemplate;
  params: Record<string, string>;
  reason?: string;
}

export interface TriggerFile {
  file: string;
  prometheus?: PrometheusSource;
  coordinator?: CoordinatorClient;
  rules: TriggerRule[];
}

function readUrl(d: Decoder, key: string, schemes: string[]): string | undefined {
  const v = d.string(key, { required: true, nonEmpty: true });
  if (v === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    d.error(key, `${JSON.stringify(v)} is not a URL`);
    return undefined;
  }
  if (!schemes.includes(url.protocol.replace(':', ''))) {
    d.error(key, `${JSON.stringify(v)} must use ${schemes.join(' or ')}`);
  }
  return v.replace(/\/+$/, '');
}

function readTarget(t: Decoder | undefined): TargetTemplate {
  if (!t) return {};
  const target: TargetTemplate = {
    node: t.string('node', { nonEmpty: true }),
    datacenter: t.string('datacenter', { nonEmpty: true }),
    node_type: t.string('node_type', { nonEmpty: true }),
  };
  for (const [k, v] of Object.entries(target)) checkTemplate(t, k, v);
  const nodeFrom = t.string('node_from', { nonEmpty: true });
  if (nodeFrom !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(nodeFrom)) t.error('node_from', `${JSON.stringify(nodeFrom)} is not a label name`);
    else if (target.node !== undefined) t.error('node_from', 'set either node or node_from, not both');
    else target.nodeFrom = nodeFrom;
  }
  t.finish();
  return target;
}

export function readTriggerFile(d: Decoder): TriggerFile {
  const p = d.block('prometheus');
  let prometheus: PrometheusSource | undefined;
  if (p) {
    const address = readUrl(p, 'address', ['http', 'https']) ?? '';
    const pollIntervalMs = p.duration('poll_interval', { positive: true }) ?? 30_000;
    prometheus = {
      address,
      pollIntervalMs,
      queryTimeoutMs: p.duration('query_timeout', { positive: true }) ?? 10_000,
      evaluationDelayMs: p.duration('evaluation_delay') ?? Math.min(1000, Math.max(100, pollIntervalMs / 10)),
    };
    if (prometheus.evaluationDelayMs >= pollIntervalMs) p.error('evaluation_delay', 'must be shorter than poll_interval');
    prometheus.probeIntervalMs = p.duration('probe_interval', { positive: true });
    if (prometheus.probeIntervalMs !== undefined && prometheus.probeIntervalMs >= pollIntervalMs)
      p.error('probe_interval', 'must be shorter than poll_interval');
    p.finish();
  }
  const c = d.block('coordinator');
  let coordinator: CoordinatorClient | undefined;
  if (c) {
    coordinator = {
      address: readUrl(c, 'address', ['https', 'http']) ?? '',
      ...readClientTls(c),
      maxInFlight: c.number('max_in_flight', { positive: true, integer: true }),
      maxQueue: c.number('max_queue', { positive: true, integer: true }),
    };
    c.finish();
  }
  const rules = d.labeled('rule').map(({ label, body: r }) => {
    const rule: TriggerRule = {
      name: label,
      file: d.file,
      query: r.string('query', { required: true, nonEmpty: true }) ?? '',
      forMs: r.duration('for') ?? 0,
      keepFiringForMs: r.duration('keep_firing_for') ?? 0,
      workflow: r.string('workflow', { required: true, nonEmpty: true }) ?? '',
      target: readTarget(r.block('target')),
      params: r.stringMap('params') ?? {},
      reason: r.string('reason'),
    };
    for (const [k, v] of Object.entries(rule.params)) checkTemplate(r, `params.${k}`, v);
    checkTemplate(r, 'reason', rule.reason);
    r.finish();
    return rule;
  });
  d.finish();
  return { file: d.file, prometheus, coordinator, rules };
}
