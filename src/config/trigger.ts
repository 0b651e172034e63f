// triggers/*.hcl: the Prometheus to poll, the coordinator to call, and the rules that turn
// query results into workflow starts.
import type { Decoder } from './decoder';
import { configPath, readClientTls } from './temporal';
import { compileLogPattern } from './log-pattern';
import { parseTemplate, templateLabels } from './rule-template';

/**
 * Checks a template where it is written, so errors carry the attribute path. `labels`, when
 * known (the captures of a log rule; none for an HTTP check), are all a template may name.
 */
function checkTemplate(d: Decoder, key: string, value: string | undefined, labels?: readonly string[], what?: string): void {
  if (value === undefined) return;
  try {
    const parts = parseTemplate(value);
    for (const label of templateLabels(parts)) {
      if (labels && !labels.includes(label)) d.error(key, `{{ $labels.${label} }}: ${what} has no label "${label}"`);
    }
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

/** What every rule has, whatever tells it that something is wrong. */
interface RuleBase {
  name: string;
  file: string;
  workflow: string;
  target: TargetTemplate;
  params: Record<string, string>;
  reason?: string;
  /** How long an episode keeps firing once its condition stopped holding (0: it ends at once). */
  keepFiringForMs: number;
}

/** `source = "prometheus"` (the default): a PromQL query evaluated on a grid. */
export interface PrometheusRule extends RuleBase {
  source: 'prometheus';
  query: string;
  /** How long a series must keep matching before it fires (0: at once). */
  forMs: number;
}

/** `source = "log"`: lines of a file, or of a unit's journal, that match a pattern. */
export interface LogRule extends RuleBase {
  source: 'log';
  /** The file to follow (absolute, or relative to the config file). */
  logFile?: string;
  /** Or: the systemd unit whose journal to follow. */
  journalUnit?: string;
  journalDirectory?: string;
  /** An RE2 pattern; its named captures are the labels of a match. */
  match: string;
  /** Matches within `window` that open an episode. */
  count: number;
  windowMs: number;
  /** Captures whose values keep separate counts and episodes (none: one per rule). */
  groupBy: string[];
}

/** `source = "http"`: a health check on a grid aligned to `every`. */
export interface HttpRule extends RuleBase {
  source: 'http';
  url: string;
  everyMs: number;
  timeoutMs: number;
  /** Consecutive failed checks that open an episode. */
  failures: number;
  followRedirects: boolean;
}

export type TriggerRule = PrometheusRule | LogRule | HttpRule;

export const RULE_SOURCES = ['prometheus', 'log', 'http'] as const;
/** The most matches a log rule may count (each group keeps that many timestamps). */
export const MAX_LOG_COUNT = 10_000;
const MAX_HTTP_FAILURES = 1000;

export interface TriggerFile {
  file: string;
  /** The node this daemon runs on: `{{ $node }}` in templates. */
  node?: string;
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

/** What a rule's templates may name: any label (Prometheus), or only these. */
interface RuleLabels {
  names?: readonly string[];
  what?: string;
}

function readTarget(t: Decoder | undefined, labels: RuleLabels): TargetTemplate | undefined {
  if (!t) return undefined;
  const target: TargetTemplate = {
    node: t.string('node', { nonEmpty: true }),
    datacenter: t.string('datacenter', { nonEmpty: true }),
    node_type: t.string('node_type', { nonEmpty: true }),
  };
  for (const [k, v] of Object.entries(target)) checkTemplate(t, k, v, labels.names, labels.what);
  const nodeFrom = t.string('node_from', { nonEmpty: true });
  if (nodeFrom !== undefined) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(nodeFrom)) t.error('node_from', `${JSON.stringify(nodeFrom)} is not a label name`);
    else if (target.node !== undefined) t.error('node_from', 'set either node or node_from, not both');
    else if (labels.names && !labels.names.includes(nodeFrom)) t.error('node_from', `${labels.what} has no label "${nodeFrom}"`);
    else target.nodeFrom = nodeFrom;
  }
  t.finish();
  return target;
}

/** A health-check URL: http or https, no credentials (they would end up in logs and reasons). */
function readCheckUrl(r: Decoder): string {
  const v = r.string('url', { required: true, nonEmpty: true });
  if (v === undefined) return '';
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    r.error('url', `${JSON.stringify(v)} is not a URL`);
    return '';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') r.error('url', `${JSON.stringify(v)} must use http or https`);
  else if (url.username || url.password) r.error('url', 'must not hold credentials (they would be logged)');
  return v;
}

function readLogRule(r: Decoder, base: Omit<RuleBase, 'target'>): LogRule {
  const logFile = configPath(r.file, r.string('file', { nonEmpty: true }));
  const journalUnit = r.string('journal_unit', { nonEmpty: true });
  const journalDirectory = configPath(r.file, r.string('journal_directory', { nonEmpty: true }));
  if ((logFile === undefined) === (journalUnit === undefined)) r.error(undefined, 'set either file or journal_unit');
  if (journalUnit !== undefined && !/^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]*$/.test(journalUnit))
    r.error('journal_unit', `${JSON.stringify(journalUnit)} is not a systemd unit name`);
  if (journalDirectory !== undefined && journalUnit === undefined) r.error('journal_directory', 'goes with journal_unit');
  const match = r.string('match', { required: true, nonEmpty: true }) ?? '';
  let captures: string[] | undefined;
  if (match) {
    try {
      captures = compileLogPattern(match).captures;
    } catch (err) {
      r.error('match', (err as Error).message);
    }
  }
  const count = r.number('count', { positive: true, integer: true }) ?? 1;
  if (count > MAX_LOG_COUNT) r.error('count', `must be at most ${MAX_LOG_COUNT}, got ${count}`);
  const windowMs = r.duration('window', { required: true, positive: true }) ?? 0;
  const groupBy = r.strings('group_by') ?? [];
  for (const name of captures ? groupBy : []) {
    if (!captures!.includes(name)) r.error('group_by', `match has no named capture ${JSON.stringify(name)}`);
  }
  // An invalid match has unknown captures: its templates are not checked against them.
  const labels: RuleLabels = captures ? { names: captures, what: 'match' } : {};
  checkRuleTemplates(r, base, labels);
  return {
    ...base,
    source: 'log',
    ...(logFile !== undefined && { logFile }),
    ...(journalUnit !== undefined && { journalUnit }),
    ...(journalDirectory !== undefined && { journalDirectory }),
    match,
    count,
    windowMs,
    groupBy,
    target: readTarget(r.block('target'), labels) ?? { node: '{{ $node }}' },
  };
}

function readHttpRule(r: Decoder, base: Omit<RuleBase, 'target'>): HttpRule {
  const url = readCheckUrl(r);
  const everyMs = r.duration('every', { required: true, positive: true }) ?? 1000;
  const timeoutMs = r.duration('timeout', { positive: true }) ?? Math.min(5000, everyMs);
  if (timeoutMs > everyMs) r.error('timeout', 'must not be longer than every (checks do not overlap)');
  const failures = r.number('failures', { positive: true, integer: true }) ?? 1;
  if (failures > MAX_HTTP_FAILURES) r.error('failures', `must be at most ${MAX_HTTP_FAILURES}, got ${failures}`);
  const labels: RuleLabels = { names: [], what: 'an HTTP check' };
  checkRuleTemplates(r, base, labels);
  return {
    ...base,
    source: 'http',
    url,
    everyMs,
    timeoutMs,
    failures,
    followRedirects: r.bool('follow_redirects', false),
    target: readTarget(r.block('target'), labels) ?? { node: '{{ $node }}' },
  };
}

/** Checks params and reason against the labels the rule's source provides. */
function checkRuleTemplates(r: Decoder, base: Omit<RuleBase, 'target'>, labels: RuleLabels): void {
  for (const [k, v] of Object.entries(base.params)) checkTemplate(r, `params.${k}`, v, labels.names, labels.what);
  checkTemplate(r, 'reason', base.reason, labels.names, labels.what);
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
  const rules = d.labeled('rule').map(({ label, body: r }): TriggerRule => {
    const source = r.string('source', { oneOf: RULE_SOURCES }) ?? 'prometheus';
    const base: Omit<RuleBase, 'target'> = {
      name: label,
      file: d.file,
      workflow: r.string('workflow', { required: true, nonEmpty: true }) ?? '',
      params: r.stringMap('params') ?? {},
      reason: r.string('reason'),
      keepFiringForMs: r.duration('keep_firing_for') ?? 0,
    };
    let rule: TriggerRule;
    // An unknown source: what its other keys mean is unknown too, so they are not reported.
    if (r.has('source') && !RULE_SOURCES.includes(r.body.source as (typeof RULE_SOURCES)[number]))
      return { ...base, source: 'prometheus', query: '', forMs: 0, target: {} };
    if (source === 'log') rule = readLogRule(r, base);
    else if (source === 'http') rule = readHttpRule(r, base);
    else {
      rule = {
        ...base,
        source: 'prometheus',
        query: r.string('query', { required: true, nonEmpty: true }) ?? '',
        forMs: r.duration('for') ?? 0,
        target: readTarget(r.block('target'), {}) ?? {},
      };
      checkRuleTemplates(r, base, {});
    }
    r.finish();
    return rule;
  });
  const node = d.string('node', { nonEmpty: true });
  if (node !== undefined && /\s/.test(node)) d.error('node', `${JSON.stringify(node)} must not contain spaces`);
  d.finish();
  return { file: d.file, node, prometheus, coordinator, rules };
}
