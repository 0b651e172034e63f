// Slack slash commands: request signature check, command parsing and the chat allow list.
// Pure functions; the route feeds them the raw body and headers.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ChatAllow } from '../config/callers';

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Slack signs `v0:<timestamp>:<raw body>` with HMAC-SHA256 and the app's signing secret and
 * sends `X-Slack-Signature: v0=<hex>` and `X-Slack-Request-Timestamp`. Old timestamps are
 * refused so a captured request cannot be replayed.
 */
export function verifySlackSignature(opts: {
  secret: string;
  rawBody: string;
  timestamp: string | undefined;
  signature: string | undefined;
  nowMs: number;
  maxSkewMs: number;
}): SignatureCheck {
  const { timestamp, signature } = opts;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'missing or malformed X-Slack-Request-Timestamp' };
  if (Math.abs(opts.nowMs - Number(timestamp) * 1000) > opts.maxSkewMs) return { ok: false, reason: 'stale request timestamp' };
  if (!signature || !/^v0=[0-9a-f]{64}$/.test(signature)) return { ok: false, reason: 'missing or malformed X-Slack-Signature' };
  const expected = createHmac('sha256', opts.secret).update(`v0:${timestamp}:${opts.rawBody}`).digest();
  const given = Buffer.from(signature.slice(3), 'hex');
  return timingSafeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'signature does not match' };
}

export function signSlackRequest(secret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

export type ChatCommand =
  | {
      verb: 'run';
      workflow: string;
      target: { node?: string; datacenter?: string; node_type?: string };
      params: Record<string, string>;
      reason?: string;
      dryRun: boolean;
    }
  | { verb: 'status'; workflowId: string }
  | { verb: 'list' }
  | { verb: 'help' };

export class ChatUsageError extends Error {
  override name = 'ChatUsageError';
}

export const CHAT_HELP = [
  '*medic* — self-healing remediations',
  '`run <workflow> node=<node> [datacenter=<dc>] [node_type=<type>] [key=value ...] [reason="..."] [--dry-run]` start a workflow',
  '`status <workflow-id>` show an execution',
  '`list` recent executions',
  '`help` this text',
].join('\n');

/** Splits on spaces, keeping "double quoted" values (key="a b") together. */
function words(text: string): string[] {
  const out: string[] = [];
  const re = /([^\s"=]+=)?"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of text.matchAll(re)) out.push(m[3] ?? `${m[1] ?? ''}${m[2]!.replace(/\\(.)/g, '$1')}`);
  return out;
}

const TARGET_KEYS = new Set(['node', 'datacenter', 'node_type']);

export function parseChatCommand(text: string): ChatCommand {
  const [verb, ...rest] = words(text.trim());
  switch (verb?.toLowerCase()) {
    case undefined:
    case 'help':
      return { verb: 'help' };
    case 'list':
      return { verb: 'list' };
    case 'status':
      if (rest.length !== 1) throw new ChatUsageError('usage: `status <workflow-id>`');
      return { verb: 'status', workflowId: rest[0]! };
    case 'run': {
      const [workflow, ...args] = rest;
      if (!workflow || workflow.includes('=')) throw new ChatUsageError('usage: `run <workflow> node=<node> [key=value ...]`');
      const cmd: Extract<ChatCommand, { verb: 'run' }> = { verb: 'run', workflow, target: {}, params: {}, dryRun: false };
      for (const arg of args) {
        if (arg === '--dry-run') {
          cmd.dryRun = true;
          continue;
        }
        const at = arg.indexOf('=');
        if (at <= 0) throw new ChatUsageError(`expected key=value, got \`${arg}\``);
        const key = arg.slice(0, at);
        const value = arg.slice(at + 1);
        if (TARGET_KEYS.has(key)) cmd.target[key as 'node'] = value;
        else if (key === 'reason') cmd.reason = value;
        else cmd.params[key] = value;
      }
      return cmd;
    }
    default:
      throw new ChatUsageError(`unknown command \`${verb}\`; try \`help\``);
  }
}

/** Deny by default: a user may run a workflow only when an allow rule names both. */
export function chatUserMayRun(allow: ChatAllow[], user: string, workflow: string): boolean {
  return allow.some((a) => (a.user === user || a.user === '*') && (a.workflows.includes(workflow) || a.workflows.includes('*')));
}

/** May this user read executions (`status`, `list`)? Only users some allow rule names: deny by default. */
export function chatUserMayRead(allow: ChatAllow[], user: string): boolean {
  return allow.some((a) => a.user === user || a.user === '*');
}

/** The audit identity of a chat user: `slack:<team_id>/<user_id>`. */
export function chatIdentity(teamId: string, userId: string): string {
  return `slack:${teamId}/${userId}`;
}

/**
 * Idempotency key of one slash-command invocation: Slack gives every invocation its own
 * trigger_id, so the execution id is known before the start is decided (and a repeated
 * delivery finds the first execution).
 */
export function chatIdempotencyKey(teamId: string, triggerId: string): string {
  return `slack-${createHash('sha256').update(teamId).update('\0').update(triggerId).digest('hex').slice(0, 32)}`;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
