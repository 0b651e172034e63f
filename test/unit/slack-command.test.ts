import { inspect } from 'node:util';
import { Secret } from '../../src/config/secret';
import { IDEMPOTENCY_KEY } from '../../src/coordinator/admission';
import {
  chatIdempotencyKey,
  chatIdentity,
  chatUserMayRead,
  slackEscape,
  chatUserMayRun,
  ChatUsageError,
  parseChatCommand,
  signSlackRequest,
  verifySlackSignature,
} from '../../src/coordinator/slack-command';

describe('verifySlackSignature', () => {
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const rawBody = 'token=x&team_id=T1&user_id=U1&command=%2Fmedic&text=list';
  const now = 1_700_000_000_000;
  const ts = String(now / 1000);
  const check = (over: Partial<Parameters<typeof verifySlackSignature>[0]>) =>
    verifySlackSignature({
      secret,
      rawBody,
      timestamp: ts,
      signature: signSlackRequest(secret, ts, rawBody),
      nowMs: now,
      maxSkewMs: 300_000,
      ...over,
    });

  it('accepts a correctly signed, fresh request', () => {
    expect(check({})).toEqual({ ok: true });
  });

  it.each([
    ['a tampered body', { rawBody: rawBody + '&x=1' }, 'signature does not match'],
    ['another secret', { secret: 'other' }, 'signature does not match'],
    ['a stale timestamp', { nowMs: now + 301_000 }, 'stale request timestamp'],
    ['a future timestamp', { nowMs: now - 301_000 }, 'stale request timestamp'],
    ['no signature', { signature: undefined }, 'missing or malformed X-Slack-Signature'],
    ['a short signature', { signature: 'v0=abc' }, 'missing or malformed X-Slack-Signature'],
    ['no timestamp', { timestamp: undefined }, 'missing or malformed X-Slack-Request-Timestamp'],
    ['a non-numeric timestamp', { timestamp: '12a' }, 'missing or malformed X-Slack-Request-Timestamp'],
  ])('refuses %s', (_what, over, reason) => {
    expect(check(over)).toEqual({ ok: false, reason });
  });
});

describe('parseChatCommand', () => {
  it('reads run with target, params, a quoted reason and --dry-run', () => {
    expect(
      parseChatCommand('run cleanDisk node=host1 datacenter=ams1 mountpoint=/var reason="disk full again" --dry-run'),
    ).toEqual({
      verb: 'run',
      workflow: 'cleanDisk',
      target: { node: 'host1', datacenter: 'ams1' },
      params: { mountpoint: '/var' },
      reason: 'disk full again',
      dryRun: true,
    });
  });

  it.each([
    ['status wf-1', { verb: 'status', workflowId: 'wf-1' }],
    ['list', { verb: 'list' }],
    ['help', { verb: 'help' }],
    ['', { verb: 'help' }],
    ['  LIST ', { verb: 'list' }],
  ])('reads %j', (text, expected) => {
    expect(parseChatCommand(text)).toEqual(expected);
  });

  it.each(['run', 'run node=h1', 'run x node', 'status', 'status a b', 'reboot everything'])('answers %j with usage', (text) => {
    expect(() => parseChatCommand(text)).toThrow(ChatUsageError);
  });
});

describe('chatUserMayRun', () => {
  const allow = [
    { user: 'U1', workflows: ['restartService'] },
    { user: 'U2', workflows: ['*'] },
  ];
  it('denies by default and allows only what a rule names', () => {
    expect(chatUserMayRun(allow, 'U1', 'restartService')).toBe(true);
    expect(chatUserMayRun(allow, 'U1', 'rebootNode')).toBe(false);
    expect(chatUserMayRun(allow, 'U2', 'rebootNode')).toBe(true);
    expect(chatUserMayRun(allow, 'U3', 'restartService')).toBe(false);
    expect(chatUserMayRun([], 'U1', 'restartService')).toBe(false);
  });
});

describe('chat helpers', () => {
  it('lets only users an allow rule names read executions', () => {
    const allow = [{ user: 'U1', workflows: [] }];
    expect(chatUserMayRead(allow, 'U1')).toBe(true);
    expect(chatUserMayRead(allow, 'U2')).toBe(false);
    expect(chatUserMayRead([], 'U1')).toBe(false);
    expect(chatUserMayRead([{ user: '*', workflows: ['x'] }], 'U2')).toBe(true);
  });

  it('derives one idempotency key per invocation, valid as a trigger key', () => {
    const key = chatIdempotencyKey('T1', '13345224609.738474920.8088930838d88f008e0');
    expect(key).toMatch(IDEMPOTENCY_KEY);
    expect(chatIdempotencyKey('T1', '13345224609.738474920.8088930838d88f008e0')).toBe(key);
    expect(chatIdempotencyKey('T2', '13345224609.738474920.8088930838d88f008e0')).not.toBe(key);
  });

  it('escapes the characters Slack treats as markup', () => {
    expect(slackEscape('<@U1> & <!channel>')).toBe('&lt;@U1&gt; &amp; &lt;!channel&gt;');
    expect(chatIdentity('T1', 'U1')).toBe('slack:T1/U1');
  });
});

describe('Secret', () => {
  it('never prints its value', () => {
    const s = new Secret('hunter2');
    expect(JSON.stringify({ s })).toBe('{"s":"[redacted]"}');
    expect(`${s}`).toBe('[redacted]');
    expect(inspect({ s })).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2');
  });
});
