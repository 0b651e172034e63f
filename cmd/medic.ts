#!/usr/bin/env node
// Entry point: argv -> command, signals -> one AbortController and a reload hook,
// the command's result -> exit code. Nothing else lives here.
import { parseArgs } from 'node:util';
import { EXIT, helpText, type Command } from '../src/command/command';
import { COMMANDS, findCommand, findSubcommand } from '../src/cli/commands';

/** `medic --help`: from the command table alone, so it loads no command. */
function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'medic: self-healing remediation orchestrator for server fleets, on Temporal',
    '',
    'Usage: medic <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    "Run 'medic <command> --help' for a command's options.",
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (process.send) {
    // The packaged executable's config-loading child (src/worker/config-process.ts): it exits itself.
    const child = await import('../src/worker/config-process');
    if (name === child.CONFIG_CHILD_COMMAND) return new Promise(() => child.runConfigChild(rest[0]!));
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const top = name === 'help' && rest[0] ? findCommand(rest[0]) : undefined;
    const entry = top && (findSubcommand(top, rest[1]) ?? top);
    process.stdout.write(entry ? helpText(await entry.load()) : overview());
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v') return main(['version']);
  const top = findCommand(name);
  if (!top) {
    process.stderr.write(`medic: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return EXIT.usage;
  }
  // `medic trigger backtest ...`: a verb under a verb, with flags of its own.
  const sub = findSubcommand(top, rest[0]);
  const entry = sub ?? top;
  if (sub) rest.shift();
  // Only this verb's module: the others (and what they import) are never read.
  const cmd: Command = await entry.load();
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...cmd.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: cmd.allowPositionals ?? false,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`medic ${cmd.name}: ${(err as Error).message}\n\n${helpText(cmd)}`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(cmd));
    return EXIT.ok;
  }

  const controller = new AbortController();
  const reloadHandlers: Array<() => void> = [];
  let stops = 0;
  const stop = (sig: NodeJS.Signals): void => {
    stops += 1;
    if (stops > 1) {
      process.stderr.write(`medic: second ${sig}, exiting now\n`);
      process.exit(130);
    }
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => reloadHandlers.forEach((h) => h()));
  try {
    return await cmd.run({
      values: parsed.values,
      positionals: parsed.positionals,
      signal: controller.signal,
      onReload: (h) => reloadHandlers.push(h),
      stdout: process.stdout,
      stderr: process.stderr,
    });
  } catch (err) {
    // Expected failures are reported by the command; this is the last line of defence,
    // so print the message, not a stack trace, unless asked.
    const e = err as Error;
    process.stderr.write(`medic ${cmd.name}: ${e.message}\n${process.env.MEDIC_DEBUG ? `${e.stack}\n` : ''}`);
    return EXIT.failure;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Daemons close their handles; a command that returned is done even if a library left a timer.
    setImmediate(() => process.exit(code));
  },
  (err: Error) => {
    process.stderr.write(`medic: ${err.message}\n`);
    process.exit(EXIT.failure);
  },
);
