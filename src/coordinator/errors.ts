// The coordinator's error codes, in one table: every error response is
// `{error: <code>, message, details}` with the status this table gives the code.
import type { FastifyReply } from 'fastify';

export const ERROR_STATUS = {
  /** The request is malformed: a bad body, query or path parameter, or a target that lacks a field. */
  invalid_request: 400,
  /** A signed caller (Slack) whose signature is missing, wrong or too old. */
  unauthorized: 401,
  /** No route rule admits the caller for this method and path. */
  forbidden: 403,
  /** The path names no route (only reachable when a route rule admits the caller). */
  not_found: 404,
  /** The workflow name has no config in workflows/. */
  unknown_workflow: 404,
  /** No medic execution has this workflow id. */
  unknown_execution: 404,
  /** No approval request has this id (or it is past the namespace's retention). */
  unknown_approval: 404,
  /** The approval request was decided already (denied, expired; or approved, for a deny). */
  approval_decided: 409,
  /** The body is larger than server_config.body_limit_bytes. */
  payload_too_large: 413,
  /** The body is not of the route's media type (application/json; the Slack route: form-encoded). */
  unsupported_media_type: 415,
  /** A safety constraint refused the start (see details.constraint, details.count, Retry-After). */
  constraint_refused: 429,
  /** Something failed that the caller cannot fix; the log has the cause. */
  internal: 500,
  /** Temporal cannot be reached (or did not answer in time): retry later. */
  temporal_unavailable: 503,
  /** The ledger that governs this workflow cannot run (its workflow tasks keep failing): details.ledger, details.reason. */
  ledger_failed: 503,
  /** /readyz: the coordinator cannot serve triggers yet. */
  not_ready: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export function errorBody(code: ErrorCode, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: code, message, details };
}

export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): FastifyReply {
  return reply
    .code(ERROR_STATUS[code])
    .type('application/json')
    .send(errorBody(code, message, details));
}

/** JSON schema of an error body, shared by every route's response schemas (and so the OpenAPI document). */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'message', 'details'],
  properties: {
    error: { type: 'string', enum: Object.keys(ERROR_STATUS) },
    message: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
  },
} as const;
