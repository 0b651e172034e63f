// `medic run`: asks the coordinator to start a workflow (mTLS, ACL and constraints apply, as for
// every caller) and, with --wait, follows it through its progress query until it ends.
import type { CoordinatorClient } from '../client/coordinator-client';
import { EXIT, type Command, type CommandContext } from '../command/command';
import { CLIENT_DETAILS, CLIENT_OPTIONS, connect } from './client-options';
import { colours, ProgressLine } from './output';

interface ProgressView {
  status?: string;
  step?: string;
  step_number?: number;
  steps?: string[];
  detail?: string;
}

/** Healed and "nothing to heal" are both good ends: `medic run --wait` exits 0 for them. */
export function endedWell(e: Pick<ExecutionView, 'status' | 'outcome'>): boolean {
  return e.status === 'COMPLETED' && (e.outcome === undefined || e.outcome === 'healed' || e.outcome === 'nothing_to_heal');
}

/** How an ended run went, in words: "healed: ...", "nothing to heal: ...", "escalated to a human: ...". */
export function outcomeWords(e: Pick<ExecutionView, 'status' | 'outcome' | 'failure' | 'result' | 'progress'>): string {
  const summary = (e.result as { summary?: unknown } | undefined)?.summary;
  const said = typeof summary === 'string' ? summary : e.progress?.detail;
  const why = (e.failure ?? '').replace(/ \[escalated: notified\]$/, '');
  switch (e.outcome) {
    case 'healed':
      return said?.startsWith('healed') ? said : `healed${said ? `: ${said}` : ''}`;
    case 'nothing_to_heal':
      return said?.startsWith('nothing to heal') ? said : `nothing to heal${said ? `: ${said}` : ''}`;
    case 'escalated': {
      // A step of an escalation ladder that handed over pages no human (workflows/ladder.ts).
      const handed = / \[escalated: handed over to ([^\]]+)\]$/.exec(why);
      if (handed) return `escalated to the next step of its ladder, ${handed[1]}: ${why.slice(0, handed.index)}`;
      return `escalated to a human${why ? `: ${why}` : ''}`;
    }
    case 'failed':
      return `failed and escalated${why ? `: ${why}` : ''}`;
  }
  if (e.status === 'COMPLETED') return `completed${said ? `: ${said}` : ''}`;
  return `${e.status.toLowerCase()}${e.failure ? `: ${e.failure}` : ''}`;
}

export interface ExecutionView {
  workflow_id: string;
  workflow?: string;
  status: string;
  /** healed, nothing_to_heal, escalated, failed (MedicOutcome), once it has ended. */
  outcome?: string;
  task_queue?: string;
  failure?: string;
  result?: unknown;
  progress?: ProgressView;
}

interface RefusalDetails {
  constraint?: { kind?: string; description?: string; scope?: string };
  count?: number;
  retry_after_seconds?: number;
}

export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT', 'CONTINUED_AS_NEW']);
const POLL_MS = 1000;

/** k=v pairs into an object; the first "=" splits, so values may contain "=". */
export function parseParams(pairs: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) return `--param ${JSON.stringify(pair)} is not key=value`;
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

/** A refused param in the words of the command line: `--param unit: must not start with "-"`. */
export function paramMessage(body: unknown): string | undefined {
  const b = body as { message?: unknown; details?: { field?: unknown } } | undefined;
  const field = b?.details?.field;
  if (typeof field !== 'string' || !field.startsWith('params.') || typeof b?.message !== 'string') return undefined;
  const rest = b.message.startsWith(field) ? b.message.slice(field.length).replace(/^:?\s*/, '') : b.message;
  return `--param ${field.slice('params.'.length)}: ${rest}`;
}

/** "in 42s (at 14:03:07)": when a refused start may pass. */
export function whenItMayPass(seconds: number, now = Date.now()): string {
  const at = new Date(now + seconds * 1000);
  const span =
    seconds >= 3600 ? `${Math.round(seconds / 360) / 10}h` : seconds >= 120 ? `${Math.round(seconds / 60)}m` : `${seconds}s`;
  return `in ${span} (at ${at
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')})`;
}

export function progressText(e: ExecutionView): string {
  const p = e.progress;
  if (!p?.step || p.step === 'start') return `${e.status.toLowerCase()}: waiting for a worker on ${e.task_queue ?? 'its queue'}`;
  const of = p.steps?.length ? `[${p.step_number ?? '?'}/${p.steps.length}] ` : '';
  return `${of}${p.step}${p.detail ? `: ${p.detail}` : ''}`;
}

async function follow(ctx: CommandContext, client: CoordinatorClient, id: string): Promise<number> {
  const c = colours(ctx.stderr);
  const line = new ProgressLine(ctx.stderr);
  const path = `/v1/executions/${encodeURIComponent(id)}`;
  let misses = 0;
  while (!ctx.signal.aborted) {
    let e: ExecutionView | undefined;
    try {
      const answer = await client.request('GET', path);
      if (answer.status === 200) e = answer.body as ExecutionView;
      else if (answer.status !== 404 && answer.status < 500) {
        line.done();
        ctx.stderr.write(`medic run: cannot follow ${id}: HTTP ${answer.status}\n`);
        return EXIT.failure;
      }
      misses = 0;
    } catch (err) {
      // A coordinator restart is not the workflow's failure: try a few times, then say so once.
      if (++misses >= 5) {
        line.done();
        ctx.stderr.write(`medic run: ${(err as Error).message}; the workflow goes on: medic status ${id}\n`);
        return EXIT.unavailable;
      }
    }
    if (e) {
      line.update(progressText(e));
      if (TERMINAL.has(e.status)) {
        const ok = endedWell(e);
        line.done(`${ok ? c.green('✓') : c.red('✗')} ${e.workflow ?? id} ${outcomeWords(e)}`);
        if (ctx.values.json) ctx.stdout.write(JSON.stringify(e, null, 2) + '\n');
        return ok ? EXIT.ok : EXIT.failure;
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  line.done(`stopped waiting; the workflow goes on: medic status ${id}`);
  return EXIT.failure;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Trigger a workflow through the coordinator (optionally --wait for it, with live progress).',
  usage:
    'run WORKFLOW --node N [--datacenter D --node-type T] [--param k=v ...] [--reason TEXT] [--dry-run] [--force] [--wait] [--json]',
  details:
    'Exit status: 0 started (or, with --wait, completed); 1 refused by a constraint, rejected, or the workflow\n' +
    'failed; 2 bad usage; 3 coordinator unreachable.\n\n' +
    CLIENT_DETAILS,
  options: {
    node: { type: 'string', valueName: 'N', description: 'target node' },
    datacenter: { type: 'string', valueName: 'D', description: 'target datacenter' },
    'node-type': { type: 'string', valueName: 'T', description: 'target node type' },
    param: { type: 'string', multiple: true, valueName: 'K=V', description: 'workflow parameter (repeatable)' },
    reason: { type: 'string', valueName: 'TEXT', description: 'why: goes to the audit log' },
    'dry-run': { type: 'boolean', description: 'check ACL and constraints, start nothing' },
    force: { type: 'boolean', description: 'pass a change freeze (only identities the freeze lists in force_uris)' },
    wait: { type: 'boolean', description: 'follow the workflow until it ends; exit 0 only if it completed' },
    ...CLIENT_OPTIONS,
  },
  allowPositionals: true,
  async run(ctx) {
    const v = ctx.values as Record<string, string | boolean | string[] | undefined>;
    const fail = (code: number, message: string): number => {
      ctx.stderr.write(`medic run: ${message}\n`);
      return code;
    };
    if (ctx.positionals.length !== 1) return fail(EXIT.usage, 'name one workflow: medic run WORKFLOW --node N');
    const workflow = ctx.positionals[0]!;
    const params = parseParams((v.param as string[] | undefined) ?? []);
    if (typeof params === 'string') return fail(EXIT.usage, params);
    const target = Object.fromEntries(
      Object.entries({ node: v.node, datacenter: v.datacenter, node_type: v['node-type'] }).filter(([, x]) => x !== undefined),
    ) as Record<string, string>;

    const client = connect(ctx.values);
    if (typeof client === 'string') return fail(EXIT.failure, client);
    try {
      const outcome = await client.trigger(
        workflow,
        {
          target,
          ...(Object.keys(params).length && { params }),
          ...(v.reason !== undefined && { reason: v.reason as string }),
          ...(v.force === true && { force: true }),
        },
        { dryRun: v['dry-run'] === true },
      );
      const c = colours(ctx.stdout);
      switch (outcome.kind) {
        case 'unavailable':
          return fail(EXIT.unavailable, outcome.message);
        case 'rejected':
          if (v.json) ctx.stdout.write(JSON.stringify(outcome.body, null, 2) + '\n');
          return fail(EXIT.failure, `${paramMessage(outcome.body) ?? outcome.message} (HTTP ${outcome.status})`);
        case 'refused': {
          const d = ((outcome.body as { details?: RefusalDetails } | undefined)?.details ?? {}) as RefusalDetails;
          const seconds = d.retry_after_seconds ?? Math.ceil(outcome.retryAfterMs / 1000);
          if (v.json) ctx.stdout.write(JSON.stringify(outcome.body, null, 2) + '\n');
          // Fleet-safety refusals (pause, freeze, budget, ...) word their own message.
          if (!['concurrency', 'maxExecution'].includes(String(d.constraint?.kind)))
            return fail(EXIT.failure, `${outcome.message}; it may pass ${whenItMayPass(seconds)}`);
          return fail(
            EXIT.failure,
            `refused by constraint "${d.constraint?.description ?? 'unknown'}"` +
              `${d.count !== undefined ? ` (${d.count} counted${d.constraint?.scope ? ` for ${d.constraint.scope}` : ''})` : ''}` +
              `; it may pass ${whenItMayPass(seconds)}`,
          );
        }
        case 'started': {
          const body = outcome.body as { status?: string; task_queue?: string; constraints?: unknown[] };
          if (body.status === 'dry_run') {
            if (v.json) ctx.stdout.write(JSON.stringify(body, null, 2) + '\n');
            else ctx.stdout.write(`dry run: ${workflow} would start on ${body.task_queue}; every constraint passes\n`);
            return EXIT.ok;
          }
          if (body.status === 'shadow') {
            if (v.json) ctx.stdout.write(JSON.stringify(body, null, 2) + '\n');
            else ctx.stdout.write(`shadow mode: ${workflow} would have started on ${body.task_queue}; nothing was started\n`);
            return EXIT.ok;
          }
          if (body.status === 'awaiting_approval') {
            const a = body as { approval_id?: string; why?: string; expires_at?: string };
            if (v.json) ctx.stdout.write(JSON.stringify(body, null, 2) + '\n');
            else
              ctx.stdout.write(
                `${workflow} waits for an approver (${a.why}): approval ${a.approval_id}, expires ${a.expires_at}; ` +
                  `another approver runs: medic approve ${a.approval_id}\n`,
              );
            return EXIT.ok;
          }
          if (v.json && !v.wait) ctx.stdout.write(JSON.stringify(body, null, 2) + '\n');
          else if (!v.json) {
            const again = body.status === 'duplicate' ? ' (already started with this idempotency key)' : '';
            ctx.stdout.write(`${c.bold('started')} ${workflow} ${outcome.workflowId} on ${outcome.taskQueue}${again}\n`);
          }
          return v.wait ? await follow(ctx, client, outcome.workflowId) : EXIT.ok;
        }
      }
    } finally {
      client.close();
    }
  },
};
