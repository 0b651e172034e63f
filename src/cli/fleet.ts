// Fleet-safety verbs: `medic pause`, `medic resume`, `medic pauses`, `medic stats`. Each is one
// request to the coordinator, which the ACL governs (who may pause is a route rule).
import { EXIT, type Command, type CommandContext, type OptionSpec } from '../command/command';
import { CLIENT_DETAILS, CLIENT_OPTIONS, callCoordinator } from './client-options';
import { table } from './output';

const SCOPE_OPTIONS: Record<string, OptionSpec> = {
  workflow: { type: 'string', valueName: 'W', description: 'only this workflow (default: every workflow)' },
  datacenter: { type: 'string', valueName: 'D', description: 'only this datacenter' },
  'node-type': { type: 'string', valueName: 'T', description: 'only this node type' },
};

function scope(ctx: CommandContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [flag, field] of [
    ['workflow', 'workflow'],
    ['datacenter', 'datacenter'],
    ['node-type', 'node_type'],
  ] as const) {
    const v = ctx.values[flag];
    if (typeof v === 'string') out[field] = v;
  }
  return out;
}

interface PauseBody {
  id: string;
  description: string;
  reason: string;
  by: string;
  since: string;
  until?: string;
}

function pauseLine(p: PauseBody): string {
  return `${p.description}: ${p.reason} (by ${p.by} since ${p.since}${p.until ? `, until ${p.until}` : ''})`;
}

export const pauseCommand: Command = {
  name: 'pause',
  summary: 'Pause remediation: every coordinator refuses starts in the scope within a second.',
  usage: 'pause [--workflow W] [--datacenter D] [--node-type T] --reason TEXT [--for 2h] [--json]',
  details: `Without scope flags, pauses everything. Lasts until \`medic resume\` with the same flags, or --for.\n\n${CLIENT_DETAILS}`,
  options: {
    ...SCOPE_OPTIONS,
    reason: { type: 'string', valueName: 'TEXT', description: 'why (shown in every refusal it causes)' },
    for: { type: 'string', valueName: 'DURATION', description: 'end by itself after this long, e.g. 2h' },
    ...CLIENT_OPTIONS,
  },
  async run(ctx) {
    const reason = ctx.values.reason;
    if (typeof reason !== 'string' || reason.trim() === '') {
      ctx.stderr.write('medic pause: --reason TEXT is required (say why; every refusal shows it)\n');
      return EXIT.usage;
    }
    const body = { ...scope(ctx), reason, ...(typeof ctx.values.for === 'string' ? { for: ctx.values.for } : {}) };
    const got = await callCoordinator(ctx, 'pause', 'POST', '/v1/pauses', body);
    if (typeof got === 'number') return got;
    const p = got.body as PauseBody;
    if (ctx.values.json) ctx.stdout.write(JSON.stringify(p, null, 2) + '\n');
    else ctx.stdout.write(`${got.status === 201 ? 'paused' : 'already paused'}: ${pauseLine(p)}\n`);
    return EXIT.ok;
  },
};

export const resumeCommand: Command = {
  name: 'resume',
  summary: 'Lift the pause of exactly this scope (also one set by the circuit breaker).',
  usage: 'resume [--workflow W] [--datacenter D] [--node-type T] [--reason TEXT] [--json]',
  details: CLIENT_DETAILS,
  options: { ...SCOPE_OPTIONS, reason: { type: 'string', valueName: 'TEXT', description: 'why (audit log)' }, ...CLIENT_OPTIONS },
  async run(ctx) {
    const q = new URLSearchParams(scope(ctx));
    if (typeof ctx.values.reason === 'string') q.set('reason', ctx.values.reason);
    const got = await callCoordinator(ctx, 'resume', 'DELETE', `/v1/pauses${q.size ? `?${q}` : ''}`);
    if (typeof got === 'number') return got;
    const p = got.body as PauseBody;
    if (ctx.values.json) ctx.stdout.write(JSON.stringify(p, null, 2) + '\n');
    else ctx.stdout.write(`resumed: ${pauseLine(p)}\n`);
    return EXIT.ok;
  },
};

export const pausesCommand: Command = {
  name: 'pauses',
  summary: 'List the pauses in force.',
  usage: 'pauses [--json]',
  details: CLIENT_DETAILS,
  options: CLIENT_OPTIONS,
  async run(ctx) {
    const got = await callCoordinator(ctx, 'pauses', 'GET', '/v1/pauses');
    if (typeof got === 'number') return got;
    const { pauses } = got.body as { pauses: PauseBody[] };
    if (ctx.values.json) ctx.stdout.write(JSON.stringify(pauses, null, 2) + '\n');
    else if (!pauses.length) ctx.stdout.write('no pauses\n');
    else
      ctx.stdout.write(
        table(
          ['SCOPE', 'REASON', 'BY', 'SINCE', 'UNTIL'],
          pauses.map((p) => [p.description, p.reason, p.by, p.since, p.until ?? '']),
        ),
      );
    return EXIT.ok;
  },
};

interface StatsBody {
  workflow: string;
  executions: number;
  outcomes: Record<string, number>;
  timeToHealSeconds?: { p50: number; p90: number };
  recurrences: number;
  recurrenceRate: number;
}

export const statsCommand: Command = {
  name: 'stats',
  summary: 'Effectiveness per workflow over 7 days: outcomes, time to heal, recurrence within 24 h.',
  usage: 'stats [--workflow W] [--json]',
  details: CLIENT_DETAILS,
  options: { workflow: SCOPE_OPTIONS.workflow!, ...CLIENT_OPTIONS },
  async run(ctx) {
    const w = ctx.values.workflow;
    const got = await callCoordinator(
      ctx,
      'stats',
      'GET',
      `/v1/stats${typeof w === 'string' ? `?workflow=${encodeURIComponent(w)}` : ''}`,
    );
    if (typeof got === 'number') return got;
    const { workflows } = got.body as { workflows: StatsBody[] };
    if (ctx.values.json) ctx.stdout.write(JSON.stringify(workflows, null, 2) + '\n');
    else if (!workflows.length) ctx.stdout.write('no executions in the last 7 days\n');
    else
      ctx.stdout.write(
        table(
          ['WORKFLOW', 'RUNS', 'OUTCOMES', 'HEAL p50', 'HEAL p90', 'RECURRED'],
          workflows.map((s) => [
            s.workflow,
            String(s.executions),
            Object.entries(s.outcomes)
              .map(([k, n]) => `${k} ${n}`)
              .join(', '),
            s.timeToHealSeconds ? `${s.timeToHealSeconds.p50.toFixed(0)}s` : '-',
            s.timeToHealSeconds ? `${s.timeToHealSeconds.p90.toFixed(0)}s` : '-',
            `${s.recurrences} (${(s.recurrenceRate * 100).toFixed(0)}%)`,
          ]),
        ),
      );
    return EXIT.ok;
  },
};
