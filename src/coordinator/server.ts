// Runs a coordinator from a loaded configuration: connects to Temporal in the background,
// builds the app, listens, reloads on request, and stops when the signal aborts.
import * as fs from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { CoordinatorConfig } from '../config/coordinator';
import type { WorkflowConfig } from '../config/workflow';
import { buildCoordinator, type CoordinatorExtension } from './app';
import { tlsCallerIdentity } from './identity';
import type { AuditSink } from '../telemetry/audit';
import { LiveConfig } from './live-config';
import { createMetrics } from './metrics';
import { TemporalGateway } from '../temporal/gateway';

/** Thrown when the coordinator cannot start as configured (TLS off without the dev flag, unreadable certificates). */
export class CoordinatorStartError extends Error {
  override name = 'CoordinatorStartError';
}

export interface LoadedConfig {
  coordinator: CoordinatorConfig;
  workflows: ReadonlyMap<string, WorkflowConfig>;
}

export interface RunOptions {
  config: LoadedConfig;
  /** Required to serve plain HTTP when coordinator.hcl says enable_tls = false. */
  insecureNoTls?: boolean;
  signal: AbortSignal;
  /** Loads and validates the config again; throws when it is not valid (the old one stays). */
  reload?: () => Promise<LoadedConfig>;
  onReload?: (handler: () => void) => void;
  audit?: AuditSink;
  log: (message: string) => void;
  /** Called once listening, with the bound address (tests listen on port 0). */
  onListening?: (address: { host: string; port: number }) => void;
  /** Served on the same listener: the web console (src/coordinator/console/). */
  extensions?: CoordinatorExtension[];
}

export function readTlsMaterial(c: CoordinatorConfig): { key: Buffer; cert: Buffer; ca: Buffer } {
  const read = (what: string, file: string | undefined): Buffer => {
    if (!file) throw new CoordinatorStartError(`server_config.${what} is required when enable_tls = true`);
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new CoordinatorStartError(
        `cannot read server_config.${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  };
  return { cert: read('cert_file', c.certFile), key: read('key_file', c.keyFile), ca: read('client_ca_file', c.clientCaFile) };
}

const NO_TLS_WARNING = [
  '',
  '!!! ================================================================== !!!',
  '!!!  TLS IS OFF (enable_tls = false, --insecure-no-tls).               !!!',
  '!!!  No caller has an identity: only allow_public route rules admit.   !!!',
  '!!!  Traffic is unencrypted. For local development only.               !!!',
  '!!! ================================================================== !!!',
  '',
].join('\n');

/** Runs until `signal` aborts; resolves after a clean shutdown. */
export async function runCoordinator(opts: RunOptions): Promise<void> {
  const { coordinator } = opts.config;
  let https: ReturnType<typeof readTlsMaterial> | undefined;
  if (coordinator.enableTls) {
    https = readTlsMaterial(coordinator);
  } else {
    if (!opts.insecureNoTls) {
      throw new CoordinatorStartError(
        `${coordinator.file}: enable_tls = false needs the --insecure-no-tls flag (local development only)`,
      );
    }
    opts.log(NO_TLS_WARNING);
  }
  let live: LiveConfig;
  try {
    live = new LiveConfig(coordinator, opts.config.workflows);
  } catch (err) {
    throw new CoordinatorStartError((err as Error).message);
  }
  const metrics = createMetrics();
  let fatal: Error | undefined;
  let stopOnFatal = (): void => {};
  const temporal = TemporalGateway.connectInBackground(coordinator.temporal, {
    log: opts.log,
    onConnected: (up) => metrics.temporalConnected.set(up ? 1 : 0),
    onFatal: (err) => {
      fatal = err;
      stopOnFatal();
    },
    onCall: (method) => metrics.temporalCalls.inc({ method }),
    onCallDone: (method, seconds) => metrics.temporalCallSeconds.observe({ method }, seconds),
  });
  metrics.configReloadSuccessful.set(1);
  metrics.configReloadSeconds.set(Date.now() / 1000);
  let app: FastifyInstance | undefined;
  let clientCa = https?.ca;
  // Connections by when they were authenticated: a keep-alive connection keeps the identity its
  // handshake established, so a CA rotation must close the ones made under the old CA.
  const tlsConnections = new Set<TLSSocket>();
  try {
    const extensions = opts.extensions ?? [];
    app = await buildCoordinator({
      config: live,
      temporal,
      metrics,
      audit: opts.audit,
      log: opts.log,
      https,
      closeWatcher: {},
      identify: extensions.reduce((inner, e) => e.identify(inner), tlsCallerIdentity),
      plugins: extensions.map((e) => e.plugin),
    });
    if (https) {
      app.server.on('secureConnection', (socket: TLSSocket) => {
        tlsConnections.add(socket);
        socket.once('close', () => tlsConnections.delete(socket));
      });
    }
    opts.onReload?.(() => void reload(app!, live));
    await app.listen({ host: coordinator.listen.host, port: coordinator.listen.port });
    const addr = app.server.address();
    const bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : coordinator.listen;
    opts.log(`listening on ${https ? 'https' : 'http'}://${bound.host}:${bound.port} (${live.current.workflows.size} workflows)`);
    opts.onListening?.(bound);
    await new Promise<void>((resolve) => {
      stopOnFatal = resolve;
      if (opts.signal.aborted || fatal) resolve();
      else opts.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    opts.log('shutting down');
  } finally {
    await app?.close();
    await temporal.close();
  }
  if (fatal) throw new CoordinatorStartError(fatal.message);

  async function reload(a: FastifyInstance, current: LiveConfig): Promise<void> {
    if (!opts.reload) return;
    try {
      const next = await opts.reload();
      const before = current.current.coordinator;
      const after = next.coordinator;
      // Build everything first; swap only when all of it succeeded.
      const state = LiveConfig.build(after, next.workflows);
      let tls: ReturnType<typeof readTlsMaterial> | undefined;
      if (after.enableTls && before.enableTls) tls = readTlsMaterial(after);
      const needsRestart = [
        before.listen.host !== after.listen.host || before.listen.port !== after.listen.port ? 'listen' : '',
        before.enableTls !== after.enableTls ? 'enable_tls' : '',
        before.bodyLimit !== after.bodyLimit ? 'body_limit_bytes' : '',
        JSON.stringify(before.temporal) !== JSON.stringify(after.temporal) ? 'temporal' : '',
        JSON.stringify(before.console) !== JSON.stringify(after.console) ? 'console' : '',
      ].filter(Boolean);
      if (tls) (a.server as HttpsServer).setSecureContext({ ...tls, minVersion: 'TLSv1.2' });
      current.swap(state);
      await a.configsInUse
        .syncOnce()
        .catch((err: unknown) =>
          opts.log(`the reloaded config is not announced yet (admission will): ${(err as Error).message}`),
        );
      if (tls && clientCa && !tls.ca.equals(clientCa)) {
        const authenticated = [...tlsConnections].filter((c) => c.authorized);
        for (const socket of authenticated) socket.destroy();
        opts.log(`client CA changed: closed ${authenticated.length} connections authenticated under the old CA`);
      }
      if (tls) clientCa = tls.ca;
      metrics.configReloadSuccessful.set(1);
      metrics.configReloadSeconds.set(Date.now() / 1000);
      opts.log(
        `configuration reloaded: ${state.workflows.size} workflows, ${after.routeRules.length} route rules, certificates re-read` +
          (needsRestart.length ? `; changes to ${needsRestart.join(', ')} take effect after a restart` : ''),
      );
    } catch (err) {
      metrics.configReloadSuccessful.set(0);
      opts.log(`configuration reload failed, keeping the running configuration: ${(err as Error).message}`);
    }
  }
}
