// The shape every `medic` subcommand has: its help text, its flags, and a run function that
// returns an exit code. cmd/medic.ts owns argv, signals and process.exit; commands do not.
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string; valueName?: string };

export interface CommandContext {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
  positionals: string[];
  /** Aborted on SIGINT/SIGTERM: long-running roles stop cleanly when it fires. */
  signal: AbortSignal;
  /** Registers a handler for SIGHUP (reload configuration). */
  onReload(handler: () => void): void;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface Command {
  name: string;
  summary: string;
  /** Usage line after "medic ", e.g. "validate [DIR] [--config DIR]". */
  usage: string;
  /** Longer help shown by `medic <name> --help`. */
  details?: string;
  options: Record<string, OptionSpec>;
  allowPositionals?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

export const CONFIG_OPTION: OptionSpec = {
  type: 'string',
  short: 'c',
  valueName: 'DIR',
  description:
    'config directory (coordinator.hcl, worker.hcl, workflows/, triggers/); default ./config in a checkout, else /etc/medic',
};

export const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'print machine-readable JSON' };

/** For daemons that connect to Temporal: `medic dev` points its children at its own server. */
export const TEMPORAL_ADDRESS_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'HOST:PORT',
  description: 'Temporal frontend (overrides the temporal block of the config file)',
};

/** Exit codes shared by all commands. */
export const EXIT = { ok: 0, failure: 1, usage: 2, unavailable: 3 } as const;

export function helpText(cmd: Command): string {
  const lines = [`Usage: medic ${cmd.usage}`, '', cmd.summary];
  if (cmd.details) lines.push('', cmd.details);
  const opts = Object.entries({
    ...cmd.options,
    help: { type: 'boolean', short: 'h', description: 'show this help' } as OptionSpec,
  });
  if (opts.length) {
    lines.push('', 'Options:');
    const rows = opts.map(([name, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
      return [flag, o.description] as const;
    });
    const width = Math.max(...rows.map(([f]) => f.length)) + 2;
    for (const [flag, description] of rows) lines.push(`  ${flag.padEnd(width)}${description}`);
  }
  return lines.join('\n') + '\n';
}
