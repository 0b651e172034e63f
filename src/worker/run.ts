// `medic worker` as a function: load and check the config, connect (retrying), poll the three
// queues, drain on stop. cmd/medic.ts owns signals; this owns the worker's whole life, so a test
// can run it in-process or as the built binary. The engine (the Temporal SDK's worker, or the
// lean runtime for role node: lean/) and the activities are not imported with this module: they
// load while the config child parses, once V8 is sized.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { ConfigError } from '../config/diagnostics';
import { loadConfigInChild } from './config-process';
import { WORKER_DEFAULTS, WORKER_ROLES, type WorkerConfig } from '../config/worker';
import { invalidName } from '../naming/task-queues';
import { parseListen } from '../config/coordinator';
import { diagnoseTemporalTls, refusedCredentials, TemporalTlsError } from '../temporal/tls-diagnosis';
import { workflowBundlePath } from '../temporal/bundle-workflows';
import { ConnectAbortedError, connectWithRetry, type RetryPolicy } from '../temporal/connect';
import { readManifest, registrationProblems, RegistrationError } from './registration';
import type { Log } from '../telemetry/line-log';
import type { CreateEngine, WorkerEngine } from './engine';

export interface WorkerRunOptions {
  configDir: string;
  /** Flags that override worker.hcl. */
  overrides?: {
    datacenter?: string;
    nodeType?: string;
    node?: string;
    temporalAddress?: string;
    metricsListen?: string;
    role?: string;
    /** --escalation-url: a JSON escalation sink, replacing worker.hcl's escalation block. */
    escalationUrl?: string;
  };
  /** The prebuilt workflow bundle; default dist/workflow-bundle.js of this package. */
  bundlePath?: string;
  log: Log;
  connectRetry?: RetryPolicy;
  /** Called once all three queues are polling (tests, benchmarks). */
  onPolling?: (queues: string[]) => void;
  /** Registers the SIGHUP handler: reload worker.hcl. */
  onReload?: (handler: () => void) => void;
  /**
   * Size V8 for the role (V8_FLAGS): for the `medic worker` process only, never in-process
   * (the flags are process-wide).
   */
  leanV8?: boolean;
}

/**
 * V8 settings of a per-server (activity-only) worker, which runs little JavaScript (the lean
 * runtime's polls and heartbeats; activities spawn commands and make HTTP calls): the young
 * generation stays at its initial 1 MB semi-space instead of growing to 16 MB, and no optimizing
 * or baseline compiler, whose code and feedback would cost several MB for nothing (npm run
 * bench:worker). Set from code, not the command line, so the packaged executable and `node
 * dist/cmd/medic.js` get them alike. They must hold before the engine loads (a grown young
 * generation never shrinks), and it loads while the config child parses, before the role is
 * known: so every `medic worker` starts lean and the other roles go back to V8's defaults.
 */
const V8_FLAGS = {
  lean: ['--semi-space-growth-factor=1', '--no-opt', '--no-sparkplug'],
  defaults: ['--semi-space-growth-factor=2', '--opt', '--sparkplug'],
} as const;

function setV8Flags(flags: readonly string[]): void {
  for (const flag of flags) v8.setFlagsFromString(flag);
}

export const EXIT_CODES = { ok: 0, failure: 1 } as const;

/** worker.hcl with the command-line overrides applied and checked like the file's own values. */
export function applyOverrides(config: WorkerConfig, overrides: WorkerRunOptions['overrides'] = {}): WorkerConfig {
  const merged = {
    ...config,
    datacenter: overrides.datacenter ?? config.datacenter,
    nodeType: overrides.nodeType ?? config.nodeType,
    node: overrides.node ?? config.node,
    metricsListen: overrides.metricsListen ?? config.metricsListen,
    role: (overrides.role ?? config.role) as WorkerConfig['role'],
    ...(overrides.escalationUrl !== undefined && {
      escalation: {
        url: overrides.escalationUrl,
        format: 'json' as const,
        headers: {},
        timeoutMs: WORKER_DEFAULTS.escalationTimeoutMs,
      },
    }),
    ...(overrides.temporalAddress !== undefined && { temporal: { ...config.temporal, address: overrides.temporalAddress } }),
  };
  const problems = [
    overrides.metricsListen !== undefined && !parseListen(overrides.metricsListen)
      ? `--metrics-listen ${JSON.stringify(overrides.metricsListen)} is not host:port`
      : undefined,
    overrides.temporalAddress !== undefined && !parseListen(overrides.temporalAddress)
      ? `--temporal-address ${JSON.stringify(overrides.temporalAddress)} is not host:port`
      : undefined,
    overrides.role !== undefined && !(WORKER_ROLES as readonly string[]).includes(overrides.role)
      ? `--role ${JSON.stringify(overrides.role)} is not one of ${WORKER_ROLES.join(', ')}`
      : undefined,
    overrides.escalationUrl !== undefined && !/^https?:\/\/\S+$/.test(overrides.escalationUrl)
      ? `--escalation-url ${JSON.stringify(overrides.escalationUrl)} is not an http(s) URL`
      : undefined,
    invalidName('datacenter', merged.datacenter),
    invalidName('node_type', merged.nodeType),
    invalidName('node', merged.node),
  ].filter((p): p is string => p !== undefined);
  if (problems.length) throw new RegistrationError(`invalid worker settings: ${problems.join('; ')}`);
  return merged;
}

/** Loads and checks worker.hcl (and the workflow configs against the bundle); throws on any problem. */
async function loadWorkerConfig(opts: WorkerRunOptions, bundlePath: string): Promise<WorkerConfig> {
  const { result: loaded, workflowTypes } = await loadConfigInChild(opts.configDir);
  if (!loaded.ok) throw new ConfigError(loaded.diagnostics);
  if (!loaded.config.worker) throw new RegistrationError(`${opts.configDir} has no worker.hcl`);
  const config = applyOverrides(loaded.config.worker, opts.overrides);
  const configured = new Map([...loaded.config.workflows].map(([name, wf]) => [name, wf.workflowType]));
  const problems = registrationProblems({
    bundleTypes: readManifest(bundlePath).workflowTypes,
    codeTypes: new Set(workflowTypes),
    configuredTypes: configured,
  });
  if (problems.length) throw new RegistrationError(problems.join('\n'));
  return config;
}

// What a reload may change: what activities may do. Where the worker sits (its queues, role,
// Temporal) is fixed for the life of the process.
const FIXED = ['datacenter', 'nodeType', 'node', 'role', 'temporal', 'metricsListen', 'workflowThreads'] as const;

/**
 * SIGHUP: load and check the new worker.hcl completely, then swap the settings the activities
 * read in one step. Running activities keep the values they started with; a bad file leaves
 * the old settings in force.
 */
export async function reloadSettings(
  opts: WorkerRunOptions,
  bundlePath: string,
  live: WorkerConfig,
): Promise<{ ok: true; ignored: string[] } | { ok: false; error: string }> {
  let next: WorkerConfig;
  try {
    next = await loadWorkerConfig(opts, bundlePath);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const ignored = FIXED.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(live[k]));
  const swapped: Partial<WorkerConfig> = { ...next };
  for (const k of FIXED) delete swapped[k];
  if (!next.escalation) delete (live as Partial<WorkerConfig>).escalation;
  if (!next.prometheus) delete (live as Partial<WorkerConfig>).prometheus;
  Object.assign(live, swapped);
  return { ok: true, ignored: [...ignored] };
}

/**
 * The role this worker will most likely have, before the config child has parsed worker.hcl: the
 * --role flag, else a `role = "..."` line of worker.hcl. Only a guess, to load the right engine
 * while the child parses; the parsed config decides.
 */
export function roleHint(opts: Pick<WorkerRunOptions, 'configDir' | 'overrides'>): string | undefined {
  if (opts.overrides?.role) return opts.overrides.role;
  try {
    return /^\s*role\s*=\s*"(\w+)"/m.exec(fs.readFileSync(path.join(opts.configDir, 'worker.hcl'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The engine of a role: the lean runtime for node, which must never load the SDK's worker; the SDK's for the others. */
async function engineFor(role: string | undefined): Promise<CreateEngine> {
  return role === 'node' ? (await import('./lean/engine')).createLeanEngine : (await import('./sdk-engine')).createSdkEngine;
}

export async function runWorker(opts: WorkerRunOptions, signal: AbortSignal): Promise<number> {
  const { log } = opts;
  let config: WorkerConfig;
  const bundlePath = opts.bundlePath ?? workflowBundlePath();
  if (opts.leanV8) setV8Flags(V8_FLAGS.lean);
  const loading = loadWorkerConfig(opts, bundlePath);
  // The engine and the activities load while the child parses the config (two cores, half the wait).
  const modules = Promise.all([engineFor(roleHint(opts)), import('../../activities')]);
  modules.catch(() => undefined); // awaited below unless the config is refused first
  try {
    config = await loading;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RegistrationError) {
      log('error', 'cannot start the worker', { error: err.message });
      return EXIT_CODES.failure;
    }
    throw err;
  }
  if (opts.leanV8 && config.role !== 'node') setV8Flags(V8_FLAGS.defaults);
  const [, { createActivities }] = await modules;
  let engine: WorkerEngine;
  try {
    engine = await (await engineFor(config.role))(config, log, bundlePath);
  } catch (err) {
    log('error', 'cannot start the worker', { error: (err as Error).message });
    return EXIT_CODES.failure;
  }
  try {
    await connectWithRetry(() => engine.connect(), {
      address: config.temporal.address,
      signal,
      log,
      policy: opts.connectRetry,
      permanent: async () => {
        const why = await diagnoseTemporalTls(config.temporal).catch(() => undefined);
        return why ? new TemporalTlsError(why) : undefined;
      },
      refused: (err) => refusedCredentials(err, config.temporal),
    });
  } catch (err) {
    await engine.close();
    if (err instanceof ConnectAbortedError) {
      log('info', 'stopped before connecting', { reason: err.message });
      return EXIT_CODES.ok;
    }
    if (err instanceof TemporalTlsError) {
      log('error', 'cannot connect to Temporal', { address: config.temporal.address, error: err.message });
      return EXIT_CODES.failure;
    }
    throw err;
  }

  try {
    const worker = await engine.start(createActivities({ settings: config, log: (m) => log('info', m) }));
    const running = worker.run();
    opts.onReload?.(() => {
      void reloadSettings(opts, bundlePath, config).then((r) => {
        if (!r.ok) log('error', 'reload failed; the previous worker.hcl stays in force', { error: r.error });
        else
          log('info', 'reloaded worker.hcl', {
            ...(r.ignored.length && { needs_restart: r.ignored.join(',') }),
            allowed_commands: config.allowedCommands.length,
            cleanup_paths: config.cleanupPaths.length,
          });
      });
    });
    engine.setQueues(worker.queues.length);
    log('info', 'polling', { queues: worker.queues.join(','), identity: worker.identity, namespace: config.temporal.namespace });
    opts.onPolling?.(worker.queues);
    const stop = (): void => {
      log('info', 'stopping: draining running activities', { grace: `${config.shutdownGraceMs / 1000}s` });
      worker.shutdown();
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    try {
      await running;
    } catch (err) {
      log('error', 'worker stopped with an error', { error: (err as Error).message });
      return EXIT_CODES.failure;
    } finally {
      signal.removeEventListener('abort', stop);
    }
    engine.setQueues(0);
    log('info', 'stopped');
    return EXIT_CODES.ok;
  } finally {
    await engine.close();
  }
}
