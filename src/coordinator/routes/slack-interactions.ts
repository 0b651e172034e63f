// POST /v1/chat/slack/interactions: Slack's interactivity request URL, for the Approve and Deny
// buttons of approval requests. Like the slash command it is public in the ACL and protected by
// the request signature (checked exactly as there, on the raw body, before anything reads it),
// and the workspace must be the configured one. The Slack user is mapped to a SPIFFE ID by
// chat.identities in coordinator.hcl and decides like the API: four eyes, approvers.
import type { FastifyPluginAsync } from 'fastify';
import type { Approvals } from '../approvals';
import { sendError } from '../errors';
import type { LiveConfig } from '../live-config';
import { chatIdentity, slackEscape } from '../slack-command';
import { readApprovalAction } from '../slack-approvals';
import {
  acceptSlackForms,
  CHAT_BODY_LIMIT,
  configuredWorkspace,
  refuseUnconfigured,
  refuseUnsigned,
  SLACK_ERRORS,
} from './chat-slack';
import { decisionAnswer } from './approvals';

export const INTERACTIONS_ROUTE = '/v1/chat/slack/interactions';

/** Interaction payloads carry the whole message they came from: larger than a slash command. */
const INTERACTIONS_BODY_LIMIT = 8 * CHAT_BODY_LIMIT;

export const slackInteractionRoutes: FastifyPluginAsync<{
  approvals: Approvals;
  config: LiveConfig;
  log: (m: string) => void;
}> = async (app, { approvals, config, log }) => {
  acceptSlackForms(app);
  app.post<{ Body: { payload?: string } }>(
    INTERACTIONS_ROUTE,
    {
      bodyLimit: INTERACTIONS_BODY_LIMIT,
      schema: {
        summary: 'Slack interactions (approval buttons)',
        description:
          "Slack's interactivity request (application/x-www-form-urlencoded, a JSON `payload` field of type block_actions), " +
          'signed like the slash command. An Approve or Deny press decides the approval request as the SPIFFE ID that ' +
          'chat.identities maps the Slack user to (four eyes and approvers apply). Public in the ACL, protected by the signature.',
        consumes: ['application/x-www-form-urlencoded'],
        security: [],
        body: {
          type: 'object',
          required: ['payload'],
          properties: { payload: { type: 'string', maxLength: INTERACTIONS_BODY_LIMIT } },
        },
        response: {
          200: {
            type: 'object',
            required: ['response_type', 'text'],
            properties: { response_type: { type: 'string', enum: ['ephemeral'] }, text: { type: 'string' } },
          },
          ...SLACK_ERRORS,
        },
      },
      onRequest: async (_request, reply) => refuseUnconfigured(config, reply),
      preValidation: async (request, reply) => {
        if (refuseUnsigned(config, request, reply, log)) return reply;
      },
    },
    async (request, reply) => {
      // The decision writes its own audit lines (src/coordinator/approvals.ts).
      request.audited = true;
      const action = readApprovalAction(request.body.payload);
      if ('problem' in action) return sendError(reply, 'invalid_request', `not an approval action: ${action.problem}`, {});
      const slackUser = chatIdentity(action.teamId, action.userId);
      if (!configuredWorkspace(config, action.teamId, action.enterpriseId)) {
        log('slack interaction refused: signed, but from a workspace or enterprise that chat { } does not name');
        approvals.recordRefusedPress(action.approvalId, slackUser, 'the Slack workspace is not the one chat { } names');
        return sendError(reply, 'forbidden', 'this Slack workspace may not use this coordinator', {});
      }
      const chat = config.current.coordinator.chat!;
      const identity = chat.identities?.[action.userId];
      const say = (text: string) => reply.send({ response_type: 'ephemeral', text });
      if (!identity) {
        approvals.recordRefusedPress(action.approvalId, slackUser, 'the Slack user has no identity in chat.identities');
        return say(
          `<@${slackEscape(action.userId)}> has no identity in chat.identities of coordinator.hcl: you may not decide approvals.`,
        );
      }
      const result = await approvals.decide(action.approvalId, {
        identity,
        verdict: action.verdict,
        reason: `via Slack by ${slackUser}`,
        via: 'slack',
        aliases: [slackUser],
      });
      const a = decisionAnswer(action.approvalId, result);
      if ('status' in a) {
        const b = a.body;
        return say(
          b.status === 'denied'
            ? `Denied approval \`${action.approvalId}\`.`
            : `Approved \`${action.approvalId}\`: ${String(b.status)} ${String(b.workflow_id ?? '')}.`,
        );
      }
      return say(`Approval \`${action.approvalId}\`: ${slackEscape(a.message)}`);
    },
  );
};
