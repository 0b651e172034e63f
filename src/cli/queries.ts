// The read-only CLI verbs: `medic status`, `medic list`, `medic workflows`. Each is one GET to
// the coordinator, printed as a table for people or as the coordinator's JSON with --json.
import { LIST_STATUSES } from '../coordinator/execution-list';
import { EXIT, type Command, type CommandContext } from './command';
import { CLIENT_DETAILS, CLIENT_OPTIONS, connect } from './client-options';
import { colours, statusColour, table } from './output';
import { TERMINAL, outcomeWords, progressText, type ExecutionView } from './run';
import { OUTCOMES } from '../temporal/search-attributes';

/** GETs `path`; on any failure prints one line and returns the exit code instead of a body. */
async function getJson(ctx: CommandContext, verb: string, path: string): Promise<{ body: unknown } | number> {
  const client = connect(ctx.values);
  if (typeof client === 'string') {
    ctx.stderr.write(`medic ${verb}: ${client}\n`);
    return EXIT.failure;
  }
  try {
    const answer = await client.request('GET', path);
    if (answer.status === 200) return { body: answer.body };
    const b = answer.body as { message?: string } | undefined;
    ctx.stderr.write(`medic ${verb}: ${b?.message ?? `HTTP ${answer.status}`} (HTTP ${answer.status})\n`);
    return answer.status >= 500 ? EXIT.unavailable : EXIT.failure;
  } catch (err) {
    ctx.stderr.write(`medic ${verb}: ${(err as Error).message}\n`);
    return EXIT.unavailable;
  } finally {
    client.close();
  }
}

function when(iso: unknown): string {
  return typeof iso === 'string' ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

interface StatusBody extends ExecutionView {
  run_id: string;
  target?: { node?: string; datacenter?: string };
  trigger?: string;
  start_time?: string;
  close_time?: string;
  history?: { events: number; activities: Array<{ activity_type: string; status: string }> };
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
    const c = colours(ctx.stdout);
    const rows: Array<[string, string | undefined]> = [
      ['workflow', e.workflow],
      ['id', e.workflow_id],
      ['status', statusColour(c, e.status)],
      ['outcome', TERMINAL.has(e.status) ? outcomeWords(e) : undefined],
      ['node', e.target?.node],
      ['datacenter', e.target?.datacenter],
      ['task queue', e.task_queue],
      ['triggered by', e.trigger],
      ['started', when(e.start_time)],
      ['closed', when(e.close_time)],
      ['step', e.progress ? progressText(e) : undefined],
      ['failure', e.failure],
    ];
    for (const [k, val] of rows) if (val) ctx.stdout.write(`${c.dim(k.padEnd(13))}${val}\n`);
    const acts = e.history?.activities ?? [];
    if (acts.length)
      ctx.stdout.write(
        '\n' +
          table(
            ['ACTIVITY', 'STATUS'],
            acts.map((a) => [a.activity_type, a.status]),
          ),
      );
    return EXIT.ok;
  },
};

export const listCommand: Command = {
  name: 'list',
  summary: 'List recent workflow executions (from Temporal visibility).',
  usage: 'list [--workflow W] [--node N] [--status S] [--outcome O] [--limit N] [--json]',
  details: `--status is one of ${LIST_STATUSES.join(', ')}.\n\n${CLIENT_DETAILS}`,
  options: {
    workflow: { type: 'string', valueName: 'W', description: 'only this workflow' },
    node: { type: 'string', valueName: 'N', description: 'only this target node' },
    status: { type: 'string', valueName: 'S', description: 'only this status' },
    outcome: { type: 'string', valueName: 'O', description: `only this outcome (${OUTCOMES.join(', ')})` },
    limit: { type: 'string', valueName: 'N', description: 'at most N executions (default 50)' },
    ...CLIENT_OPTIONS,
  },
  async run(ctx) {
    const q = new URLSearchParams();
    for (const key of ['workflow', 'node', 'status', 'outcome', 'limit']) {
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
    const got = await getJson(ctx, 'list', `/v1/executions${q.size ? `?${q}` : ''}`);
    if (typeof got === 'number') return got;
    const { executions } = got.body as { executions: StatusBody[] };
    if (ctx.values.json) {
      ctx.stdout.write(JSON.stringify(executions, null, 2) + '\n');
      return EXIT.ok;
    }
    if (!executions.length) {
      ctx.stdout.write('no executions match\n');
      return EXIT.ok;
    }
    const c = colours(ctx.stdout);
    ctx.stdout.write(
      table(
        ['WORKFLOW', 'NODE', 'STATUS', 'OUTCOME', 'STARTED', 'ID'],
        executions.map((e) => [
          e.workflow ?? '',
          e.target?.node ?? '',
          statusColour(c, e.status),
          e.outcome ?? '',
          when(e.start_time),
          e.workflow_id,
        ]),
      ),
    );
    return EXIT.ok;
  },
};

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
