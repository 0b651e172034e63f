// `medic temporal setup --config DIR`: prepares a Temporal cluster for medic with the temporal
// block of coordinator.hcl (else worker.hcl): checks the connection and the namespace, and
// registers medic's search attributes when missing. Safe to run again; says what it did.
import { formatDiagnostic } from '../config/diagnostics';
import { displayPath, loadConfigDir } from '../config/load';
import { defaultConfigDir } from '../paths';
import { SEARCH_ATTRIBUTES } from '../naming/search-attributes';
import { setupTemporal } from '../temporal/setup';
import { CONFIG_OPTION, EXIT, type Command } from '../command/command';
import { WORKFLOW_TYPES } from './validate';

export const temporalCommand: Command = {
  name: 'temporal',
  summary: 'Prepare a Temporal cluster for medic: connection, namespace, search attributes (temporal setup).',
  usage: 'temporal setup [--config DIR]',
  details:
    'Uses the temporal block of coordinator.hcl (else worker.hcl) in the config directory.\n' +
    'Checks the connection (TLS problems explained: which file, which name, expired or untrusted),\n' +
    'that the namespace exists and its retention covers the longest constraint period, and registers\n' +
    `the search attributes medic sets (${Object.values(SEARCH_ATTRIBUTES)
      .map((k) => `${k.name}=${k.type}`)
      .join(', ')})\n` +
    'when missing, which needs the operator (namespace admin) permission. Idempotent.\n' +
    'Exit codes: 0 ready, 1 a problem to fix (named), 2 usage, 3 Temporal unreachable.',
  options: { config: CONFIG_OPTION },
  allowPositionals: true,
  async run(ctx) {
    if (ctx.positionals.length !== 1 || ctx.positionals[0] !== 'setup') {
      ctx.stderr.write('medic temporal: the only subcommand is `setup` (medic temporal setup --config DIR)\n');
      return EXIT.usage;
    }
    const say = (line: string): void => void ctx.stdout.write(`medic temporal setup: ${line}\n`);
    const dir = (ctx.values.config as string | undefined) ?? defaultConfigDir();
    const { config, diagnostics, ok } = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
    if (!ok) {
      for (const d of diagnostics.filter((x) => x.severity === 'error')) ctx.stderr.write(formatDiagnostic(d) + '\n');
      ctx.stderr.write(`medic temporal setup: ${displayPath(config.dir)} has errors (see medic validate)\n`);
      return EXIT.failure;
    }
    const source = config.coordinator ?? config.worker;
    if (!source) {
      ctx.stderr.write(
        `medic temporal setup: ${displayPath(config.dir)} has neither coordinator.hcl nor worker.hcl to take the temporal block from\n`,
      );
      return EXIT.failure;
    }
    say(`using the temporal block of ${displayPath(config.coordinator ? config.coordinator.file : config.worker!.file)}`);
    let longestPeriod: { ms: number; file: string } | undefined;
    for (const wf of config.workflows.values())
      for (const c of wf.constraints)
        if (!longestPeriod || c.periodMs > longestPeriod.ms) longestPeriod = { ms: c.periodMs, file: displayPath(wf.file) };
    const result = await setupTemporal(source.temporal, { say, longestPeriod });
    if (result.ok) {
      say(`ready: namespace ${source.temporal.namespace} on ${source.temporal.address} has what medic needs`);
      return EXIT.ok;
    }
    ctx.stderr.write(`medic temporal setup: ${result.message}\n`);
    return result.reason === 'unreachable' ? EXIT.unavailable : EXIT.failure;
  },
};
