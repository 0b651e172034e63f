// Approval verbs: `medic approvals` (pending requests), `medic approve ID` and `medic deny ID`.
// Each is one request to the coordinator as the caller's certificate identity; the ACL governs
// the routes, and the approval itself refuses the requester (four eyes) and non-approvers.
import { EXIT, type Command, type CommandContext } from '../command/command';
import { CLIENT_DETAILS, CLIENT_OPTIONS, callCoordinator } from './client-options';
import { table } from './output';

interface PendingBody {
  approval_id: string;
  workflow: string;
  target: Record<string, string>;
  requester: string | null;
  source: string;
  why: string;
  expires_at: string;
}

export const approvalsCommand: Command = {
  name: 'approvals',
  summary: 'List the starts waiting for an approver: who asked, what, why, until when.',
  usage: 'approvals [--json]',
  details: CLIENT_DETAILS,
  options: CLIENT_OPTIONS,
  async run(ctx) {
    const got = await callCoordinator(ctx, 'approvals', 'GET', '/v1/approvals');
    if (typeof got === 'number') return got;
    const { approvals } = got.body as { approvals: PendingBody[] };
    if (ctx.values.json) ctx.stdout.write(JSON.stringify(approvals, null, 2) + '\n');
    else if (!approvals.length) ctx.stdout.write('no pending approvals\n');
    else
      ctx.stdout.write(
        table(
          ['ID', 'WORKFLOW', 'TARGET', 'ASKED BY', 'WHY', 'EXPIRES'],
          approvals.map((a) => [
            a.approval_id,
            a.workflow,
            Object.entries(a.target)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
            a.requester ?? `anonymous (${a.source})`,
            a.why,
            a.expires_at,
          ]),
        ),
      );
    return EXIT.ok;
  },
};

async function decide(ctx: CommandContext, verb: 'approve' | 'deny'): Promise<number> {
  if (ctx.positionals.length !== 1) {
    ctx.stderr.write(`medic ${verb}: name one approval id: medic ${verb} ID [--reason TEXT]\n`);
    return EXIT.usage;
  }
  const id = ctx.positionals[0]!;
  const reason = typeof ctx.values.reason === 'string' ? ctx.values.reason : undefined;
  const got = await callCoordinator(ctx, verb, 'POST', `/v1/approvals/${encodeURIComponent(id)}`, {
    decision: verb,
    ...(reason !== undefined && { reason }),
  });
  if (typeof got === 'number') return got;
  const b = got.body as { status: string; workflow: string; workflow_id?: string; task_queue?: string; approver?: string };
  if (ctx.values.json) ctx.stdout.write(JSON.stringify(b, null, 2) + '\n');
  else if (b.status === 'denied') ctx.stdout.write(`denied: ${id} (${b.workflow})\n`);
  else
    ctx.stdout.write(
      `${b.status === 'started' ? 'approved and started' : `approved by ${b.approver ?? '?'}, already started`}: ` +
        `${b.workflow_id} (${b.workflow}) on ${b.task_queue}\n`,
    );
  return EXIT.ok;
}

const REASON = { type: 'string', valueName: 'TEXT', description: 'why (audit log)' } as const;

export const approveCommand: Command = {
  name: 'approve',
  summary: 'Approve a waiting start: admission runs again now and starts it once.',
  usage: 'approve ID [--reason TEXT] [--json]',
  details: `You may not approve a start you asked for (four eyes). A refusal now (a budget, a pause) answers as a trigger refusal; the request stays approved, approve again to retry.\n\n${CLIENT_DETAILS}`,
  options: { reason: REASON, ...CLIENT_OPTIONS },
  allowPositionals: true,
  run: (ctx) => decide(ctx, 'approve'),
};

export const denyCommand: Command = {
  name: 'deny',
  summary: 'Deny a waiting start: nothing starts.',
  usage: 'deny ID [--reason TEXT] [--json]',
  details: CLIENT_DETAILS,
  options: { reason: REASON, ...CLIENT_OPTIONS },
  allowPositionals: true,
  run: (ctx) => decide(ctx, 'deny'),
};
