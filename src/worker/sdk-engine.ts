// The SDK engine of `medic worker` (roles general and both): Temporal's Runtime with medic's
// log format and metrics_listen, a NativeConnection, and one SDK Worker per queue (medic-worker.ts).
import { DefaultLogger, NativeConnection, Runtime, type LogLevel as SdkLevel } from '@temporalio/worker';
import type { WorkerConfig } from '../config/worker';
import { temporalConnection } from '../temporal/tls';
import type { CreateEngine } from './engine';
import type { Log, LogLevel } from '../telemetry/line-log';
import { createMedicWorker } from './medic-worker';

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
      telemetryOptions: {
        // The SDK core's own lines go through `log` too (by default it prints them on stdout).
        logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} },
        ...(config.metricsListen && { metrics: { prometheus: { bindAddress: config.metricsListen } } }),
      },
    });
  } catch {
    // In-process (tests): a runtime is already there, with its own settings.
    log('warn', 'Temporal runtime already installed in this process; metrics_listen not applied');
  }
}

export const createSdkEngine: CreateEngine = async (config, log, bundlePath) => {
  installRuntime(config, log);
  let connection: NativeConnection | undefined;
  return {
    async connect() {
      const { apiKey, ...conn } = temporalConnection(config.temporal);
      connection = await NativeConnection.connect({ ...conn, ...(apiKey && { apiKey: apiKey() }) });
    },
    start: (activities) => createMedicWorker({ config, connection: connection!, bundlePath, activities }),
    // Looked up each time: the runtime shuts down when its last connection goes (a failed
    // connect attempt) and comes back with the next one, with a meter of its own.
    setQueues: (n) =>
      Runtime.instance()
        .metricMeter.createGauge('medic_worker_task_queues', 'int', '', 'Task queues this worker polls')
        .set(n, { node: config.node, datacenter: config.datacenter, node_type: config.nodeType }),
    async close() {
      await connection?.close();
    },
  };
};
