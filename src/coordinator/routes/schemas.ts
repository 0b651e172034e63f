// JSON schemas shared by routes (and so by the OpenAPI document).
import { ERROR_SCHEMA, ERROR_STATUS, type ErrorCode } from '../errors';

export const TARGET_NAME = { type: 'string', minLength: 1, maxLength: 253 } as const;

export const TARGET_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description: 'Where the workflow runs; task_queue_target of the workflow says which fields are needed.',
  properties: {
    node: { ...TARGET_NAME, description: 'node name (needed for task_queue_target "node")' },
    datacenter: { ...TARGET_NAME, description: 'datacenter (needed for "general" and "node_type")' },
    node_type: { ...TARGET_NAME, description: 'node type (needed for "node_type")' },
  },
} as const;

export const CONSTRAINT_SCHEMA = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['concurrency', 'maxExecution'] },
    value: { type: 'integer' },
    period: { type: 'string' },
    is_global: { type: 'boolean' },
    scope: { type: 'string' },
    description: { type: 'string' },
  },
} as const;

/** Response schemas for the error statuses a route can answer with. */
export function errorResponses(...codes: ErrorCode[]): Record<number, typeof ERROR_SCHEMA & { description: string }> {
  const out: Record<number, typeof ERROR_SCHEMA & { description: string }> = {};
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    const prior = out[status];
    out[status] = { ...ERROR_SCHEMA, description: prior ? `${prior.description}, ${code}` : code };
  }
  return out;
}

/** Errors any route can answer: the ACL's 403, and a 500. */
export const COMMON_ERRORS: ErrorCode[] = ['forbidden', 'internal'];
