// coordinator.hcl blocks for fleet safety: `budget "name" {}`, `fleet_size {}`, `freeze "name" {}`,
// `circuit_breaker {}` and `flapping {}`. Semantics live in src/fleet/; this file only reads them.
import type { Decoder } from './decoder';

export type BudgetScope = 'global' | 'datacenter' | 'node_type';
export const BUDGET_SCOPES: readonly BudgetScope[] = ['global', 'datacenter', 'node_type'];

export interface BudgetConfig {
  name: string;
  /** What one budget counts over: the whole fleet, each datacenter, or each node type. */
  per: BudgetScope;
  /** At most this many concurrent disruptive remediations in the scope... */
  max?: number;
  /** ...or at most this percentage of the live fleet in the scope (rounded down). */
  maxPercent?: number;
}

export interface FleetSizeConfig {
  /** Static sizes: the whole fleet, and per datacenter / node type. */
  static?: number;
  staticDatacenters: Record<string, number>;
  staticNodeTypes: Record<string, number>;
  /** A Prometheus server and the query that counts live nodes by the two labels. */
  prometheus?: string;
  query?: string;
  datacenterLabel: string;
  nodeTypeLabel: string;
  refreshMs: number;
  /** Older than this, a measured size is unknown: percentage budgets refuse. */
  maxAgeMs: number;
}

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface FreezeConfig {
  name: string;
  /** "2026-12-20T00:00" (one window) or "18:00" (every day in `weekdays`), wall time in `timezone`. */
  from: string;
  to: string;
  weekdays: Weekday[];
  timezone: string;
  /** Configured workflow names the freeze applies to; ["*"] for all. */
  workflows: string[];
  /** Identities that may pass the freeze with force = true (exact SPIFFE IDs or "/*" prefixes). */
  forceUris: string[];
}

export interface CircuitBreakerConfig {
  /** Trips when at least `failures` of the last `ofLast` closed executions failed or escalated. */
  failures: number;
  ofLast: number;
}

export interface FlappingConfig {
  /** A node remediated `count` times by the same workflow within `windowMs` is escalated instead. */
  count: number;
  windowMs: number;
}

export interface FleetSafetyConfig {
  budgets: BudgetConfig[];
  fleetSize: FleetSizeConfig;
  freezes: FreezeConfig[];
  circuitBreaker?: CircuitBreakerConfig;
  flapping?: FlappingConfig;
  /** Longest a disruptive hold lasts when its execution never closes (a backstop; holds end when executions close). */
  holdMaxMs: number;
}

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerConfig = { failures: 3, ofLast: 5 };
const LABEL = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ABSOLUTE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/;
const DAILY = /^([01]\d|2[0-3]):[0-5]\d$/;

export function emptyFleetSafety(): FleetSafetyConfig {
  return {
    budgets: [],
    fleetSize: {
      staticDatacenters: {},
      staticNodeTypes: {},
      datacenterLabel: 'datacenter',
      nodeTypeLabel: 'node_type',
      refreshMs: 30_000,
      maxAgeMs: 120_000,
    },
    freezes: [],
    holdMaxMs: 24 * 3_600_000,
  };
}

function sizeMap(d: Decoder, key: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(d.stringMap(key) ?? {})) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      d.diag.error(d.file, `${d.at(key)}.${k}`, `${JSON.stringify(v)} is not a whole number of nodes`);
    else out[k] = n;
  }
  return out;
}

function readFleetSize(d: Decoder | undefined): FleetSizeConfig {
  const base = emptyFleetSafety().fleetSize;
  if (!d) return base;
  const label = (key: string, fallback: string): string => {
    const v = d.string(key, { nonEmpty: true }) ?? fallback;
    if (!LABEL.test(v)) d.error(key, `${JSON.stringify(v)} is not a Prometheus label name`);
    return v;
  };
  const cfg: FleetSizeConfig = {
    static: d.number('static', { integer: true, positive: true }),
    staticDatacenters: sizeMap(d, 'static_datacenters'),
    staticNodeTypes: sizeMap(d, 'static_node_types'),
    prometheus: d.string('prometheus', { nonEmpty: true }),
    query: d.string('query', { nonEmpty: true }),
    datacenterLabel: label('datacenter_label', base.datacenterLabel),
    nodeTypeLabel: label('node_type_label', base.nodeTypeLabel),
    refreshMs: d.duration('refresh', { positive: true }) ?? base.refreshMs,
    maxAgeMs: d.duration('max_age', { positive: true }) ?? base.maxAgeMs,
  };
  if (cfg.prometheus !== undefined && !/^https?:\/\//.test(cfg.prometheus))
    d.error('prometheus', 'must start with http:// or https://');
  if ((cfg.prometheus === undefined) !== (cfg.query === undefined))
    d.error(cfg.prometheus ? 'query' : 'prometheus', 'prometheus and query go together');
  if (cfg.maxAgeMs < cfg.refreshMs) d.error('max_age', 'must be at least refresh, or every size would be stale');
  d.finish();
  return cfg;
}

function readBudget(label: string, d: Decoder): BudgetConfig | undefined {
  const per = d.string('per', { required: true, oneOf: BUDGET_SCOPES }) as BudgetScope | undefined;
  const max = d.number('max', { integer: true, positive: true });
  const maxPercent = d.number('max_percent', { positive: true });
  if (maxPercent !== undefined && maxPercent > 100) d.error('max_percent', `must be at most 100, got ${maxPercent}`);
  if ((max === undefined) === (maxPercent === undefined)) d.error(undefined, 'set exactly one of max or max_percent');
  d.finish();
  if (!per || (max === undefined && maxPercent === undefined)) return undefined;
  return { name: label, per, ...(max !== undefined ? { max } : { maxPercent }) };
}

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function readFreeze(label: string, d: Decoder): FreezeConfig | undefined {
  const from = d.string('from', { required: true });
  const to = d.string('to', { required: true });
  const timezone = d.string('timezone', { nonEmpty: true }) ?? 'UTC';
  if (!validTimezone(timezone))
    d.error('timezone', `${JSON.stringify(timezone)} is not an IANA time zone (e.g. "Europe/Berlin")`);
  const days = d.strings('weekdays');
  const weekdays: Weekday[] = [];
  (days ?? []).forEach((w, i) => {
    const day = w.toLowerCase().slice(0, 3) as Weekday;
    if (!(WEEKDAYS as readonly string[]).includes(day) || w.length < 3)
      d.diag.error(d.file, `${d.at('weekdays')}[${i}]`, `${JSON.stringify(w)} is not a weekday (mon, tue, ... sun)`);
    else weekdays.push(day);
  });
  const workflows = d.strings('workflows') ?? ['*'];
  const forceUris = d.strings('force_uris') ?? [];
  d.finish();
  if (from === undefined || to === undefined) return undefined;
  const daily = DAILY.test(from) && DAILY.test(to);
  const absolute = ABSOLUTE.test(from) && ABSOLUTE.test(to);
  if (!daily && !absolute) {
    d.error(undefined, 'from and to are both "YYYY-MM-DDTHH:MM" (one window) or both "HH:MM" (daily, optionally on weekdays)');
    return undefined;
  }
  if (absolute && from >= to) d.error('to', 'must be after from');
  if (absolute && days) d.error('weekdays', 'applies only to daily windows ("HH:MM")');
  if (daily && from === to) d.error('to', 'must differ from from');
  return { name: label, from, to, weekdays: days ? weekdays : [...WEEKDAYS], timezone, workflows, forceUris };
}

const FLEET_KEYS = ['budget', 'fleet_size', 'freeze', 'circuit_breaker', 'flapping', 'disruptive'];

/** Reads the fleet-safety blocks of coordinator.hcl (all optional); undefined when there are none. */
export function readFleetSafety(d: Decoder): FleetSafetyConfig | undefined {
  if (!FLEET_KEYS.some((k) => d.has(k))) return undefined;
  const out = emptyFleetSafety();
  out.budgets = d
    .labeled('budget')
    .map(({ label, body }) => readBudget(label, body))
    .filter((b): b is BudgetConfig => b !== undefined);
  out.fleetSize = readFleetSize(d.block('fleet_size'));
  if (
    out.budgets.some((b) => b.maxPercent !== undefined) &&
    out.fleetSize.static === undefined &&
    !out.fleetSize.prometheus &&
    Object.keys(out.fleetSize.staticDatacenters).length + Object.keys(out.fleetSize.staticNodeTypes).length === 0
  ) {
    d.warning('budget', 'max_percent budgets need a fleet_size { } source; without one they refuse every disruptive start');
  }
  out.freezes = d
    .labeled('freeze')
    .map(({ label, body }) => readFreeze(label, body))
    .filter((f): f is FreezeConfig => f !== undefined);
  const cb = d.block('circuit_breaker');
  if (cb) {
    const failures = cb.number('failures', { integer: true, positive: true }) ?? DEFAULT_CIRCUIT_BREAKER.failures;
    const ofLast = cb.number('of_last', { integer: true, positive: true }) ?? DEFAULT_CIRCUIT_BREAKER.ofLast;
    if (failures > ofLast) cb.error('failures', `must be at most of_last (${ofLast})`);
    cb.finish();
    out.circuitBreaker = { failures, ofLast };
  }
  const fl = d.block('flapping');
  if (fl) {
    const count = fl.number('count', { integer: true, positive: true, required: true });
    const windowMs = fl.duration('window', { positive: true, required: true });
    fl.finish();
    if (count !== undefined && windowMs !== undefined) out.flapping = { count, windowMs };
  }
  const hold = d.block('disruptive');
  if (hold) {
    out.holdMaxMs = hold.duration('hold_max', { positive: true }) ?? out.holdMaxMs;
    hold.finish();
  }
  return out;
}
