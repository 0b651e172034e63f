// The read-only CLI verbs: `medic status`, `medic list`, `medic workflows`. Each is one GET to
// the coordinator, printed as a table for people or as the coordinator's JSON with --json.
import { setTimeout as sleep } from 'node:timers/promises';
import { LIST_STATUSES, OUTCOMES } from '../naming/execution-filters';
import { EXIT, type Command, type CommandContext } from '../command/command';
import { CLIENT_DETAILS, CLIENT_OPTIONS, callCoordinator } from './client-options';
import { colours, isTerminal, statusColour, table, type Colours } from './output';
import { TERMINAL, outcomeWords, progressText, type ExecutionView } from './run';

/** GETs `path`; on any failure prints one line and returns the exit code instead of a body. */
function getJson(ctx: CommandContext, verb: string, path: string): Promise<{ body: unknown } | number> {
  return callCoordinator(ctx, verb, 'GET', path);
}

function when(iso: unknown): string {
  return typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

export interface StatusBody extends ExecutionView {
  run_id: string;
  target?: { node?: string; datacenter?: string };
  trigger?: string;
  start_time?: string;
  close_time?: string;
  history?: { events: number; activities: Array<{ activity_type: string; status: string }> };
  /** A step of an escalation ladder (workflows/ladder.ts). */
  ladder?: { episode: string; steps: Array<{ workflow: string; workflowId?: string; outcome: string; summary: string }> };
}

/** One table cell: one line, at most `max` characters. */
function cell(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The steps of the runbook with where the execution is: done, the current one, pending. */
function stepRows(e: StatusBody, c: Colours): string[][] | undefined {
  const p = e.progress;
  if (!p?.steps?.length) return undefined;
  const at = p.step ? p.steps.indexOf(p.step) : -1;
  const finished = TERMINAL.has(e.status.toUpperCase());
  return p.steps.map((name, i) => {
    let state = '';
    if (at >= 0 && i < at) state = c.green('done');
    else if (at >= 0 && i === at) {
      const word = finished ? (e.status === 'COMPLETED' ? c.green('done') : c.red(e.status.toLowerCase())) : c.yellow('running');
      state = p.detail ? `${word}: ${cell(p.detail, 60)}` : word;
    } else if (at >= 0) state = c.dim('pending');
    return [`${i + 1}/${p.steps!.length}`, name, state];
  });
}

/** `medic status` for people: facts, then the steps and the activities as separate tables. */
export function statusText(e: StatusBody, c: Colours): string {
  const steps = stepRows(e, c);
  const onStep = steps && e.progress?.step && e.progress.steps!.includes(e.progress.step);
  // The outcome in words says the failure too, so the failure row is only for executions still running.
  const outcome = TERMINAL.has(e.status.toUpperCase()) ? cell(outcomeWords(e), 200) : undefined;
  const rows: Array<[string, string | undefined]> = [
    ['workflow', e.workflow],
    ['id', e.workflow_id],
    ['status', statusColour(c, e.status)],
    ['outcome', outcome],
    ['node', e.target?.node],
    ['datacenter', e.target?.datacenter],
    ['task queue', e.task_queue],
    ['triggered by', e.trigger],
    ['started', when(e.start_time)],
    ['closed', when(e.close_time)],
    // Shown here only when the steps table cannot show it (no steps, or a step outside them).
    ['step', e.progress && !onStep ? cell(progressText(e), 100) : undefined],
    ['failure', e.failure && !outcome ? cell(e.failure, 200) : undefined],
  ];
  let out = rows
    .filter(([, v]) => v)
    .map(([k, v]) => `${c.dim(k.padEnd(13))}${v}\n`)
    .join('');
  if (steps) out += '\n' + table(['STEP', 'NAME', 'STATE'], steps);
  if (e.ladder) {
    out += `\n${c.dim('ladder'.padEnd(13))}${e.ladder.episode}\n`;
    out +=
      '\n' +
      table(
        ['#', 'WORKFLOW', 'ID', 'OUTCOME', 'SUMMARY'],
        e.ladder.steps.map((l, i) => [String(i + 1), l.workflow, l.workflowId ?? '-', l.outcome, cell(l.summary, 60)]),
      );
  }
  const acts = e.history?.activities ?? [];
  if (acts.length) {
    const colour = (s: string): string => (s === 'completed' ? c.green(s) : s === 'failed' || s === 'timed_out' ? c.red(s) : s);
    out +=
      '\n' +
      table(
        ['#', 'ACTIVITY', 'STATUS'],
        acts.map((a, i) => [String(i + 1), cell(a.activity_type, 40), colour(a.status)]),
      );
  }
  return out;
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'Show one workflow execution: status, current step, activities.',
  usage: 'status WORKFLOW_ID [--json]',
  details: CLIENT_DETAILS,
  options: CLIENT_OPTIONS,
  allowPositionals: true,
  async run(ctx) {
    if (ctx.positionals.length !== 1) {
      ctx.stderr.write('medic status: name one workflow id: medic status WORKFLOW_ID\n');
      return EXIT.usage;
    }
    const got = await getJson(ctx, 'status', `/v1/executions/${encodeURIComponent(ctx.positionals[0]!)}`);
    if (typeof got === 'number') return got;
    const e = got.body as StatusBody;
    if (ctx.values.json) {
      ctx.stdout.write(JSON.stringify(e, null, 2) + '\n');
      return EXIT.ok;
    }
    ctx.stdout.write(statusText(e, colours(ctx.stdout)));
    return EXIT.ok;
  },
};

function listTable(executions: StatusBody[], c: Colours): string {
  if (!executions.length) return 'no executions match\n';
  // The step column only when the coordinator reports progress in lists.
  const steps = executions.some((e) => e.progress?.step);
  const row = (e: StatusBody): string[] => [
    e.workflow ?? '',
    e.target?.node ?? '',
    statusColour(c, e.status),
    e.outcome ?? '',
    ...(steps ? [e.progress?.step ? cell(progressText(e), 50) : ''] : []),
    when(e.start_time),
    e.workflow_id,
  ];
  return table(['WORKFLOW', 'NODE', 'STATUS', 'OUTCOME', ...(steps ? ['STEP'] : []), 'STARTED', 'ID'], executions.map(row));
}

const WATCH_MS = 2000;

/** Redraws the table of matching executions every 2 s until Ctrl-C (a terminal), or prints it when it changes. */
async function watchList(ctx: CommandContext, path: string, what: string): Promise<number> {
  const tty = isTerminal(ctx.stdout);
  const c = colours(ctx.stdout);
  let last = '';
  while (!ctx.signal.aborted) {
    const got = await getJson(ctx, 'list', path);
    if (typeof got === 'number' && got !== EXIT.unavailable) return got;
    const body = typeof got === 'number' ? undefined : (got.body as { executions: StatusBody[] });
    const text = body ? listTable(body.executions, c) : 'coordinator unavailable; retrying\n';
    const stamp = new Date().toISOString().slice(11, 19);
    if (tty) {
      ctx.stdout.write(
        `\x1b[H\x1b[2J${c.dim(`medic list --watch: ${what}, every ${WATCH_MS / 1000}s (${stamp} UTC); Ctrl-C stops`)}\n\n${text}`,
      );
    } else if (text !== last) {
      ctx.stdout.write(`-- ${stamp} UTC\n${text}`);
    }
    last = text;
    await sleep(WATCH_MS, undefined, { signal: ctx.signal }).catch(() => undefined);
  }
  return EXIT.ok;
}

export const listCommand: Command = {
  name: 'list',
  summary: 'List recent workflow executions (from Temporal visibility); --watch for a live table.',
  usage: 'list [--workflow W] [--node N] [--status S] [--outcome O] [--ladder ID] [--limit N] [--watch] [--shadow] [--json]',
  details: `--status is one of ${LIST_STATUSES.join(', ')}. --watch shows the running ones unless --status says otherwise.\n\n${CLIENT_DETAILS}`,
  options: {
    workflow: { type: 'string', valueName: 'W', description: 'only this workflow' },
    node: { type: 'string', valueName: 'N', description: 'only this target node' },
    status: { type: 'string', valueName: 'S', description: 'only this status' },
    outcome: { type: 'string', valueName: 'O', description: `only this outcome (${OUTCOMES.join(', ')})` },
    ladder: {
      type: 'string',
      valueName: 'ID',
      description: "only the steps of this escalation ladder (its first run's workflow id)",
    },
    limit: { type: 'string', valueName: 'N', description: 'at most N executions (default 50)' },
    watch: { type: 'boolean', short: 'w', description: 'refresh a live table of running remediations until Ctrl-C' },
    shadow: { type: 'boolean', description: 'what shadow-mode workflows would have started, instead of executions' },
    ...CLIENT_OPTIONS,
  },
  async run(ctx) {
    if (ctx.values.shadow) return listShadow(ctx);
    const watch = ctx.values.watch === true;
    if (watch && ctx.values.json) {
      ctx.stderr.write('medic list: --watch draws a table; use --json without it\n');
      return EXIT.usage;
    }
    const q = new URLSearchParams();
    for (const key of ['workflow', 'node', 'status', 'outcome', 'ladder', 'limit']) {
      const val = ctx.values[key];
      if (typeof val === 'string') q.set(key, val);
    }
    const status = ctx.values.status as string | undefined;
    if (status !== undefined && !(LIST_STATUSES as readonly string[]).includes(status)) {
      ctx.stderr.write(`medic list: --status ${JSON.stringify(status)} is not one of ${LIST_STATUSES.join(', ')}\n`);
      return EXIT.usage;
    }
    const outcome = ctx.values.outcome as string | undefined;
    if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) {
      ctx.stderr.write(`medic list: --outcome ${JSON.stringify(outcome)} is not one of ${OUTCOMES.join(', ')}\n`);
      return EXIT.usage;
    }
    if (watch) {
      if (status === undefined) q.set('status', 'running');
      return watchList(ctx, `/v1/executions?${q}`, `${q.get('status')} executions`);
    }
    const got = await getJson(ctx, 'list', `/v1/executions${q.size ? `?${q}` : ''}`);
    if (typeof got === 'number') return got;
    const { executions } = got.body as { executions: StatusBody[] };
    if (ctx.values.json) {
      ctx.stdout.write(JSON.stringify(executions, null, 2) + '\n');
      return EXIT.ok;
    }
    ctx.stdout.write(listTable(executions, colours(ctx.stdout)));
    return EXIT.ok;
  },
};

/** `medic list --shadow`: the recorded shadow admissions. */
async function listShadow(ctx: CommandContext): Promise<number> {
  const q = new URLSearchParams();
  for (const key of ['workflow', 'limit']) if (typeof ctx.values[key] === 'string') q.set(key, ctx.values[key]);
  const got = await getJson(ctx, 'list', `/v1/shadow-admissions${q.size ? `?${q}` : ''}`);
  if (typeof got === 'number') return got;
  const list = (
    got.body as {
      shadow_admissions: Array<{
        workflow: string;
        target: Record<string, string>;
        time: string;
        trigger?: string;
        workflow_id: string;
      }>;
    }
  ).shadow_admissions;
  if (ctx.values.json) ctx.stdout.write(JSON.stringify(list, null, 2) + '\n');
  else if (!list.length) ctx.stdout.write('no shadow admissions\n');
  else
    ctx.stdout.write(
      table(
        ['WORKFLOW', 'TARGET', 'WOULD START AT', 'TRIGGER', 'ID'],
        list.map((s) => [s.workflow, s.target.node ?? s.target.datacenter ?? '', when(s.time), s.trigger ?? '', s.workflow_id]),
      ),
    );
  return EXIT.ok;
}

interface WorkflowsBody {
  workflows: Array<{
    name: string;
    workflow_type: string;
    task_queue_target: string;
    description?: string;
    constraints: Array<{ description?: string }>;
  }>;
}

export const workflowsCommand: Command = {
  name: 'workflows',
  summary: 'List the workflows the coordinator is configured with, and their constraints.',
  usage: 'workflows [--json]',
  details: CLIENT_DETAILS,
  options: CLIENT_OPTIONS,
  async run(ctx) {
    const got = await getJson(ctx, 'workflows', '/v1/workflows');
    if (typeof got === 'number') return got;
    const body = got.body as WorkflowsBody;
    if (ctx.values.json) {
      ctx.stdout.write(JSON.stringify(body.workflows, null, 2) + '\n');
      return EXIT.ok;
    }
    ctx.stdout.write(
      table(
        ['NAME', 'TYPE', 'TARGET', 'CONSTRAINTS', 'DESCRIPTION'],
        body.workflows.map((w) => [
          w.name,
          w.workflow_type,
          w.task_queue_target,
          w.constraints.map((k) => k.description ?? '').join('; ') || 'none',
          w.description ?? '',
        ]),
      ),
    );
    return EXIT.ok;
  },
};
