// `medic worker` as a function: load and check the config, connect (retrying), poll the three
// queues, drain on stop. cmd/medic.ts owns signals; this owns the worker's whole life, so a test
// can run it in-process or as the built binary.
import { DefaultLogger, NativeConnection, Runtime, type LogLevel as SdkLevel } from '@temporalio/worker';
import { createActivities } from '../../activities';
import { ConfigError } from '../config/diagnostics';
import { loadConfigInChild } from './config-process';
import type { WorkerConfig } from '../config/worker';
import { invalidName } from '../temporal/task-queues';
import { parseListen } from '../config/coordinator';
import { temporalConnection } from '../temporal/tls';
import { diagnoseTemporalTls, TemporalTlsError } from '../temporal/tls-diagnosis';
import { workflowBundlePath } from '../temporal/bundle-workflows';
import { WORKFLOW_TYPES } from '../temporal/workflow-types';
import { ConnectAbortedError, connectWithRetry, type RetryPolicy } from './connect';
import { createMedicWorker } from './medic-worker';
import { readManifest, registrationProblems, RegistrationError } from './registration';
import type { Log, LogLevel } from './log';

export interface WorkerRunOptions {
  configDir: string;
  /** Flags that override worker.hcl. */
  overrides?: { datacenter?: string; nodeType?: string; node?: string; temporalAddress?: string; metricsListen?: string };
  /** The prebuilt workflow bundle; default dist/workflow-bundle.js of this package. */
  bundlePath?: string;
  log: Log;
  connectRetry?: RetryPolicy;
  /** Called once all three queues are polling (tests, benchmarks). */
  onPolling?: (queues: string[]) => void;
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
    ...(overrides.temporalAddress !== undefined && { temporal: { ...config.temporal, address: overrides.temporalAddress } }),
  };
  const problems = [
    overrides.metricsListen !== undefined && !parseListen(overrides.metricsListen)
      ? `--metrics-listen ${JSON.stringify(overrides.metricsListen)} is not host:port`
      : undefined,
    overrides.temporalAddress !== undefined && !parseListen(overrides.temporalAddress)
      ? `--temporal-address ${JSON.stringify(overrides.temporalAddress)} is not host:port`
      : undefined,
    invalidName('datacenter', merged.datacenter),
    invalidName('node_type', merged.nodeType),
    invalidName('node', merged.node),
  ].filter((p): p is string => p !== undefined);
  if (problems.length) throw new RegistrationError(`invalid worker settings: ${problems.join('; ')}`);
  return merged;
}

const SDK_LEVELS: Record<SdkLevel, LogLevel> = { TRACE: 'debug', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/**
 * Installs the process-wide Temporal runtime: no signal handling of its own (cmd/ owns signals),
 * SDK and activity logs in our log format, Prometheus metrics on metrics_listen.
 */
function installRuntime(config: WorkerConfig, log: Log): void {
  try {
    Runtime.install({
      shutdownSignals: [],
      logger: new DefaultLogger('INFO', (e) => log(SDK_LEVELS[e.level], e.message, e.meta as Record<string, unknown>)),
      telemetryOptions: config.metricsListen ? { metrics: { prometheus: { bindAddress: config.metricsListen } } } : {},
    });
  } catch {
    // In-process (tests): a runtime is already there, with its own settings.
    log('warn', 'Temporal runtime already installed in this process; metrics_listen not applied');
  }
}

/** medic_worker_task_queues{node,datacenter,node_type}: how many queues this worker polls now. */
function queuesGauge(config: WorkerConfig): (n: number) => void {
  const gauge = Runtime.instance().metricMeter.createGauge(
    'medic_worker_task_queues',
    'int',
    '',
    'Task queues this worker polls',
  );
  return (n) => gauge.set(n, { node: config.node, datacenter: config.datacenter, node_type: config.nodeType });
}

export async function runWorker(opts: WorkerRunOptions, signal: AbortSignal): Promise<number> {
  const { log } = opts;
  let config: WorkerConfig;
  const bundlePath = opts.bundlePath ?? workflowBundlePath();
  try {
    const loaded = await loadConfigInChild(opts.configDir);
    if (!loaded.ok) throw new ConfigError(loaded.diagnostics);
    if (!loaded.config.worker) throw new RegistrationError(`${opts.configDir} has no worker.hcl`);
    config = applyOverrides(loaded.config.worker, opts.overrides);
    const configured = new Map([...loaded.config.workflows].map(([name, wf]) => [name, wf.workflowType]));
    const problems = registrationProblems({
      bundleTypes: readManifest(bundlePath).workflowTypes,
      codeTypes: WORKFLOW_TYPES,
      configuredTypes: configured,
    });
    if (problems.length) throw new RegistrationError(problems.join('\n'));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RegistrationError) {
      log('error', 'cannot start the worker', { error: err.message });
      return EXIT_CODES.failure;
    }
    throw err;
  }

  installRuntime(config, log);
  let connection: NativeConnection;
  try {
    connection = await connectWithRetry(
      () => {
        const { apiKey, ...conn } = temporalConnection(config.temporal);
        return NativeConnection.connect({ ...conn, ...(apiKey && { apiKey: apiKey() }) });
      },
      {
        address: config.temporal.address,
        signal,
        log,
        policy: opts.connectRetry,
        permanent: async () => {
          const why = await diagnoseTemporalTls(config.temporal).catch(() => undefined);
          return why ? new TemporalTlsError(why) : undefined;
        },
      },
    );
  } catch (err) {
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
    const worker = await createMedicWorker({
      config,
      connection,
      bundlePath,
      activities: createActivities({ settings: config, log: (m) => log('info', m) }),
    });
    const running = worker.run();
    const polling = queuesGauge(config);
    polling(worker.queues.length);
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
    polling(0);
    log('info', 'stopped');
    return EXIT_CODES.ok;
  } finally {
    await connection.close();
  }
}
