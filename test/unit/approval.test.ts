// Approvals, pure: the approval block of a workflow file, who may decide a request (four eyes,
// approvers), the first decision winning, and the Slack buttons read back.
import { readWorkflow } from '../../src/config/workflow';
import { readChat } from '../../src/config/callers';
import { applyDecision, approverMatches, decisionProblem, initialState } from '../../src/approval/state';
import { approvalRequest } from '../helpers/approval';
import { APPROVE_ACTION, DENY_ACTION, approvalRequestMessage, readApprovalAction } from '../../src/coordinator/slack-approvals';
import { decode } from '../helpers/hcl';

const HEAD = 'workflow = "rebootNode"\ntask_queue_target = "node"\n';

const request = approvalRequest;

describe('the approval block of a workflow file', () => {
  it('reads when, approvers and timeout', async () => {
    const { value, errors } = await decode(
      `${HEAD}approval {\n  when = "beyond_budget"\n  approvers = ["spiffe://example.com/sre/*"]\n  timeout = "10m"\n}\n`,
      (d) => readWorkflow('rebootNode', d),
    );
    expect(errors).toEqual([]);
    expect(value.approval).toEqual({ when: 'beyond_budget', approvers: ['spiffe://example.com/sre/*'], timeoutMs: 600_000 });
  });

  it('defaults to always and 30 minutes', async () => {
    const { value, errors } = await decode(`${HEAD}approval {\n  approvers = ["spiffe://example.com/oncall"]\n}\n`, (d) =>
      readWorkflow('rebootNode', d),
    );
    expect(errors).toEqual([]);
    expect(value.approval).toEqual({ when: 'always', approvers: ['spiffe://example.com/oncall'], timeoutMs: 1_800_000 });
  });

  it('names every bad key by its path', async () => {
    const { value, errors } = await decode(
      `${HEAD}approval {\n  when = "sometimes"\n  approvers = ["alice", "spiffe://example.com/sre*", "spiffe://example.com/*/x"]\n  timeout = "30d"\n  quorum = 2\n}\n`,
      (d) => readWorkflow('rebootNode', d),
    );
    expect(errors).toEqual([
      'approval.when: "sometimes" is not one of "always", "beyond_budget"',
      'approval.approvers[0]: "alice" is not a SPIFFE ID (spiffe://trust-domain/path)',
      'approval.approvers[1]: "spiffe://example.com/sre*": "*" is allowed only as a final "/*"',
      'approval.approvers[2]: "spiffe://example.com/*/x": "*" is allowed only as a final "/*"',
      'approval.timeout: is longer than 7d: a request that old should be asked again',
      'approval.quorum: unknown key (known here: approvers, timeout, when)',
    ]);
    expect(value.approval?.when).toBe('always');
  });

  it('refuses an empty or missing approvers list and a second block', async () => {
    const empty = await decode(`${HEAD}approval {\n  approvers = []\n}\n`, (d) => readWorkflow('w', d));
    expect(empty.errors).toEqual(['approval.approvers: is empty: nobody could approve a request']);
    expect(empty.value.approval).toBeUndefined();
    const missing = await decode(`${HEAD}approval {\n  when = "always"\n}\n`, (d) => readWorkflow('w', d));
    expect(missing.errors).toEqual(['approval.approvers: is required']);
    const twice = await decode(
      `${HEAD}approval {\n  approvers = ["spiffe://e/a"]\n}\napproval {\n  approvers = ["spiffe://e/b"]\n}\n`,
      (d) => readWorkflow('w', d),
    );
    expect(twice.errors).toEqual(['approval: block may appear only once, found 2']);
  });
});

describe('who may decide a request', () => {
  it.each<[string, string, string[], string | undefined]>([
    ['an approver under a /* prefix', 'spiffe://example.com/sre/bob', [], undefined],
    ['an approver listed exactly', 'spiffe://example.com/oncall', [], undefined],
    [
      'the requester (four eyes)',
      'spiffe://example.com/sre/alice',
      [],
      'four eyes: spiffe://example.com/sre/alice asked for this start and may not decide it; another approver must',
    ],
    [
      'the requester under another name (a Slack user mapped to it)',
      'spiffe://example.com/sre/alice2',
      ['spiffe://example.com/sre/alice'],
      'four eyes: spiffe://example.com/sre/alice2 asked for this start and may not decide it; another approver must',
    ],
    [
      'an outsider',
      'spiffe://example.com/dev/carol',
      [],
      'spiffe://example.com/dev/carol is not an approver of rebootNode (approvers: spiffe://example.com/sre/*, spiffe://example.com/oncall)',
    ],
    [
      'the prefix itself, which is not under it',
      'spiffe://example.com/sre',
      [],
      'spiffe://example.com/sre is not an approver of rebootNode (approvers: spiffe://example.com/sre/*, spiffe://example.com/oncall)',
    ],
  ])('%s', (_what, identity, aliases, problem) => {
    expect(decisionProblem(request(), { identity, aliases })).toBe(problem);
  });

  it('an anonymous request may be decided by any approver', () => {
    expect(decisionProblem(request({ requester: null }), { identity: 'spiffe://example.com/oncall' })).toBeUndefined();
  });

  it('matches a "/*" pattern only below it', () => {
    expect(approverMatches(['spiffe://e/sre/*'], 'spiffe://e/sre/a/b')).toBe(true);
    expect(approverMatches(['spiffe://e/sre/*'], 'spiffe://e/sre/')).toBe(false);
    expect(approverMatches(['spiffe://e/sre/*'], 'spiffe://e/sreX/a')).toBe(false);
  });
});

describe('deciding', () => {
  it('the first decision wins; a later one changes nothing', () => {
    const state = initialState(request());
    expect(applyDecision(state, { verdict: 'approve', identity: 'spiffe://example.com/sre/bob', via: 'api' }, 't1')).toBe(true);
    expect(applyDecision(state, { verdict: 'deny', identity: 'spiffe://example.com/oncall', via: 'slack' }, 't2')).toBe(false);
    expect(state).toMatchObject({
      status: 'approved',
      decision: { verdict: 'approve', by: 'spiffe://example.com/sre/bob', via: 'api', at: 't1' },
    });
  });

  it('an expired request takes no decision', () => {
    const state = initialState(request());
    state.status = 'expired';
    expect(applyDecision(state, { verdict: 'approve', identity: 'spiffe://example.com/oncall', via: 'api' }, 't')).toBe(false);
    expect(state.decision).toBeUndefined();
  });
});

describe('Slack approval buttons', () => {
  it('posts the request with masked params and two buttons carrying its id', () => {
    const msg = approvalRequestMessage(request()) as {
      blocks: Array<{ type: string; elements?: unknown[]; text?: { text: string } }>;
    };
    expect(msg.blocks[0]!.text!.text).toContain('params: token=***');
    expect(msg.blocks[0]!.text!.text).not.toContain('s3cret');
    expect(msg.blocks[1]!.elements).toEqual([
      { type: 'button', action_id: APPROVE_ACTION, text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value: 'a1' },
      { type: 'button', action_id: DENY_ACTION, text: { type: 'plain_text', text: 'Deny' }, style: 'danger', value: 'a1' },
    ]);
  });

  it('reads a button press, and says why other payloads are not one', () => {
    const press = {
      type: 'block_actions',
      team: { id: 'T1' },
      user: { id: 'U2', team_id: 'T1' },
      actions: [{ action_id: DENY_ACTION, value: 'key-abc' }],
    };
    expect(readApprovalAction(JSON.stringify(press))).toEqual({
      approvalId: 'key-abc',
      verdict: 'deny',
      teamId: 'T1',
      userId: 'U2',
    });
    expect(readApprovalAction('{')).toEqual({ problem: 'payload is not JSON' });
    expect(readApprovalAction(JSON.stringify({ ...press, type: 'view_submission' }))).toEqual({
      problem: 'interaction type "view_submission" is not block_actions',
    });
    expect(readApprovalAction(JSON.stringify({ ...press, actions: [{ action_id: 'x', value: 'a' }] }))).toEqual({
      problem: 'no medic approval action',
    });
    expect(readApprovalAction(JSON.stringify({ ...press, actions: [{ action_id: APPROVE_ACTION, value: '../x' }] }))).toEqual({
      problem: 'the action has no approval id',
    });
  });

  it('maps Slack users to SPIFFE IDs in the chat block, checking both', async () => {
    const { value, errors } = await decode(
      'slack_signing_secret_file = "/etc/medic/s"\nslack_team_id = "T1"\nallow {\n  user = "U1"\n  workflows = ["*"]\n}\nidentities = { U0ALICE = "spiffe://e/sre/alice", bob = "spiffe://e/sre/*" }\napprovals_webhook_url_file = "/etc/medic/hook"\n',
      (d) => readChat(d),
    );
    expect(errors).toEqual([
      'identities.bob: is not a Slack user id (U0123ABC)',
      'identities.bob: "spiffe://e/sre/*" is not a SPIFFE ID (spiffe://trust-domain/path, no "*")',
    ]);
    expect(value?.identities).toMatchObject({ U0ALICE: 'spiffe://e/sre/alice' });
    expect(value?.approvalsWebhookUrlFile).toBe('/etc/medic/hook');
  });
});

describe('the documented examples', () => {
  it('the approval block of docs/approvals.md reads without an error or warning', async () => {
    const { documentationFiles, readDocumentation, splitMarkdown } = await import('../helpers/docs');
    expect(documentationFiles()).toContain('docs/approvals.md');
    const [first] = splitMarkdown(readDocumentation('docs/approvals.md')).blocks.filter((b) => b.lang === 'hcl');
    const { value, errors, warnings } = await decode(first!.text, (d) => readWorkflow('rebootNode', d), 'docs/approvals.md');
    expect([...errors, ...warnings]).toEqual([]);
    expect(value.approval).toEqual({ when: 'always', approvers: ['spiffe://example.com/sre/*'], timeoutMs: 1_800_000 });
  });

  it('the chat block of docs/approvals.md reads without an error', async () => {
    const { readDocumentation, splitMarkdown } = await import('../helpers/docs');
    const chat = splitMarkdown(readDocumentation('docs/approvals.md')).blocks.filter((b) => b.lang === 'hcl')[1]!;
    const body = chat.text.replace(/^chat \{/, '').replace(/\}\s*$/, '');
    const { value, errors } = await decode(body, (d) => readChat(d), 'docs/approvals.md');
    expect(errors).toEqual([]);
    expect(value?.identities).toEqual({ U0ALICE: 'spiffe://example.com/sre/alice', U0BOB: 'spiffe://example.com/sre/bob' });
  });
});
