#!/usr/bin/env node
// Entry point: argv -> command, signals -> one AbortController and a reload hook,
// the command's result -> exit code. Nothing else lives here.
import { parseArgs } from 'node:util';
import { EXIT, helpText, type Command } from '../src/cli/command';
import { CONFIG_CHILD_COMMAND, runConfigChild } from '../src/worker/config-process';

/**
 * Commands loaded on their own, without the command table: the per-server worker must not pay
 * for what the other roles import (fastify, prom-client, the HCL parser, the workflow code).
 */
const LEAN: Record<string, () => Promise<Command>> = {
  worker: async () => (await import('../src/worker/command')).workerCommand,
};

async function allCommands(): Promise<Command[]> {
  return (await import('../src/cli/commands')).COMMANDS;
}

function overview(COMMANDS: Command[]): string {
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
  // The packaged executable's config-loading child (src/worker/config-process.ts): it exits itself.
  if (name === CONFIG_CHILD_COMMAND && process.send) return new Promise(() => runConfigChild(rest[0]!));
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const COMMANDS = await allCommands();
    const cmd = name === 'help' && rest[0] ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(cmd ? helpText(cmd) : overview(COMMANDS));
    return EXIT.ok;
  }
  if (name === '--version' || name === '-v') return main(['version']);
  const cmd: Command | undefined = Object.hasOwn(LEAN, name)
    ? await LEAN[name]!()
    : (await allCommands()).find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`medic: unknown command ${JSON.stringify(name)}\n\n${overview(await allCommands())}`);
    return EXIT.usage;
  }
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
