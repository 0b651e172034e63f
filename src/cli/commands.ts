// The table of `medic` subcommands, in the order `medic --help` lists them: each name with its
// summary and a loader, so a verb loads only its own module (`medic version` does not load
// fastify, the HCL parser or the Temporal SDK). The summaries are the commands' own; a unit test
// (test/unit/cli-commands.test.ts) keeps the two equal.
import type { Command } from '../command/command';

export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
  /** Verbs under this one (`medic trigger backtest`): `name` is the full name, loaded alike. */
  subcommands?: readonly CommandEntry[];
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'coordinator',
    summary: 'Run the coordinator: the mTLS HTTPS API that authorises, checks constraints and starts workflows.',
    load: async () => (await import('./coordinator')).coordinatorCommand,
  },
  {
    name: 'worker',
    summary: 'Run a worker: node (activities on this server), general (the workflows of a datacenter) or both.',
    load: async () => (await import('../worker/command')).workerCommand,
  },
  {
    name: 'trigger',
    summary: 'Run the trigger daemon: Prometheus rules, log rules and health checks ask the coordinator to start workflows.',
    load: async () => (await import('../trigger/command')).triggerCommand,
    subcommands: [
      {
        name: 'trigger backtest',
        summary: 'What the trigger rules and admission would have done over a past window of Prometheus history.',
        load: async () => (await import('../trigger/backtest/command')).triggerBacktestCommand,
      },
    ],
  },
  {
    name: 'dev',
    summary: 'Run the self-healing loop on this machine: Temporal, Prometheus, coordinator, worker, trigger, demo.',
    load: async () => (await import('../dev/command')).devCommand,
  },
  {
    name: 'demo',
    summary: 'The medic dev demo service: `demo break` makes it unhealthy, medic dev heals it on its own.',
    load: async () => (await import('../dev/demo-service')).demoCommand,
  },
  {
    name: 'run',
    summary: 'Trigger a workflow through the coordinator (optionally --wait for it, with live progress).',
    load: async () => (await import('./run')).runCommand,
  },
  {
    name: 'status',
    summary: 'Show one workflow execution: status, current step, activities.',
    load: async () => (await import('./queries')).statusCommand,
  },
  {
    name: 'list',
    summary: 'List recent workflow executions (from Temporal visibility); --watch for a live table.',
    load: async () => (await import('./queries')).listCommand,
  },
  {
    name: 'workflows',
    summary: 'List the workflows the coordinator is configured with, and their constraints.',
    load: async () => (await import('./queries')).workflowsCommand,
  },
  {
    name: 'pause',
    summary: 'Pause remediation: every coordinator refuses starts in the scope within a second.',
    load: async () => (await import('./fleet')).pauseCommand,
  },
  {
    name: 'resume',
    summary: 'Lift the pause of exactly this scope (also one set by the circuit breaker).',
    load: async () => (await import('./fleet')).resumeCommand,
  },
  {
    name: 'pauses',
    summary: 'List the pauses in force.',
    load: async () => (await import('./fleet')).pausesCommand,
  },
  {
    name: 'approvals',
    summary: 'List the starts waiting for an approver: who asked, what, why, until when.',
    load: async () => (await import('./approvals')).approvalsCommand,
  },
  {
    name: 'approve',
    summary: 'Approve a waiting start: admission runs again now and starts it once.',
    load: async () => (await import('./approvals')).approveCommand,
  },
  {
    name: 'deny',
    summary: 'Deny a waiting start: nothing starts.',
    load: async () => (await import('./approvals')).denyCommand,
  },
  {
    name: 'stats',
    summary: 'Effectiveness per workflow over 7 days: outcomes, time to heal, recurrence within 24 h.',
    load: async () => (await import('./fleet')).statsCommand,
  },
  {
    name: 'validate',
    summary: 'Check a config directory; print every error and warning with its file and position.',
    load: async () => (await import('./validate')).validateCommand,
  },
  {
    name: 'temporal',
    summary: 'Prepare a Temporal cluster for medic: connection, namespace, search attributes (temporal setup).',
    load: async () => (await import('./temporal')).temporalCommand,
  },
  {
    name: 'version',
    summary: 'Print the medic version, the commit and date it was built from, and its Temporal SDK and Node.js.',
    load: async () => (await import('./version')).versionCommand,
  },
  {
    name: 'completion',
    summary: 'Print a shell completion script: medic completion bash|zsh.',
    load: async () => (await import('./completion')).completionCommand,
  },
];

/** The entry named `name`, or undefined (not a command). */
export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The subcommand of `entry` that `word` names (`backtest` of `trigger`), or undefined. */
export function findSubcommand(entry: CommandEntry, word: string | undefined): CommandEntry | undefined {
  return word === undefined ? undefined : entry.subcommands?.find((s) => s.name === `${entry.name} ${word}`);
}

/** Every command, loaded: for what needs all their flags (shell completion). Loads every role's code. */
export function loadCommands(): Promise<Command[]> {
  return Promise.all(COMMANDS.map((c) => c.load()));
}
