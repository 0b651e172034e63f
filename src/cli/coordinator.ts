// `medic coordinator`: runs the HTTPS + mTLS API that authorises, checks constraints and starts workflows.
import { loadConfigOrThrow } from '../config/load';
import { formatDiagnostic } from '../config/diagnostics';
import { defaultConfigDir } from '../paths';
import { runCoordinator, type LoadedConfig } from '../coordinator/server';
import { CONFIG_OPTION, EXIT, type Command } from './command';
import { WORKFLOW_TYPES } from './validate';

async function load(dir: string, warn: (line: string) => void): Promise<LoadedConfig> {
  const { config, diagnostics } = await loadConfigOrThrow(dir, { workflowTypes: WORKFLOW_TYPES });
  for (const d of diagnostics) warn(formatDiagnostic(d));
  if (!config.coordinator) throw new Error(`${config.dir} has no coordinator.hcl`);
  return { coordinator: config.coordinator, workflows: config.workflows };
}

export const coordinatorCommand: Command = {
  name: 'coordinator',
  summary: 'Run the coordinator: the mTLS HTTPS API that authorises, checks constraints and starts workflows.',
  usage: 'coordinator [--config DIR] [--insecure-no-tls]',
  details:
    'Reads coordinator.hcl and workflows/*.hcl from the config directory. SIGHUP reloads them (route rules,\n' +
    'workflows, certificates); a configuration with errors is refused and the running one kept.\n' +
    'Audit lines (JSON, one per decision) go to stdout; operational messages to stderr.',
  options: {
    config: CONFIG_OPTION,
    'insecure-no-tls': {
      type: 'boolean',
      description: 'allow enable_tls = false (plain HTTP, no caller identities): local development only',
    },
  },
  async run(ctx) {
    const dir = (ctx.values.config as string | undefined) ?? defaultConfigDir();
    const log = (m: string): void => void ctx.stderr.write(`medic coordinator: ${m}\n`);
    const config = await load(dir, log);
    await runCoordinator({
      config,
      insecureNoTls: ctx.values['insecure-no-tls'] === true,
      signal: ctx.signal,
      reload: () => load(dir, log),
      onReload: ctx.onReload,
      log,
    });
    return EXIT.ok;
  },
};
