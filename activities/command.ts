// The run-a-command activity: only executables listed in worker.hcl `allowed_commands` (deny by
// default), argv array straight to execFile, bounded time and output.
import * as path from 'node:path';
import { CommandNotAllowedError, InvalidRequestError } from './errors';
import { execArgv, type ExecResult } from './exec';
import { cancellation } from './context';

export interface CommandRequest {
  /** Absolute path of the executable; must be listed in `allowed_commands`. */
  command: string;
  args?: string[];
  /** Capped by worker.hcl `command_timeout`. */
  timeoutMs?: number;
}

export interface CommandSettings {
  allowedCommands: readonly string[];
  commandTimeoutMs: number;
  maxOutputBytes: number;
}

/** Checks a command against the allow-list: exact absolute paths, compared after normalising. */
export function checkAllowed(command: string, allowed: readonly string[]): void {
  if (!path.isAbsolute(command) || command.split('/').includes('..')) {
    throw new CommandNotAllowedError(
      `${JSON.stringify(command)} is not an absolute path; commands are allow-listed by absolute path`,
    );
  }
  if (!allowed.includes(path.normalize(command))) {
    throw new CommandNotAllowedError(
      allowed.length === 0
        ? `${command} is not allowed: worker.hcl allowed_commands is empty, so no command may run`
        : `${command} is not in worker.hcl allowed_commands`,
    );
  }
}

export async function runAllowedCommand(settings: CommandSettings, req: CommandRequest): Promise<ExecResult> {
  checkAllowed(req.command, settings.allowedCommands);
  const args = req.args ?? [];
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new InvalidRequestError('args must be a list of strings without NUL characters');
  }
  const timeoutMs = Math.min(req.timeoutMs ?? settings.commandTimeoutMs, settings.commandTimeoutMs);
  return execArgv([req.command, ...args], { timeoutMs, maxOutputBytes: settings.maxOutputBytes, signal: cancellation() });
}
