// worker.hcl: where this worker sits in the fleet (its three queues), how it behaves, and
// what its activities may do on this machine (deny by default: nothing is allowed unless listed).
import * as os from 'node:os';
import * as path from 'node:path';
import type { Decoder } from './decoder';
import { readTemporal, type TemporalConfig } from './temporal';
import { invalidName } from '../naming/task-queues';
import { parseListen } from './coordinator';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** The hooks an operator plugs in: their load balancer (drain/undrain) and chat or pager (notify). */
export const HOOK_EVENTS = ['drain', 'undrain', 'notify'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** A hook runs a command (argv, no shell) or POSTs JSON to a webhook; exactly one of the two. */
export type Hook =
  | { kind: 'command'; argv: string[]; timeoutMs: number }
  | { kind: 'webhook'; url: string; headers: Record<string, string>; timeoutMs: number };

/**
 * What this worker polls. "node": the node-type and node queues, activities only (no workflow
 * sandbox: one per server, small). "general": the datacenter's general queue, which runs the
 * workflows (in workflow threads) and the escalation sink. "both": all three (`medic dev`, one box).
 */
export const WORKER_ROLES = ['node', 'general', 'both'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];

export const ESCALATION_FORMATS = ['json', 'pagerduty', 'slack'] as const;
export type EscalationFormat = (typeof ESCALATION_FORMATS)[number];

/** The central escalation sink of a general worker (top-level `escalation { ... }` block). */
export interface EscalationConfig {
  url: string;
  format: EscalationFormat;
  /** PagerDuty integration (routing) key, read from this file at each page: never in the config. */
  routingKeyFile?: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface PrometheusQueryConfig {
  address: string;
  timeoutMs: number;
}

export interface WorkerConfig {
  file: string;
  datacenter: string;
  nodeType: string;
  /** Defaults to the host name. */
  node: string;
  role: WorkerRole;
  /** How long SIGTERM waits for running activities before giving up. */
  shutdownGraceMs: number;
  /** host:port of the worker's /metrics, or undefined for none. */
  metricsListen?: string;
  /** Activities run at once, per task queue. */
  maxConcurrentActivities: number;
  /**
   * Run workflow code in a worker thread (isolated, with the SDK's deadlock detection) instead of
   * the main thread, where one busy workflow would wedge the worker. Default true; only workers
   * that poll the general queue load workflows at all.
   */
  workflowThreads: boolean;
  /** Absolute paths of the executables the command activity may run. Empty: none. */
  allowedCommands: string[];
  /** Upper bound on any one command's run time. */
  commandTimeoutMs: number;
  /** Output kept per stream (stdout, stderr); the rest is cut off and flagged. */
  maxOutputBytes: number;
  systemctl: string;
  /** Directories under which cleanDisk may remove files. Empty: none. */
  cleanupPaths: string[];
  /** When true the reboot activity logs what it would do and reboots nothing (tests, `medic dev`). */
  rebootDryRun: boolean;
  rebootCommand: string[];
  prometheus?: PrometheusQueryConfig;
  hooks: Partial<Record<HookEvent, Hook>>;
  escalation?: EscalationConfig;
  temporal: TemporalConfig;
}

export const WORKER_DEFAULTS = {
  shutdownGraceMs: 30_000,
  maxConcurrentActivities: 4,
  commandTimeoutMs: 5 * 60_000,
  maxOutputBytes: 64 * 1024,
  systemctl: '/usr/bin/systemctl',
  // systemd-run schedules the reboot a few seconds out and returns at once, so the reboot
  // activity can report completion to Temporal before the worker is stopped by the shutdown.
  rebootCommand: ['/usr/bin/systemd-run', '--on-active=10', '--unit=medic-reboot', '/usr/bin/systemctl', 'reboot'],
  hookTimeoutMs: 30_000,
  prometheusTimeoutMs: 10_000,
  escalationTimeoutMs: 10_000,
} as const;

/** Why `p` cannot name an executable or directory in worker.hcl, or undefined if it can. */
export function invalidAbsolutePath(p: string): string | undefined {
  if (!path.isAbsolute(p)) return `${JSON.stringify(p)} must be an absolute path`;
  if (p.split('/').includes('..')) return `${JSON.stringify(p)} must not contain ".."`;
  if (/[\0\n]/.test(p)) return `${JSON.stringify(p)} contains a control character`;
  return undefined;
}

function readPathList(w: Decoder, key: string, what: 'executable' | 'directory'): string[] {
  const list = w.strings(key) ?? [];
  const seen = new Set<string>();
  const out: string[] = [];
  list.forEach((p, i) => {
    const at = `${w.at(key)}[${i}]`;
    const problem = invalidAbsolutePath(p);
    if (problem) return w.diag.error(w.file, at, problem);
    const normal = path.normalize(p).replace(/\/+$/, '') || '/';
    if (what === 'directory' && normal === '/') return w.diag.error(w.file, at, 'the root directory is too broad to clean');
    if (seen.has(normal)) return w.diag.warning(w.file, at, `${JSON.stringify(p)} is listed twice`);
    seen.add(normal);
    out.push(normal);
  });
  return out;
}

function readArgv(d: Decoder, key: string, opts: { required?: boolean } = {}): string[] | undefined {
  const argv = d.strings(key, opts);
  if (argv === undefined) return undefined;
  if (argv.length === 0) return (d.error(key, 'needs at least the executable'), undefined);
  const problem = invalidAbsolutePath(argv[0]!);
  if (problem) return (d.diag.error(d.file, `${d.at(key)}[0]`, `the executable ${problem}`), undefined);
  return argv;
}

function readHttpUrl(d: Decoder, key: string, opts: { required?: boolean } = {}): string | undefined {
  const v = d.string(key, { ...opts, nonEmpty: true });
  if (v === undefined) return undefined;
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      return (d.error(key, `${JSON.stringify(v)} must use http or https`), undefined);
  } catch {
    return (d.error(key, `${JSON.stringify(v)} is not a URL`), undefined);
  }
  return v;
}

function readHook(h: Decoder, event: string): Hook | undefined {
  const argv = readArgv(h, 'command');
  const url = readHttpUrl(h, 'webhook');
  const headers = h.stringMap('headers') ?? {};
  const timeoutMs = h.duration('timeout', { positive: true }) ?? WORKER_DEFAULTS.hookTimeoutMs;
  h.finish();
  if (h.has('command') && h.has('webhook')) return (h.error(undefined, 'give command or webhook, not both'), undefined);
  if (!h.has('command') && !h.has('webhook'))
    return (h.error(undefined, `hook "${event}" needs a command or a webhook`), undefined);
  if (h.has('headers') && !h.has('webhook')) h.warning('headers', 'headers apply to webhooks only');
  if (argv) return { kind: 'command', argv, timeoutMs };
  if (url) return { kind: 'webhook', url, headers, timeoutMs };
  return undefined;
}

function readPrometheus(p: Decoder | undefined): PrometheusQueryConfig | undefined {
  if (!p) return undefined;
  const address = readHttpUrl(p, 'address', { required: true });
  const timeoutMs = p.duration('timeout', { positive: true }) ?? WORKER_DEFAULTS.prometheusTimeoutMs;
  p.finish();
  return address ? { address: address.replace(/\/+$/, ''), timeoutMs } : undefined;
}

function readEscalation(e: Decoder | undefined): EscalationConfig | undefined {
  if (!e) return undefined;
  const format = (e.string('format', { oneOf: ESCALATION_FORMATS }) ?? 'json') as EscalationFormat;
  const url = readHttpUrl(e, 'url', { required: format !== 'pagerduty' });
  const routingKeyFile = e.string('routing_key_file', { nonEmpty: true });
  const headers = e.stringMap('headers') ?? {};
  const timeoutMs = e.duration('timeout', { positive: true }) ?? WORKER_DEFAULTS.escalationTimeoutMs;
  e.finish();
  if (format === 'pagerduty' && routingKeyFile === undefined)
    e.error('routing_key_file', 'format "pagerduty" needs routing_key_file (a file holding the integration key)');
  if (routingKeyFile !== undefined) {
    const problem = invalidAbsolutePath(routingKeyFile);
    if (problem) e.error('routing_key_file', problem);
    if (format !== 'pagerduty') e.warning('routing_key_file', 'only format "pagerduty" uses routing_key_file');
  }
  const resolved = url ?? (format === 'pagerduty' ? PAGERDUTY_EVENTS_URL : undefined);
  return resolved ? { url: resolved, format, routingKeyFile, headers, timeoutMs } : undefined;
}

export function readWorker(d: Decoder): WorkerConfig {
  const w = d.block('worker', { required: true });
  const names: Record<'datacenter' | 'node_type' | 'node', string | undefined> = {
    datacenter: w?.string('datacenter', { required: true }),
    node_type: w?.string('node_type', { required: true }),
    node: w?.string('node') ?? os.hostname(),
  };
  const role = (w?.string('role', { oneOf: WORKER_ROLES }) ?? 'both') as WorkerRole;
  for (const [field, value] of Object.entries(names) as Array<[keyof typeof names, string | undefined]>) {
    const problem = value === undefined ? undefined : invalidName(field, value);
    if (problem) w?.error(field, problem);
  }
  const shutdownGraceMs = w?.duration('shutdown_grace', { positive: true }) ?? WORKER_DEFAULTS.shutdownGraceMs;
  const metricsListen = w?.string('metrics_listen', { nonEmpty: true });
  if (metricsListen !== undefined && !parseListen(metricsListen))
    w?.error('metrics_listen', `${JSON.stringify(metricsListen)} is not host:port`);
  const maxConcurrentActivities =
    w?.number('max_concurrent_activities', { positive: true, integer: true }) ?? WORKER_DEFAULTS.maxConcurrentActivities;
  const workflowThreads = w?.bool('workflow_threads', true) ?? true;
  const allowedCommands = w ? readPathList(w, 'allowed_commands', 'executable') : [];
  const commandTimeoutMs = w?.duration('command_timeout', { positive: true }) ?? WORKER_DEFAULTS.commandTimeoutMs;
  const maxOutputBytes = w?.number('max_output_bytes', { positive: true, integer: true }) ?? WORKER_DEFAULTS.maxOutputBytes;
  const systemctl = w?.string('systemctl', { nonEmpty: true }) ?? WORKER_DEFAULTS.systemctl;
  const systemctlProblem = invalidAbsolutePath(systemctl);
  if (systemctlProblem) w?.error('systemctl', systemctlProblem);
  const cleanupPaths = w ? readPathList(w, 'cleanup_paths', 'directory') : [];
  const rebootDryRun = w?.bool('reboot_dry_run', false) ?? false;
  const rebootCommand = (w && readArgv(w, 'reboot_command')) ?? [...WORKER_DEFAULTS.rebootCommand];
  w?.finish();

  const hooks: Partial<Record<HookEvent, Hook>> = {};
  if (Array.isArray(d.body.hook)) {
    d.blocks('hook');
    d.error('hook', 'hooks are labelled: hook "drain" { ... }, hook "undrain" { ... }, hook "notify" { ... }');
  } else {
    for (const { label, body } of d.labeled('hook')) {
      if (!(HOOK_EVENTS as readonly string[]).includes(label)) {
        d.error(`hook.${label}`, `unknown hook ${JSON.stringify(label)} (known: ${HOOK_EVENTS.join(', ')})`);
        continue;
      }
      const hook = readHook(body, label);
      if (hook) hooks[label as HookEvent] = hook;
    }
  }
  const prometheus = readPrometheus(d.block('prometheus'));
  const escalation = readEscalation(d.block('escalation'));
  if (escalation && role === 'node')
    d.warning(
      'escalation',
      'a worker with role = "node" runs no workflows, so it never pages: put escalation on general workers',
    );
  const temporal = readTemporal(d.block('temporal'));
  d.finish();
  return {
    file: d.file,
    datacenter: names.datacenter ?? '',
    nodeType: names.node_type ?? '',
    node: names.node ?? '',
    role,
    shutdownGraceMs,
    metricsListen,
    maxConcurrentActivities,
    workflowThreads,
    allowedCommands,
    commandTimeoutMs,
    maxOutputBytes,
    systemctl,
    cleanupPaths,
    rebootDryRun,
    rebootCommand,
    prometheus,
    hooks,
    ...(escalation && { escalation }),
    temporal,
  };
}
