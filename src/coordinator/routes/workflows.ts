// GET /v1/workflows: the configured workflows, what they run, where, under which constraints.
import type { FastifyPluginAsync } from 'fastify';
import type { LiveConfig } from '../live-config';
import { constraintJson } from '../../admission/constraints';
import { paramSchemaOf } from '../../config/workflow';
import { maskParams } from '../../params/resolve';
import { PARAM_TYPES, publicSchema } from '../../params/schema';
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
          params: {
            type: 'object',
            description: 'the defaults the workflow runs with (secret values masked)',
            additionalProperties: { type: 'string' },
          },
          param_schema: {
            type: 'object',
            description: 'each param: type, default, constraints, and whether callers may set it (settable)',
            additionalProperties: {
              type: 'object',
              required: ['type', 'settable', 'secret', 'list'],
              properties: {
                type: { type: 'string', enum: [...PARAM_TYPES] },
                settable: { type: 'boolean' },
                secret: { type: 'boolean' },
                list: { type: 'boolean' },
                default: { type: 'string' },
                pattern: { type: 'string' },
                values: { type: 'array', items: { type: 'string' } },
                min: { type: 'number' },
                max: { type: 'number' },
                prefixes: { type: 'array', items: { type: 'string' } },
                hosts: { type: 'array', items: { type: 'string' } },
                description: { type: 'string' },
              },
            },
          },
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
          params: maskParams(paramSchemaOf(wf), wf.params),
          param_schema: publicSchema(paramSchemaOf(wf)),
        })),
    }),
  );
};
