// The table of `medic` subcommands, in the order `medic --help` lists them.
import type { Command } from './command';
import { completionCommand } from './completion';
import { coordinatorCommand } from './coordinator';
import { pauseCommand, pausesCommand, resumeCommand, statsCommand } from './fleet';
import { listCommand, statusCommand, workflowsCommand } from './queries';
import { runCommand } from './run';
import { temporalCommand } from './temporal';
import { validateCommand } from './validate';
import { versionCommand } from './version';
import { devCommand } from '../dev/command';
import { demoCommand } from '../dev/demo-service';
import { triggerCommand } from '../trigger/command';
import { workerCommand } from '../worker/command';

export const COMMANDS: Command[] = [
  coordinatorCommand,
  workerCommand,
  triggerCommand,
  devCommand,
  demoCommand,
  runCommand,
  statusCommand,
  listCommand,
  workflowsCommand,
  pauseCommand,
  resumeCommand,
  pausesCommand,
  statsCommand,
  validateCommand,
  temporalCommand,
  versionCommand,
  completionCommand,
];
