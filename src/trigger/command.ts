// `medic trigger`: loads triggers/*.hcl, runs the daemon until SIGINT/SIGTERM, reloads on SIGHUP.
import * as os from 'node:os';
import * as path from 'node:path';
import { CoordinatorClient } from '../client/coordinator-client';
import { CONFIG_OPTION, EXIT, type Command } from '../command/command';
import { WORKFLOW_TYPES } from '../temporal/workflow-types';
import { formatDiagnostic } from '../config/diagnostics';
import { parseDuration } from '../duration';
import { loadConfigDir, type TriggerConfig } from '../config/load';
import { defaultConfigDir, stateDir } from '../paths';
import { createLogger, type Logger } from '../telemetry/logger';
import { serveMetrics } from '../telemetry/metrics-server';
import { preflight, TriggerPreflightError } from './preflight';
import { TriggerDaemon } from './daemon';
import { createTriggerMetrics } from './metrics';

interface Overrides {
  node?: string;
  coordinatorAddress?: string;
  prometheusAddress?: string;
  pollIntervalMs?: number;
}

/** Loads and checks what the daemon needs; returns the problems as lines when it cannot run. */
async function loadTriggers(dir: string, o: Overrides): Promise<{ config?: TriggerConfig; problems: string[] }> {
  const { config, diagnostics, ok } = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
  // Flags win over the files (medic dev runs its coordinator and Prometheus on chosen ports).
  if (o.coordinatorAddress && config.triggers.coordinator) config.triggers.coordinator.address = o.coordinatorAddress;
  if (o.prometheusAddress && config.triggers.prometheus) config.triggers.prometheus.address = o.prometheusAddress;
  if (o.pollIntervalMs && config.triggers.prometheus) config.triggers.prometheus.pollIntervalMs = o.pollIntervalMs;
  config.triggers.node = o.node ?? config.triggers.node ?? os.hostname();
  const problems = diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
  const prometheusRules = config.triggers.rules.filter((r) => r.source === 'prometheus').length;
  // Only Prometheus rules need Prometheus; with no rules at all, everything missing is said.
  const needsPrometheus = prometheusRules > 0 || config.triggers.rules.length === 0;
  if (ok && needsPrometheus && !config.triggers.prometheus)
    problems.push(`${dir}: no prometheus { ... } block in triggers/*.hcl`);
  if (ok && !config.triggers.coordinator) problems.push(`${dir}: no coordinator { ... } block in triggers/*.hcl`);
  if (ok && config.triggers.rules.length === 0) problems.push(`${dir}: no rule "..." { ... } in triggers/*.hcl`);
  return problems.length ? { problems } : { config: config.triggers, problems };
}

function clientFor(config: TriggerConfig): CoordinatorClient {
  // Generous: a slow coordinator holds a send slot, never the evaluation (it runs apart).
  return new CoordinatorClient({ ...config.coordinator!, timeoutMs: 30_000 });
}

function defaultStateFile(): string {
  // systemd's StateDirectory= sets $STATE_DIRECTORY (/var/lib/medic).
  const dir = process.env.STATE_DIRECTORY?.split(':')[0];
  return dir ? path.join(dir, 'trigger-state.json') : stateDir('trigger-state.json');
}

export const triggerCommand: Command = {
  name: 'trigger',
  summary: 'Run the trigger daemon: Prometheus rules, log rules and health checks ask the coordinator to start workflows.',
  usage: 'trigger [--config DIR] [--node NAME] [--metrics-listen HOST:PORT] [--state-file FILE] [--once]',
  details:
    'Each rule in triggers/*.hcl is queried every poll_interval; a series that keeps matching for `for`\n' +
    "fires once per episode and starts the rule's workflow through the coordinator (mTLS, ACL and\n" +
    'constraints apply). Rules with source = "log" follow a file or a journal and fire on `count`\n' +
    'matches within `window`; source = "http" fires on `failures` failed checks in a row; both watch\n' +
    'this node ({{ $node }}). SIGHUP reloads triggers/*.hcl, keeping the old rules if the new ones are invalid.\n' +
    'medic trigger backtest --from 7d: what the rules and admission would have done over past history.',
  options: {
    config: CONFIG_OPTION,
    node: {
      type: 'string',
      valueName: 'NAME',
      description: "this node's name, {{ $node }} in templates (default: triggers' node, else worker.hcl's, else the host name)",
    },
    'metrics-listen': {
      type: 'string',
      valueName: 'HOST:PORT',
      description: 'serve /metrics and /healthz here (default 127.0.0.1:9465; "off" for none)',
    },
    'state-file': {
      type: 'string',
      valueName: 'FILE',
      description: 'pending/firing state kept across restarts (default $STATE_DIRECTORY/trigger-state.json or .medic/)',
    },
    'coordinator-address': {
      type: 'string',
      valueName: 'URL',
      description: "coordinator to ask (overrides the coordinator block's address)",
    },
    'prometheus-address': {
      type: 'string',
      valueName: 'URL',
      description: "Prometheus to query (overrides the prometheus block's address)",
    },
    'poll-interval': {
      type: 'string',
      valueName: 'DURATION',
      description: "how often to evaluate the rules, e.g. 1s (overrides the prometheus block's poll_interval)",
    },
    once: { type: 'boolean', description: 'evaluate every Prometheus rule once, send what fires, and exit' },
  },
  async run(ctx) {
    const dir = (ctx.values.config as string | undefined) ?? defaultConfigDir();
    const logger: Logger = createLogger({ component: 'trigger' });
    const coordinatorAddress = ctx.values['coordinator-address'] as string | undefined;
    if (coordinatorAddress !== undefined && !/^https?:\/\/[^/]+\/?$/.test(coordinatorAddress)) {
      ctx.stderr.write(`medic trigger: --coordinator-address ${JSON.stringify(coordinatorAddress)} is not https://host:port\n`);
      return EXIT.usage;
    }
    const prometheusAddress = ctx.values['prometheus-address'] as string | undefined;
    if (prometheusAddress !== undefined && !/^https?:\/\/[^/]+\/?$/.test(prometheusAddress)) {
      ctx.stderr.write(`medic trigger: --prometheus-address ${JSON.stringify(prometheusAddress)} is not http://host:port\n`);
      return EXIT.usage;
    }
    const pollText = ctx.values['poll-interval'] as string | undefined;
    const pollIntervalMs = pollText === undefined ? undefined : parseDuration(pollText);
    if (pollText !== undefined && !pollIntervalMs) {
      ctx.stderr.write(`medic trigger: --poll-interval ${JSON.stringify(pollText)} is not a positive duration like 1s\n`);
      return EXIT.usage;
    }
    const node = ctx.values.node as string | undefined;
    if (node !== undefined && !/^\S+$/.test(node)) {
      ctx.stderr.write(`medic trigger: --node ${JSON.stringify(node)} must be a non-empty name without spaces\n`);
      return EXIT.usage;
    }
    const overrides: Overrides = { node, coordinatorAddress, prometheusAddress, pollIntervalMs };
    const loaded = await loadTriggers(dir, overrides);
    if (!loaded.config) {
      ctx.stderr.write(
        `medic trigger: cannot start with this configuration:\n${loaded.problems.map((p) => `  ${p}\n`).join('')}`,
      );
      return EXIT.failure;
    }
    const metrics = createTriggerMetrics();
    let client: CoordinatorClient;
    try {
      client = clientFor(loaded.config);
    } catch (err) {
      ctx.stderr.write(`medic trigger: cannot read the coordinator client certificate: ${(err as Error).message}\n`);
      return EXIT.failure;
    }
    try {
      await preflight(
        client,
        loaded.config.coordinator!,
        loaded.config.rules.map((r) => r.workflow),
      );
    } catch (err) {
      client.close();
      if (!(err instanceof TriggerPreflightError)) throw err;
      ctx.stderr.write(`medic trigger: cannot start: ${err.message}\n`);
      return EXIT.failure;
    }
    const daemon = new TriggerDaemon(loaded.config, {
      client,
      metrics,
      logger,
      stateFile: (ctx.values['state-file'] as string | undefined) ?? defaultStateFile(),
    });
    metrics.reloadOk.set(1);
    metrics.reloadTime.set(Date.now() / 1000);
    await daemon.restore();

    if (ctx.values.once) {
      await daemon.tick(undefined, ctx.signal);
      await daemon.flush();
      client.close();
      return EXIT.ok;
    }

    const listen = (ctx.values['metrics-listen'] as string | undefined) ?? '127.0.0.1:9465';
    const server = listen === 'off' ? undefined : await serveMetrics(metrics.registry, listen);
    logger.info('trigger daemon started', {
      rules: loaded.config.rules.map((r) => r.name),
      node: loaded.config.node,
      prometheus: loaded.config.prometheus?.address,
      coordinator: loaded.config.coordinator!.address,
      poll_interval_ms: daemon.pollIntervalMs,
      metrics: server?.url,
    });

    ctx.onReload(() => {
      void (async () => {
        const next = await loadTriggers(dir, overrides);
        if (!next.config) {
          metrics.reloadOk.set(0);
          logger.error('reload failed; keeping the running rules', { problems: next.problems });
          return;
        }
        let nextClient: CoordinatorClient;
        try {
          nextClient = clientFor(next.config);
        } catch (err) {
          metrics.reloadOk.set(0);
          logger.error('reload failed: cannot read the coordinator client certificate; keeping the running rules', {
            error: err,
          });
          return;
        }
        daemon.apply(next.config, nextClient);
        client.close();
        client = nextClient;
        metrics.reloadOk.set(1);
        metrics.reloadTime.set(Date.now() / 1000);
        logger.info('configuration reloaded', { rules: next.config.rules.map((r) => r.name) });
      })();
    });

    await daemon.run(ctx.signal);
    logger.info('trigger daemon stopping');
    client.close();
    await server?.close();
    return EXIT.ok;
  },
};
