// An approval request for tests (src/approval/state.ts): what a coordinator would hold for alice's ask.
import type { ApprovalRequest } from '../../src/approval/state';

export function approvalRequest(over: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const timeoutMs = over.timeoutMs ?? 1_800_000;
  const at = Date.parse('2026-01-01T00:00:00.000Z');
  return {
    id: 'a1',
    workflow: 'rebootNode',
    target: { node: 'web-1' },
    params: { token: 's3cret' },
    shownParams: { token: '***' },
    requester: 'spiffe://example.com/sre/alice',
    trigger: 'spiffe://example.com/sre/alice',
    source: 'api',
    approvers: ['spiffe://example.com/sre/*', 'spiffe://example.com/oncall'],
    when: 'always',
    why: 'always',
    requestedAt: new Date(at).toISOString(),
    expiresAt: new Date(at + timeoutMs).toISOString(),
    timeoutMs,
    ...over,
  };
}
