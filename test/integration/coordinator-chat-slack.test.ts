// POST /v1/chat/slack over app.inject against the run's real Temporal dev server: Slack's
// signature (right, wrong, tampered, missing, stale), the chat allow rules (deny by default),
// and each command: run, status, list, help.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import type { RouteRule } from '../../src/config/coordinator';
import type { TemporalGateway } from '../../src/temporal/gateway';
import { CHAT_HELP, signSlackRequest, slackEscape } from '../../src/coordinator/slack-command';
import { constraint, testCoordinator, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { connectClient, eventually, unique } from '../helpers/temporal';

const SECRET = 'e2b6c1d3f0a94e8b9c7d6e5f4a3b2c1d';
const RULES: RouteRule[] = [
  { name: 'chat', method: 'POST', routePatterns: ['/v1/chat/slack'], uris: [], allowPublic: true, skipLogMatch: false },
  { name: 'public', method: 'GET', routePatterns: ['/metrics'], uris: [], allowPublic: true, skipLogMatch: true },
];
const WORKFLOWS = [
  workflowConfig('slackPing', {
    paramSchema: { mode: { type: 'enum', values: ['fast', 'slow'], settable: true, secret: false, list: false } },
  }),
  workflowConfig('slackGuarded', { constraints: [constraint('concurrency', 1, 15 * 60_000)] }),
  workflowConfig('slackForbidden'),
];

let dir: string;
let c: TestCoordinator;
let client: Client;
let closeClient: () => Promise<void>;

function chatConfig(secretFile: string) {
  return {
    signingSecretFile: secretFile,
    teamId: 'T0MEDIC',
    maxSkewMs: 5 * 60_000,
    allow: [
      { user: 'UOPS', workflows: ['slackPing', 'slackGuarded'] },
      { user: 'UREADER', workflows: [] },
    ],
  };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-chat-'));
  fs.writeFileSync(path.join(dir, 'slack-secret'), `${SECRET}\n`);
  c = await testCoordinator(WORKFLOWS, { config: { routeRules: RULES, chat: chatConfig(path.join(dir, 'slack-secret')) } });
  ({ client, close: closeClient } = await connectClient());
});

afterAll(async () => {
  await c.close();
  await closeClient();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Slash {
  text: string;
  user?: string;
  team?: string;
  triggerId?: string;
}

function form(s: Slash): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: s.team ?? 'T0MEDIC',
    team_domain: 'medic',
    channel_id: 'C0OPS',
    channel_name: 'ops',
    user_id: s.user ?? 'UOPS',
    user_name: 'ops',
    command: '/medic',
    text: s.text,
    api_app_id: 'A0MEDIC',
    response_url: 'https://hooks.slack.com/commands/T0MEDIC/1/abc',
    trigger_id: s.triggerId ?? unique('13345224609.738474920'),
  }).toString();
}

function slack(
  s: Slash,
  opts: { secret?: string; timestamp?: number; tamper?: (body: string) => string; headers?: Record<string, string> } = {},
  app = c.app,
) {
  const body = form(s);
  const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  return app.inject({
    method: 'POST',
    url: '/v1/chat/slack',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': signSlackRequest(opts.secret ?? SECRET, ts, body),
      ...opts.headers,
    },
    payload: opts.tamper ? opts.tamper(body) : body,
  });
}

describe('the Slack request signature', () => {
  it('accepts a correctly signed request and answers in Slack format', async () => {
    const res = await slack({ text: 'help' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ response_type: 'ephemeral', text: slackEscape(CHAT_HELP) });
  });

  it('refuses a request signed with another secret, with 401 and nothing started', async () => {
    const node = unique('chat-node');
    const before = c.audit.length;
    const res = await slack({ text: `run slackPing node=${node}` }, { secret: 'not-the-secret' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({
      error: 'unauthorized',
      message: 'request signature refused: signature does not match',
      details: {},
    });
    expect(c.audit.slice(before).some((e) => e.decision === 'started')).toBe(false);
  });

  it('refuses a correctly signed request from another workspace or enterprise, with 403 and nothing started', async () => {
    const node = unique('chat-node');
    const before = c.audit.length;
    const other = await slack({ text: `run slackPing node=${node}`, team: 'T0OTHER' });
    expect(other.statusCode).toBe(403);
    expect(other.json()).toEqual({
      error: 'forbidden',
      message: 'this Slack workspace may not use this coordinator',
      details: {},
    });
    const grid = await slack({ text: `run slackPing node=${node}` }, { tamper: (b) => b });
    expect(grid.statusCode).toBe(200);
    const body = `${form({ text: `run slackPing node=${node}` })}&enterprise_id=E0OTHER`;
    const ts = String(Math.floor(Date.now() / 1000));
    const enterprise = await c.app.inject({
      method: 'POST',
      url: '/v1/chat/slack',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': signSlackRequest(SECRET, ts, body),
      },
      payload: body,
    });
    expect(enterprise.statusCode).toBe(403);
    // The first start of the file can outlast Slack's answer budget on a loaded machine (it is
    // then answered "still deciding" and goes on): wait for its decision, then count exactly.
    await eventually(
      async () => (c.audit.slice(before).some((e) => e.decision === 'started') ? true : undefined),
      10_000,
      'the signed request to start',
    );
    expect(c.audit.slice(before).filter((e) => e.decision === 'started').length).toBe(1);
  });

  it('refuses a body changed after signing', async () => {
    const res = await slack({ text: 'run slackPing node=a' }, { tamper: (b) => b.replace('node%3Da', 'node%3Db') });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a request without signature headers', async () => {
    const res = await c.app.inject({
      method: 'POST',
      url: '/v1/chat/slack',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form({ text: 'help' }),
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toMatch(/X-Slack-Request-Timestamp/);
  });

  it('refuses a correctly signed request whose timestamp is stale (a replay)', async () => {
    const res = await slack({ text: 'help' }, { timestamp: Math.floor(Date.now() / 1000) - 10 * 60 });
    expect(res.statusCode).toBe(401);
    expect(res.json().message).toBe('request signature refused: stale request timestamp');
  });

  it('never writes the secret to an answer, the log or the audit', async () => {
    await slack({ text: 'help' }, { secret: 'wrong' });
    await slack({ text: 'list' });
    const seen = JSON.stringify([c.logs, c.audit, c.live.current]);
    expect(seen).not.toContain(SECRET);
    expect(JSON.stringify(c.live.current.chatSecret)).toBe('"[redacted]"');
  });

  it('takes form bodies only, and small ones', async () => {
    const json = await c.app.inject({ method: 'POST', url: '/v1/chat/slack', payload: { text: 'help' } });
    expect(json.statusCode).toBe(415);
    expect(json.json().error).toBe('unsupported_media_type');
    const big = await slack({ text: `run slackPing node=x reason="${'x'.repeat(9000)}"` });
    expect(big.statusCode).toBe(413);
    expect(big.json().error).toBe('payload_too_large');
  });
});

describe('chat commands', () => {
  it('run: starts the workflow as the chat user, answers in the channel with its id', async () => {
    const node = unique('chat-node');
    const res = await slack({ text: `run slackPing node=${node} mode=fast reason="disk full on ${node}"` });
    expect(res.statusCode).toBe(200);
    const answer = res.json();
    expect(answer.response_type).toBe('in_channel');
    const id = /`(slackPing:key-[0-9a-f]{32})`/.exec(answer.text)?.[1];
    expect(id).toBeDefined();
    const d = await client.workflow.getHandle(id!).describe();
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.node)).toBe(node);
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.trigger)).toBe('slack:T0MEDIC/UOPS');
    expect(c.audit).toContainEqual(
      expect.objectContaining({
        decision: 'started',
        source: 'slack',
        identity: 'slack:T0MEDIC/UOPS',
        workflow: 'slackPing',
        workflow_id: id,
        reason: `slack: disk full on ${node}`,
      }),
    );
    const metrics = (await c.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/medic_coordinator_triggers_total\{workflow="slackPing",result="started",source="slack"\} [1-9]/);
  });

  it('run: the same slash-command invocation delivered twice starts once', async () => {
    const node = unique('chat-node');
    const triggerId = unique('1.2');
    const first = (await slack({ text: `run slackPing node=${node}`, triggerId })).json();
    const again = (await slack({ text: `run slackPing node=${node}`, triggerId })).json();
    expect(first.response_type).toBe('in_channel');
    expect(again.text).toMatch(/^Already started/);
  });

  it('run: shares the constraints of every other trigger source', async () => {
    const node = unique('chat-node');
    const first = (await slack({ text: `run slackGuarded node=${node}` })).json();
    if (first.response_type === 'ephemeral') {
      // A loaded machine may take longer than Slack's 3 s to decide: the answer then names the
      // execution the decision will start, and the test waits for that start before triggering again.
      const id = /^Still deciding `slackGuarded`; if admitted it runs as `([^`]+)`/.exec(first.text)?.[1];
      expect([first.text, id]).toEqual([first.text, expect.any(String)]);
      await eventually(
        () =>
          client.workflow
            .getHandle(id!)
            .describe()
            .catch(() => undefined),
        30_000,
        `${id} started`,
      );
    } else {
      expect(first.text).toMatch(/^Started `slackGuarded`/);
    }
    const refused = (await slack({ text: `run slackGuarded node=${node}` })).json();
    expect(refused.response_type).toBe('ephemeral');
    expect(refused.text).toMatch(/^Refused: `slackGuarded` .* by concurrency 1\/15m/);
    const dry = (await slack({ text: `run slackGuarded node=${unique('chat-node')} --dry-run` })).json();
    expect(dry.text).toMatch(/^Dry run: `slackGuarded` .* would start on `medic:node:/);
  });

  it('run: a user no allow rule names may not run anything; the denial is audited and counted', async () => {
    const node = unique('chat-node');
    const before = c.audit.length;
    const res = await slack({ text: `run slackPing node=${node}`, user: 'USTRANGER' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      response_type: 'ephemeral',
      text: '<@USTRANGER> may not run `slackPing`: no chat allow rule in coordinator.hcl lets you.',
    });
    const lines = c.audit.slice(before);
    expect(lines).toContainEqual(
      expect.objectContaining({
        decision: 'denied',
        source: 'slack',
        identity: 'slack:T0MEDIC/USTRANGER',
        workflow: 'slackPing',
      }),
    );
    expect(lines.some((e) => e.decision === 'started')).toBe(false);
    const metrics = (await c.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/medic_coordinator_triggers_total\{workflow="slackPing",result="denied",source="slack"\} [1-9]/);
  });

  it('run: an allowed user may run only the workflows their rule names', async () => {
    const res = (await slack({ text: `run slackForbidden node=${unique('chat-node')}` })).json();
    expect(res.text).toMatch(/may not run `slackForbidden`/);
    const reader = (await slack({ text: `run slackPing node=${unique('chat-node')}`, user: 'UREADER' })).json();
    expect(reader.text).toMatch(/may not run `slackPing`/);
  });

  it('run: usage errors and unknown workflows answer with what is wrong', async () => {
    expect((await slack({ text: 'run' })).json().text).toMatch(/^usage: `run &lt;workflow&gt;/);
    expect((await slack({ text: 'run slackPing node' })).json().text).toBe('expected key=value, got `node`');
    expect((await slack({ text: 'run slackPing' })).json().text).toMatch(/^Cannot run `slackPing`: .*node/);
    expect((await slack({ text: 'reboot everything' })).json().text).toBe('unknown command `reboot`; try `help`');
  });

  it('status: shows an execution to users an allow rule names', async () => {
    const node = unique('chat-node');
    const started = (await slack({ text: `run slackPing node=${node}` })).json();
    const id = /`(slackPing:key-[0-9a-f]{32})`/.exec(started.text)![1]!;
    const status = (await slack({ text: `status ${id}`, user: 'UREADER' })).json();
    expect(status.response_type).toBe('ephemeral');
    expect(status.text).toContain(`\`${id}\`: *RUNNING*`);
    expect(status.text).toContain(`node=${node}`);
    expect(status.text).toContain('by slack:T0MEDIC/UOPS');
    expect((await slack({ text: 'status slackPing:nope' })).json().text).toBe('No execution `slackPing:nope`.');
    expect((await slack({ text: `status ${id}`, user: 'USTRANGER' })).json().text).toBe(
      'No chat allow rule in coordinator.hcl names you.',
    );
  });

  it('list: shows recent executions', async () => {
    const node = unique('chat-node');
    const started = (await slack({ text: `run slackPing node=${node}` })).json();
    const id = /`(slackPing:key-[0-9a-f]{32})`/.exec(started.text)![1]!;
    const listed = await eventually(async () => {
      const text = (await slack({ text: 'list' })).json().text as string;
      return text.includes(id) ? text : undefined;
    }, 20_000);
    expect(listed).toMatch(/^Recent executions \(newest first\):/);
    expect(listed).toContain(`node=${node}`);
    expect((await slack({ text: 'list', user: 'USTRANGER' })).json().text).toBe(
      'No chat allow rule in coordinator.hcl names you.',
    );
  });

  it('help: an empty command is help too', async () => {
    expect((await slack({ text: '' })).json()).toEqual({ response_type: 'ephemeral', text: slackEscape(CHAT_HELP) });
  });
});

describe('answers within Slack’s 3 seconds', () => {
  it('answers with the execution id it will have when Temporal is slower than the budget', async () => {
    const stalled = {
      callTimeoutMs: 10_000,
      withDeadline: () => new Promise(() => undefined),
      visibility: () => new Promise(() => undefined),
      close: async () => undefined,
    } as unknown as TemporalGateway;
    const slow = await testCoordinator(WORKFLOWS, {
      config: { routeRules: RULES, chat: chatConfig(path.join(dir, 'slack-secret')) },
      temporal: stalled,
      deps: { chatAnswerWithinMs: 50 },
    });
    try {
      const res = await slack({ text: 'run slackPing node=n1' }, {}, slow.app);
      expect(res.statusCode).toBe(200);
      expect(res.json().text).toMatch(/^Still deciding `slackPing`; if admitted it runs as `slackPing:key-[0-9a-f]{32}`/);
      const status = await slack({ text: 'status slackPing:x' }, {}, slow.app);
      expect(status.json().text).toBe('Temporal is slow to answer; try again in a moment.');
    } finally {
      await slow.close();
    }
  });
});

describe('without a chat block', () => {
  it('answers 404 saying chat commands are not configured', async () => {
    const bare = await testCoordinator(WORKFLOWS, { config: { routeRules: RULES } });
    try {
      const res = await slack({ text: 'help' }, {}, bare.app);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({
        error: 'not_found',
        message: 'chat commands are not configured: coordinator.hcl has no chat { } block',
        details: {},
      });
    } finally {
      await bare.close();
    }
  });
});
