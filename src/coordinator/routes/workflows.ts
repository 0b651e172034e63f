// GET /v1/workflows: the configured workflows, what they run, where, under which constraints.
import type { FastifyPluginAsync } from 'fastify';
import type { LiveConfig } from '../live-config';
import { constraintJson } from '../constraints';
import { COMMON_ERRORS, CONSTRAINT_SCHEMA, errorResponses } from './schemas';

const WORKFLOWS_SCHEMA = {
  type: 'object',
  required: ['workflows'],
  properties: {
    workflows: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          workflow_type: { type: 'string' },
          task_queue_target: { type: 'string', enum: ['general', 'node_type', 'node'] },
          description: { type: 'string' },
          constraints: { type: 'array', items: CONSTRAINT_SCHEMA },
          params: { type: 'object', additionalProperties: { type: 'string' } },
        },
      },
    },
  },
} as const;

export const workflowRoutes: FastifyPluginAsync<{ config: LiveConfig }> = async (app, { config }) => {
  app.get(
    '/v1/workflows',
    {
      schema: {
        summary: 'Configured workflows',
        response: { 200: WORKFLOWS_SCHEMA, ...errorResponses(...COMMON_ERRORS) },
      },
    },
    async () => ({
      workflows: [...config.current.workflows.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((wf) => ({
          name: wf.name,
          workflow_type: wf.workflowType,
          task_queue_target: wf.taskQueueTarget,
          ...(wf.description ? { description: wf.description } : {}),
          constraints: wf.constraints.map((c) => constraintJson(c)),
          params: wf.params,
        })),
    }),
  );
};
