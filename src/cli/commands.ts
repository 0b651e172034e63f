// The table of `medic` subcommands, in the order `medic --help` lists them.
import { notYetAvailable, type Command } from './command';
import { coordinatorCommand } from './coordinator';
import { validateCommand } from './validate';
import { versionCommand } from './version';
import { triggerCommand } from '../trigger/command';
import { workerCommand } from '../worker/command';

export const COMMANDS: Command[] = [
  coordinatorCommand,
  workerCommand,
  triggerCommand,
  notYetAvailable(
    'dev',
    'Run everything on this machine: Temporal dev server, dev certificates, coordinator, worker.',
    'dev [--config DIR]',
  ),
  notYetAvailable(
    'run',
    'Trigger a workflow through the coordinator (optionally --wait for it).',
    'run WORKFLOW --node N [--param k=v ...] [--wait]',
  ),
  notYetAvailable('status', 'Show the status of one workflow execution.', 'status WORKFLOW_ID'),
  notYetAvailable('list', 'List recent workflow executions.', 'list [--workflow W] [--node N]'),
  validateCommand,
  versionCommand,
];
