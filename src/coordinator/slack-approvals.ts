// Approval requests in Slack: the Block Kit message with Approve/Deny buttons posted to the
// configured incoming webhook, the follow-up when one is decided, and reading a button press
// (a block_actions interaction). Building and reading are pure; posting is one fetch.
import type { ApprovalRequest, ApprovalVerdict } from '../approval/state';
import { slackEscape } from './slack-command';

/** action_id of the two buttons; their value is the approval id. */
export const APPROVE_ACTION = 'medic_approve';
export const DENY_ACTION = 'medic_deny';
/** How long a post to Slack may take; it never delays an answer. */
const POST_TIMEOUT_MS = 5_000;

function targetText(t: ApprovalRequest['target']): string {
  const parts = (['node', 'datacenter', 'node_type'] as const).filter((k) => t[k]).map((k) => `${k}=${t[k]}`);
  return parts.length ? parts.join(' ') : 'no target';
}

/** The message posted for a new request (https://api.slack.com/block-kit): the request, and two buttons. */
export function approvalRequestMessage(r: ApprovalRequest): Record<string, unknown> {
  const what = `\`${slackEscape(r.workflow)}\` (${slackEscape(targetText(r.target))})`;
  const params = Object.entries(r.shownParams)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const lines = [
    `*Approval needed*: ${what}`,
    `asked by ${slackEscape(r.requester ?? `an anonymous caller (${r.source})`)} via ${slackEscape(r.source)}`,
    `why: ${slackEscape(r.why)}`,
    ...(params ? [`params: ${slackEscape(params)}`] : []),
    ...(r.reason ? [`reason: ${slackEscape(r.reason)}`] : []),
    `expires ${r.expiresAt} · approval \`${r.id}\``,
  ];
  const button = (text: string, action: string, style: 'primary' | 'danger') => ({
    type: 'button',
    action_id: action,
    text: { type: 'plain_text', text },
    style,
    value: r.id,
  });
  return {
    text: `medic: approval needed for ${r.workflow} (${targetText(r.target)})`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } },
      {
        type: 'actions',
        block_id: `medic_approval_${r.id}`.slice(0, 255),
        elements: [button('Approve', APPROVE_ACTION, 'primary'), button('Deny', DENY_ACTION, 'danger')],
      },
    ],
  };
}

/** The follow-up message once a request is decided (or its start answered). */
export function approvalOutcomeMessage(
  r: Pick<ApprovalRequest, 'id' | 'workflow' | 'target'>,
  text: string,
): Record<string, unknown> {
  return {
    text: `medic: \`${slackEscape(r.workflow)}\` (${slackEscape(targetText(r.target))}), approval \`${r.id}\`: ${slackEscape(text)}`,
  };
}

/** A button press: which request, which verdict, which user of which workspace. */
export interface ApprovalAction {
  approvalId: string;
  verdict: ApprovalVerdict;
  teamId: string;
  enterpriseId?: string;
  userId: string;
}

/** Reads a block_actions interaction payload (the form field `payload`, JSON), or says why it cannot. */
export function readApprovalAction(payload: string | undefined): ApprovalAction | { problem: string } {
  if (!payload) return { problem: 'no payload field' };
  let p: unknown;
  try {
    p = JSON.parse(payload);
  } catch {
    return { problem: 'payload is not JSON' };
  }
  const o = p as {
    type?: unknown;
    team?: { id?: unknown; enterprise_id?: unknown };
    enterprise?: { id?: unknown } | null;
    user?: { id?: unknown; team_id?: unknown };
    actions?: Array<{ action_id?: unknown; value?: unknown }>;
  };
  if (o?.type !== 'block_actions') return { problem: `interaction type ${JSON.stringify(o?.type)} is not block_actions` };
  const action = Array.isArray(o.actions) ? o.actions[0] : undefined;
  const verdict = action?.action_id === APPROVE_ACTION ? 'approve' : action?.action_id === DENY_ACTION ? 'deny' : undefined;
  if (!verdict) return { problem: 'no medic approval action' };
  const id = action?.value;
  if (typeof id !== 'string' || !/^[A-Za-z0-9-]{1,80}$/.test(id)) return { problem: 'the action has no approval id' };
  const teamId = o.team?.id ?? o.user?.team_id;
  const userId = o.user?.id;
  if (typeof teamId !== 'string' || typeof userId !== 'string') return { problem: 'no team or user' };
  const enterprise = o.enterprise?.id;
  return {
    approvalId: id,
    verdict,
    teamId,
    userId,
    ...(typeof enterprise === 'string' && enterprise !== '' && { enterpriseId: enterprise }),
  };
}

/** Posts a message to a Slack incoming webhook; failures are logged without the URL (it is a secret). */
export async function postToSlack(url: string, message: Record<string, unknown>, log: (m: string) => void): Promise<void> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(POST_TIMEOUT_MS),
    });
    if (!res.ok) log(`posting an approval message to Slack failed: HTTP ${res.status}`);
    await res.body?.cancel();
  } catch (err) {
    log(`posting an approval message to Slack failed: ${(err as Error).name}`);
  }
}
