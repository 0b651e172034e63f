// coordinator.hcl: the HTTPS listener, its ACL route rules, and the Temporal connection.
import { readAlertmanager, readChat, type AlertmanagerConfig, type ChatConfig } from './callers';
import type { Decoder } from './decoder';
import { formatDuration } from '../duration';
import { readConsole, type ConsoleConfig } from './console';
import { readFleetSafety, type FleetSafetyConfig } from './fleet-safety';
import { configPath, readTemporal, type TemporalConfig } from './temporal';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', '*'] as const;

export interface RouteRule {
  name: string;
  /** Upper-case HTTP method, or "*" for any. */
  method: string;
  routePatterns: string[];
  /** SPIFFE IDs admitted: exact, or a prefix ending in "/*". */
  uris: string[];
  allowPublic: boolean;
  skipLogMatch: boolean;
}

export interface CoordinatorConfig {
  file: string;
  listen: { host: string; port: number };
  enableTls: boolean;
  certFile?: string;
  keyFile?: string;
  clientCaFile?: string;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  routeRules: RouteRule[];
  admission: AdmissionConfig;
  temporal: TemporalConfig;
  /** `alertmanager { ... }`: how webhook alerts map to triggers (defaults when the block is absent). */
  alertmanager: AlertmanagerConfig;
  /** `chat { ... }`: the Slack slash command; absent, POST /v1/chat/slack answers 404. */
  chat?: ChatConfig;
  /** `budget`, `fleet_size`, `freeze`, `circuit_breaker`, `flapping`, `disruptive`: fleet safety (src/fleet/). */
  fleet?: FleetSafetyConfig;
  /** `console { ... }`: the web console at /ui/ (src/coordinator/console/); defaults when the block is absent. */
  console?: ConsoleConfig;
}

/** `admission { ... }`: how the coordinator checks constraints. */
export interface AdmissionConfig {
  /**
   * Visibility queries per second this coordinator may spend on constraint checks (0: none).
   * Slot leases decide every admission regardless; visibility adds executions that hold no
   * lease (started outside medic). Temporal limits visibility per namespace (default 10/s), and counts grow slower with the store; triggers normally come a few a minute, so 2/s checks every one of them and bursts are left to the leases.
   */
  visibilityQps: number;
  /** How often admission is reconciled against visibility (src/coordinator/reconcile.ts); 0: never; default 60 s. */
  reconcileIntervalMs?: number;
  /**
   * `orphan_grace`: how long an admission whose execution never showed up holds its place in the
   * ledgers this coordinator starts (its coordinator died between the two). Unset: the ledgers'
   * default (DEFAULT_ORPHAN_GRACE_MS, 1 minute).
   */
  orphanGraceMs?: number;
  /**
   * `fleet_constraints`: a disruptive workflow's own constraints are admitted at the fleet ledger,
   * in the same update as its node lock and budgets (one update, and a refusal writes nothing).
   * On unless `false`; off, this coordinator starts admitting no further workflow's constraints
   * there, and follows the fleet ledger for those it already admits (docs/admission.md).
   */
  fleetConstraints?: boolean;
}

export const DEFAULT_VISIBILITY_QPS = 2;
export const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;
/** The ledgers' own orphan grace when none is set (src/ledger/state.ts ORPHAN_GRACE_MS; a unit test keeps them equal). */
export const DEFAULT_ORPHAN_GRACE_MS = 60_000;
const ORPHAN_GRACE_RANGE_MS = [1_000, 24 * 3_600_000] as const;

function readAdmission(d: Decoder | undefined): AdmissionConfig {
  if (!d) return { visibilityQps: DEFAULT_VISIBILITY_QPS, reconcileIntervalMs: DEFAULT_RECONCILE_INTERVAL_MS };
  const qps = d.number('visibility_qps');
  if (qps !== undefined && qps < 0) d.error('visibility_qps', `must be 0 or more, got ${qps}`);
  const reconcileIntervalMs = d.duration('reconcile_interval') ?? DEFAULT_RECONCILE_INTERVAL_MS;
  let orphanGraceMs = d.duration('orphan_grace');
  if (orphanGraceMs !== undefined && (orphanGraceMs < ORPHAN_GRACE_RANGE_MS[0] || orphanGraceMs > ORPHAN_GRACE_RANGE_MS[1])) {
    d.error('orphan_grace', `must be between 1s and 24h, got ${formatDuration(orphanGraceMs)}`);
    orphanGraceMs = undefined;
  } else if (orphanGraceMs !== undefined && orphanGraceMs < DEFAULT_ORPHAN_GRACE_MS) {
    d.warning(
      'orphan_grace',
      `shorter than the default ${formatDuration(DEFAULT_ORPHAN_GRACE_MS)}: a place is freed when visibility has not shown its execution by then, so a lagging visibility store can let a second start through (meant for tests)`,
    );
  }
  const fleetConstraints = d.bool('fleet_constraints', true);
  d.finish();
  return {
    visibilityQps: qps === undefined || qps < 0 ? DEFAULT_VISIBILITY_QPS : qps,
    reconcileIntervalMs,
    ...(!fleetConstraints && { fleetConstraints }),
    ...(orphanGraceMs !== undefined && { orphanGraceMs }),
  };
}

export const DEFAULT_LISTEN = '0.0.0.0:8443';
export const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Splits "host:port" / "[::1]:port". */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function readRouteRule(r: Decoder, index: number, seen: Set<string>): RouteRule {
  const name = r.string('name', { required: true, nonEmpty: true }) ?? `route_rule[${index}]`;
  if (seen.has(name)) r.error('name', `route rule name ${JSON.stringify(name)} is used more than once`);
  seen.add(name);
  const method = (r.string('method', { required: true, nonEmpty: true }) ?? '*').toUpperCase();
  if (!(HTTP_METHODS as readonly string[]).includes(method)) {
    r.error('method', `${JSON.stringify(method)} is not an HTTP method (or "*")`);
  }
  const routePatterns = r.strings('route_patterns', { required: true }) ?? [];
  if (r.has('route_patterns') && routePatterns.length === 0) r.error('route_patterns', 'a route rule needs at least one pattern');
  routePatterns.forEach((p, i) => {
    if (!p.startsWith('/')) r.diag.error(r.file, `${r.at('route_patterns')}[${i}]`, `${JSON.stringify(p)} must start with "/"`);
  });
  const uris = r.strings('uris') ?? [];
  uris.forEach((u, i) => {
    if (!/^spiffe:\/\/[^/\s]+(\/\S*)?$/.test(u)) {
      r.diag.error(r.file, `${r.at('uris')}[${i}]`, `${JSON.stringify(u)} is not a SPIFFE ID (spiffe://trust-domain/path)`);
    } else if (u.includes('*') && !(u.endsWith('/*') && !u.slice(0, -2).includes('*'))) {
      r.diag.error(r.file, `${r.at('uris')}[${i}]`, `${JSON.stringify(u)}: "*" is allowed only as a final "/*"`);
    }
  });
  const allowPublic = r.bool('allow_public', false);
  const skipLogMatch = r.bool('skip_log_match', false);
  if (allowPublic && uris.length > 0) {
    r.warning('uris', 'allow_public admits every caller, so uris has no effect in this rule');
  }
  if (!allowPublic && uris.length === 0 && r.has('uris')) {
    r.warning('uris', 'no uris and no allow_public: this rule admits nobody');
  }
  r.finish();
  return { name, method, routePatterns, uris, allowPublic, skipLogMatch };
}

export function readCoordinator(d: Decoder): CoordinatorConfig {
  const s = d.block('server_config', { required: true });
  const listenText = s?.string('listen', { nonEmpty: true }) ?? DEFAULT_LISTEN;
  const listen = parseListen(listenText);
  if (!listen) s?.error('listen', `${JSON.stringify(listenText)} is not host:port`);
  const enableTls = s?.bool('enable_tls', true) ?? true;
  const certFile = configPath(d.file, s?.string('cert_file', { nonEmpty: true }));
  const keyFile = configPath(d.file, s?.string('key_file', { nonEmpty: true }));
  const clientCaFile = configPath(d.file, s?.string('client_ca_file', { nonEmpty: true }));
  if (s && enableTls) {
    for (const [key, v] of [
      ['cert_file', certFile],
      ['key_file', keyFile],
      ['client_ca_file', clientCaFile],
    ] as const) {
      if (!v) s.error(key, 'is required when enable_tls = true');
    }
  }
  const bodyLimit = s?.number('body_limit_bytes', { positive: true, integer: true }) ?? DEFAULT_BODY_LIMIT;
  const seen = new Set<string>();
  const routeRules = (s?.blocks('route_rule') ?? []).map((r, i) => readRouteRule(r, i, seen));
  if (s && routeRules.length === 0) s.warning('route_rule', 'no route rules: every request will be denied');
  s?.finish();
  const admission = readAdmission(d.block('admission'));
  const temporal = readTemporal(d.block('temporal'));
  const alertmanager = readAlertmanager(d.block('alertmanager'));
  const chat = readChat(d.block('chat'));
  const fleet = readFleetSafety(d);
  const consoleConfig = readConsole(d.block('console'));
  d.finish();
  return {
    file: d.file,
    listen: listen ?? { host: '0.0.0.0', port: 8443 },
    enableTls,
    certFile,
    keyFile,
    clientCaFile,
    bodyLimit,
    routeRules,
    admission,
    temporal,
    alertmanager,
    ...(chat ? { chat } : {}),
    ...(fleet ? { fleet } : {}),
    console: consoleConfig,
  };
}
