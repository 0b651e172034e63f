// `medic validate [DIR]`: checks a config directory and prints every problem found.
import { WORKFLOW_TYPES } from '../temporal/workflow-types';
import { formatDiagnostic } from '../config/diagnostics';
import { displayPath, loadConfigDir } from '../config/load';
import { defaultConfigDir } from '../paths';
import { CONFIG_OPTION, EXIT, JSON_OPTION, type Command } from '../command/command';

/** The workflow types the worker bundle registers: what a workflow config may name. */
export { WORKFLOW_TYPES };

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check a config directory; print every error and warning with its file and position.',
  usage: 'validate [DIR] [--config DIR] [--json]',
  details:
    'Exits 0 when the configuration has no errors (warnings allowed), 1 when it has any.\n' +
    'Syntax errors are shown as FILE:LINE,COL; semantic errors as FILE: attribute.path.',
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  allowPositionals: true,
  async run(ctx) {
    if (ctx.positionals.length > 1) {
      ctx.stderr.write('medic validate: give at most one config directory\n');
      return EXIT.usage;
    }
    const dir = ctx.positionals[0] ?? (ctx.values.config as string | undefined) ?? defaultConfigDir();
    const { config, diagnostics, ok } = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = diagnostics.length - errors;
    if (ctx.values.json) {
      ctx.stdout.write(JSON.stringify({ ok, dir: config.dir, errors, warnings, diagnostics }, null, 2) + '\n');
      return ok ? EXIT.ok : EXIT.failure;
    }
    for (const d of diagnostics) (d.severity === 'error' ? ctx.stderr : ctx.stdout).write(formatDiagnostic(d) + '\n');
    const parts = [
      config.coordinator ? `coordinator (${config.coordinator.routeRules.length} route rules)` : undefined,
      config.worker ? 'worker' : undefined,
      `${config.workflows.size} workflows`,
      `${config.triggers.rules.length} trigger rules`,
    ].filter(Boolean);
    const verdict = ok ? 'ok' : 'INVALID';
    ctx.stdout.write(
      `${displayPath(config.dir)}: ${verdict}: ${parts.join(', ')}; ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`,
    );
    return ok ? EXIT.ok : EXIT.failure;
  },
};
