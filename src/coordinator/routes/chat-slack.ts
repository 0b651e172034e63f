// POST /v1/chat/slack: Slack's slash-command contract. The route is public in the ACL (Slack
// has no client certificate) and protected by the request signature, checked on the raw body
// before anything else reads it. `run` goes through admitTrigger (source "slack"), as the chat
// user `slack:<team>/<user>`, when a chat allow rule lets that user run that workflow.
// Answers are Slack messages ({response_type, text}) sent within Slack's 3 s: a trigger that
// takes longer is answered with its (known in advance) execution id and keeps going.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { idempotentExecutionId, type Admission, type TriggerOutcome } from '../admission';
import { sendError } from '../errors';
import { describeExecution, listExecutions, type ExecutionStatus, type ExecutionSummary } from '../execution-status';
import type { LiveConfig } from '../live-config';
import type { CoordinatorMetrics } from '../metrics';
import {
  CHAT_HELP,
  ChatUsageError,
  chatIdempotencyKey,
  chatIdentity,
  chatUserMayRead,
  chatUserMayRun,
  parseChatCommand,
  slackEscape,
  verifySlackSignature,
  type ChatCommand,
} from '../slack-command';
import type { TemporalGateway } from '../../temporal/gateway';
import { COMMON_ERRORS, errorResponses } from './schemas';

export const CHAT_ROUTE = '/v1/chat/slack';
/** Slash-command bodies are a few hundred bytes; Slack caps the text well below this. */
export const CHAT_BODY_LIMIT = 8 * 1024;
/** Slack shows an error when the answer takes more than 3 s. */
export const CHAT_ANSWER_WITHIN_MS = 2_500;
const LIST_LIMIT = 10;

interface SlashCommandBody {
  team_id: string;
  enterprise_id?: string;
  user_id: string;
  text?: string;
  trigger_id?: string;
  [field: string]: string | undefined;
}

interface SlackMessage {
  response_type: 'ephemeral' | 'in_channel';
  text: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The form body as received: the Slack signature covers these exact bytes. */
    rawBody?: string;
  }
}

const ephemeral = (text: string): SlackMessage => ({ response_type: 'ephemeral', text });
const code = (text: string): string => `\`${slackEscape(text).replace(/`/g, "'")}\``;

/** What a Slack route can answer besides 200: the signature's 401, no chat block's 404, bad forms. */
export const SLACK_ERRORS = errorResponses(
  ...COMMON_ERRORS,
  'invalid_request',
  'unauthorized',
  'not_found',
  'payload_too_large',
  'unsupported_media_type',
);

/** This plugin context only: Slack posts forms, and the signature needs the exact bytes. */
export function acceptSlackForms(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
}

/** Before the body is read: without a chat block there is nothing here (404). */
export async function refuseUnconfigured(config: LiveConfig, reply: FastifyReply): Promise<FastifyReply | undefined> {
  if (!config.current.coordinator.chat || !config.current.chatSecret)
    return sendError(reply, 'not_found', 'chat commands are not configured: coordinator.hcl has no chat { } block', {});
  return undefined;
}

/**
 * Before the body's fields are looked at: the one signature check of every Slack route. Answers
 * 401 (and says true) when the signature is missing, wrong or too old.
 */
export function refuseUnsigned(
  config: LiveConfig,
  request: FastifyRequest,
  reply: FastifyReply,
  log: (m: string) => void,
): boolean {
  const current = config.current;
  const check = verifySlackSignature({
    secret: current.chatSecret?.reveal() ?? '',
    rawBody: request.rawBody ?? '',
    timestamp: request.headers['x-slack-request-timestamp'] as string | undefined,
    signature: request.headers['x-slack-signature'] as string | undefined,
    nowMs: Date.now(),
    maxSkewMs: current.coordinator.chat?.maxSkewMs ?? 0,
  });
  if (check.ok) return false;
  log(`slack request refused: ${check.reason}`);
  sendError(reply, 'unauthorized', `request signature refused: ${check.reason}`, {});
  return true;
}

/** Whether a signed request comes from the workspace (and Enterprise Grid org) chat { } names: a signing secret is per app, and an app may be installed in several. */
export function configuredWorkspace(config: LiveConfig, teamId: unknown, enterpriseId: unknown): boolean {
  const chat = config.current.coordinator.chat!;
  const enterprise = typeof enterpriseId === 'string' && enterpriseId !== '' ? enterpriseId : undefined;
  return teamId === chat.teamId && enterprise === chat.enterpriseId;
}

/** `{value}` of `work`, or undefined when it takes longer than `ms` (it keeps running). */
async function within<T>(work: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ value })), late]);
  } finally {
    clearTimeout(timer);
  }
}

function targetText(t: { node?: string; datacenter?: string; node_type?: string }): string {
  const parts = (['node', 'datacenter', 'node_type'] as const).filter((k) => t[k]).map((k) => `${k}=${t[k]}`);
  return parts.length ? parts.join(' ') : 'no target';
}

function runAnswer(cmd: Extract<ChatCommand, { verb: 'run' }>, outcome: TriggerOutcome): SlackMessage {
  const wf = code(cmd.workflow);
  const where = slackEscape(targetText(cmd.target));
  switch (outcome.result) {
    case 'started':
      return {
        response_type: 'in_channel',
        text: `Started ${wf} (${where}) on ${code(outcome.taskQueue)}: ${code(outcome.workflowId)}. Follow it with \`status ${slackEscape(outcome.workflowId)}\`.`,
      };
    case 'duplicate':
      return ephemeral(`Already started: ${code(outcome.workflowId)} on ${code(outcome.taskQueue)}.`);
    case 'dry_run':
      return ephemeral(
        `Dry run: ${wf} (${where}) would start on ${code(outcome.taskQueue)}; ` +
          (outcome.checks.length
            ? outcome.checks.map((c) => `${slackEscape(String(c.constraint.description))}: ${c.count} counted`).join('; ')
            : 'no constraints'),
      );
    case 'refused': {
      const r = outcome.refusal;
      return ephemeral(
        `${outcome.dryRun ? 'Dry run: would be refused' : 'Refused'}: ${wf} (${where}) by ${slackEscape(String(r.constraint.description))} ` +
          `(${r.count} counted in scope ${slackEscape(String(r.constraint.scope))}); retry in ${r.retryAfterSeconds} s.`,
      );
    }
    case 'shadow':
      return ephemeral(`Shadow mode: ${wf} (${where}) would have started on ${code(outcome.taskQueue)}; nothing was started.`);
    case 'awaiting_approval':
      return {
        response_type: 'in_channel',
        text: `${wf} (${where}) waits for an approver: approval ${code(outcome.approvalId)} (${slackEscape(outcome.why)}); it expires ${outcome.expiresAt}.`,
      };
    case 'invalid':
      return ephemeral(`Cannot run ${wf}: ${slackEscape(outcome.message)}.`);
    case 'error':
      return ephemeral(`Could not start ${wf}: ${slackEscape(outcome.message)}.`);
  }
}

function statusText(s: ExecutionStatus): string {
  const lines = [
    `${code(s.workflow_id)}: *${s.status}* — ${code(s.workflow)} (${slackEscape(targetText(s.target))}) on ${code(s.task_queue)}`,
    `started ${s.start_time}${s.close_time ? `, closed ${s.close_time}` : ''}${s.trigger ? ` by ${slackEscape(s.trigger)}` : ''}`,
  ];
  if (s.history.activities.length)
    lines.push(`activities: ${s.history.activities.map((a) => `${slackEscape(a.activity_type)} (${a.status})`).join(', ')}`);
  if (s.failure) lines.push(`failure: ${slackEscape(s.failure)}`);
  return lines.join('\n');
}

export const chatSlackRoutes: FastifyPluginAsync<{
  admission: Admission;
  config: LiveConfig;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  log: (message: string) => void;
  answerWithinMs?: number;
}> = async (app, { admission, config, temporal, metrics, log, answerWithinMs = CHAT_ANSWER_WITHIN_MS }) => {
  acceptSlackForms(app);

  /** Read-only Temporal calls for status and list, answered in time or with a retry hint. */
  async function readTemporal<T>(what: string, fn: Parameters<TemporalGateway['withDeadline']>[0]): Promise<T | SlackMessage> {
    try {
      const got = await within(
        temporal.withDeadline(fn).catch((err: Error) => {
          metrics.temporalErrors.inc({ operation: what });
          throw err;
        }),
        answerWithinMs,
      );
      return got === undefined ? ephemeral('Temporal is slow to answer; try again in a moment.') : (got.value as T);
    } catch {
      return ephemeral('Temporal is unavailable; try again in a moment.');
    }
  }

  async function run(cmd: Extract<ChatCommand, { verb: 'run' }>, body: SlashCommandBody): Promise<SlackMessage> {
    const current = config.current;
    const identity = chatIdentity(body.team_id, body.user_id);
    if (!chatUserMayRun(current.coordinator.chat?.allow ?? [], body.user_id, cmd.workflow)) {
      admission.recordDenial(
        { workflow: cmd.workflow, target: cmd.target, identity, source: 'slack' },
        'no chat allow rule lets this user run this workflow',
      );
      return ephemeral(
        `<@${slackEscape(body.user_id)}> may not run ${code(cmd.workflow)}: no chat allow rule in coordinator.hcl lets you.`,
      );
    }
    const idempotencyKey = body.trigger_id ? chatIdempotencyKey(body.team_id, body.trigger_id) : undefined;
    const decided = admission.admitTrigger({
      workflow: cmd.workflow,
      target: cmd.target,
      params: cmd.params,
      reason: `slack: ${cmd.reason ?? `/medic run by ${identity}`}`.slice(0, 1024),
      idempotencyKey,
      identity,
      source: 'slack',
      dryRun: cmd.dryRun,
    });
    const decision = await within(decided, answerWithinMs);
    if (decision) return runAnswer(cmd, decision.value);
    // Too slow for Slack: the decision goes on (and is audited); the id is known in advance.
    return ephemeral(
      idempotencyKey && !cmd.dryRun
        ? `Still deciding ${code(cmd.workflow)}; if admitted it runs as ${code(idempotentExecutionId(cmd.workflow, identity, 'slack', idempotencyKey))} (\`status\` it in a moment).`
        : `Still deciding ${code(cmd.workflow)}; the audit log will have the decision.`,
    );
  }

  async function answer(request: FastifyRequest<{ Body: SlashCommandBody }>): Promise<SlackMessage> {
    const body = request.body;
    const allow = config.current.coordinator.chat?.allow ?? [];
    let cmd: ChatCommand;
    try {
      cmd = parseChatCommand(body.text ?? '');
    } catch (err) {
      if (err instanceof ChatUsageError) return ephemeral(slackEscape(err.message));
      throw err;
    }
    switch (cmd.verb) {
      case 'help':
        return ephemeral(slackEscape(CHAT_HELP));
      case 'run':
        return run(cmd, body);
      case 'status': {
        if (!chatUserMayRead(allow, body.user_id)) return ephemeral('No chat allow rule in coordinator.hcl names you.');
        const got = await readTemporal<ExecutionStatus | undefined>('describe', (client) =>
          describeExecution(client, cmd.workflowId),
        );
        if (got === undefined) return ephemeral(`No execution ${code(cmd.workflowId)}.`);
        return 'response_type' in got ? got : ephemeral(statusText(got));
      }
      case 'list': {
        if (!chatUserMayRead(allow, body.user_id)) return ephemeral('No chat allow rule in coordinator.hcl names you.');
        const got = await readTemporal<ExecutionSummary[]>('visibility_list', (client) => listExecutions(client, {}, LIST_LIMIT));
        if ('response_type' in got) return got;
        if (got.length === 0) return ephemeral('No recent executions.');
        return ephemeral(
          [
            `Recent executions (newest first):`,
            ...got.map(
              (e) =>
                `• ${code(e.workflow_id)} *${e.status}* ${code(e.workflow ?? '?')}${e.target.node ? ` node=${slackEscape(e.target.node)}` : ''} ${e.start_time}`,
            ),
          ].join('\n'),
        );
      }
    }
  }

  app.post<{ Body: SlashCommandBody }>(
    CHAT_ROUTE,
    {
      bodyLimit: CHAT_BODY_LIMIT,
      schema: {
        summary: 'Slack slash command',
        description:
          'Slack slash-command request (application/x-www-form-urlencoded), signed with the app signing secret ' +
          '(X-Slack-Signature, X-Slack-Request-Timestamp). Commands: run <workflow> node=<n> [k=v ...], status <id>, list, help. ' +
          'Public in the ACL, protected by the signature; 404 when coordinator.hcl has no chat block.',
        consumes: ['application/x-www-form-urlencoded'],
        security: [],
        headers: {
          type: 'object',
          properties: {
            'x-slack-signature': { type: 'string', description: 'v0=<hex HMAC-SHA256 of v0:<timestamp>:<body>>' },
            'x-slack-request-timestamp': { type: 'string', description: 'Unix seconds' },
          },
        },
        body: {
          type: 'object',
          required: ['team_id', 'user_id'],
          properties: {
            team_id: { type: 'string', minLength: 1, maxLength: 64 },
            enterprise_id: { type: 'string', maxLength: 64 },
            user_id: { type: 'string', minLength: 1, maxLength: 64 },
            user_name: { type: 'string' },
            command: { type: 'string' },
            text: { type: 'string', maxLength: 4000 },
            trigger_id: { type: 'string', maxLength: 256 },
            response_url: { type: 'string' },
            channel_id: { type: 'string' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['response_type', 'text'],
            properties: { response_type: { type: 'string', enum: ['ephemeral', 'in_channel'] }, text: { type: 'string' } },
          },
          ...SLACK_ERRORS,
        },
      },
      // Before the body is read: without a chat block there is nothing here.
      onRequest: async (_request, reply: FastifyReply) => refuseUnconfigured(config, reply),
      // Before the body's fields are looked at: only Slack's signed requests go further.
      preValidation: async (request, reply) => {
        if (refuseUnsigned(config, request, reply, log)) return reply;
        // A signing secret is per app, and an app may be installed in several workspaces: the
        // workspace (and Enterprise Grid org) must also be the configured one.
        const body = (request.body ?? {}) as Partial<SlashCommandBody>;
        if (!configuredWorkspace(config, body.team_id, body.enterprise_id)) {
          log('slack request refused: signed, but from a workspace or enterprise that chat { } does not name');
          return sendError(reply, 'forbidden', 'this Slack workspace may not use this coordinator', {});
        }
      },
    },
    async (request) => answer(request),
  );
};
