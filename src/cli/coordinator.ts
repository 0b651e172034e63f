// `medic coordinator`: runs the HTTPS + mTLS API that authorises, checks constraints and starts workflows.
import { loadConfigOrThrow } from '../config/load';
import { formatDiagnostic } from '../config/diagnostics';
import { parseListen } from '../config/coordinator';
import { defaultConfigDir } from '../paths';
import { runCoordinator, type LoadedConfig } from '../coordinator/server';
import { CONFIG_OPTION, TEMPORAL_ADDRESS_OPTION, EXIT, type Command } from '../command/command';
import { WORKFLOW_TYPES } from './validate';
import { createConsole, devSignInFromEnv } from '../console/console';
import { DEFAULT_SESSION_TTL_MS } from '../config/console';

/** Command-line values that win over coordinator.hcl (medic dev uses them to pick ports). */
interface Overrides {
  listen?: { host: string; port: number };
  temporalAddress?: string;
}

function readOverrides(values: Record<string, unknown>): Overrides {
  const out: Overrides = {};
  const listen = values.listen as string | undefined;
  if (listen !== undefined) {
    out.listen = parseListen(listen);
    if (!out.listen) throw new Error(`--listen ${JSON.stringify(listen)} is not host:port`);
  }
  const temporal = values['temporal-address'] as string | undefined;
  if (temporal !== undefined) {
    if (!parseListen(temporal)) throw new Error(`--temporal-address ${JSON.stringify(temporal)} is not host:port`);
    out.temporalAddress = temporal;
  }
  return out;
}

async function load(dir: string, overrides: Overrides, warn: (line: string) => void): Promise<LoadedConfig> {
  const { config, diagnostics } = await loadConfigOrThrow(dir, { workflowTypes: WORKFLOW_TYPES });
  for (const d of diagnostics) warn(formatDiagnostic(d));
  if (!config.coordinator) throw new Error(`${config.dir} has no coordinator.hcl`);
  const c = config.coordinator;
  const coordinator = {
    ...c,
    listen: overrides.listen ?? c.listen,
    temporal: { ...c.temporal, address: overrides.temporalAddress ?? c.temporal.address },
  };
  return { coordinator, workflows: config.workflows };
}

export const coordinatorCommand: Command = {
  name: 'coordinator',
  summary: 'Run the coordinator: the mTLS HTTPS API that authorises, checks constraints and starts workflows.',
  usage: 'coordinator [--config DIR] [--listen HOST:PORT] [--temporal-address HOST:PORT] [--insecure-no-tls]',
  details:
    'Reads coordinator.hcl and workflows/*.hcl from the config directory. SIGHUP reloads them (route rules,\n' +
    'workflows, certificates); a configuration with errors is refused and the running one kept.\n' +
    'Audit lines (JSON, one per decision) go to stdout; operational messages to stderr.',
  options: {
    config: CONFIG_OPTION,
    listen: { type: 'string', valueName: 'HOST:PORT', description: 'HTTPS listener (overrides server_config.listen)' },
    'temporal-address': TEMPORAL_ADDRESS_OPTION,
    'insecure-no-tls': {
      type: 'boolean',
      description: 'allow enable_tls = false (plain HTTP, no caller identities): local development only',
    },
  },
  async run(ctx) {
    const dir = (ctx.values.config as string | undefined) ?? defaultConfigDir();
    const log = (m: string): void => void ctx.stderr.write(`medic coordinator: ${m}\n`);
    const overrides = readOverrides(ctx.values);
    const config = await load(dir, overrides, log);
    const webConsole = createConsole({
      config: config.coordinator.console ?? { sessionTtlMs: DEFAULT_SESSION_TTL_MS },
      dev: devSignInFromEnv(),
      log,
    });
    await runCoordinator({
      extensions: [webConsole],
      config,
      insecureNoTls: ctx.values['insecure-no-tls'] === true,
      signal: ctx.signal,
      reload: () => load(dir, overrides, log),
      onReload: ctx.onReload,
      log,
    });
    return EXIT.ok;
  },
};
