// Escalation ladders in workflow configs (`on_unhealed { }`), checked per file and across files,
// and the pure rules of a climb: depth, params, the idempotency key, what admission's answer means.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDiagnostic } from '../../src/config/diagnostics';
import { loadConfigDir } from '../../src/config/load';
import { readWorkflow } from '../../src/config/workflow';
import { climbAnswer, nextTarget } from '../../src/coordinator/ladder';
import { workflowConfig } from '../helpers/coordinator';
import { IDEMPOTENCY_KEY } from '../../src/coordinator/admission';
import { climbKey, depthOf, episodeMaxDepth, ladderLines, nextParams } from '../../workflows/shared/ladder';
import { jsonEvent, pagerdutyEvent, slackMessage, type PageRequest } from '../../activities/escalation';
import { outcomeWords } from '../../src/cli/run';
import { statusText } from '../../src/cli/queries';
import { colours } from '../../src/cli/output';
import { decode } from '../helpers/hcl';

const TYPES = new Set(['ping', 'restartService', 'rebootNode', 'cleanDisk', 'runbook']);

async function problems(files: Record<string, string>): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-ladder-'));
  try {
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    const { diagnostics } = await loadConfigDir(dir, { workflowTypes: TYPES });
    return diagnostics.map((d) => formatDiagnostic({ ...d, file: path.relative(dir, path.resolve(d.file)) }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const RESTART = `workflow = "restartService"
task_queue_target = "node"
param "unit" {
  type     = "unit"
  settable = true
  pattern  = "[a-z]+"
}
param "attempts" {
  type    = "int"
  default = "3"
}
`;
const REBOOT = `workflow = "rebootNode"
task_queue_target = "node"
param "settle" {
  type     = "duration"
  settable = true
  max      = "30m"
}
param "reason" {
  type     = "string"
  settable = true
  max      = 64
}
param "return_timeout" {
  type    = "duration"
  default = "15m"
}
`;

describe('on_unhealed in a workflow config', () => {
  it('reads start, params and max_depth (default 3)', async () => {
    const { value, errors } = await decode(
      `${RESTART}on_unhealed {\n  start = "reboot"\n  params = { reason = "{{params.unit}} on {{node}}" }\n}\n`,
      (d) => readWorkflow('restart', d),
    );
    expect(errors).toEqual([]);
    expect(value.onUnhealed).toEqual({ start: 'reboot', params: { reason: '{{params.unit}} on {{node}}' }, maxDepth: 3 });
  });

  it('refuses a max_depth outside 2..10, unknown keys and placeholders, and a second block', async () => {
    const read = (block: string) => decode(`${RESTART}${block}`, (d) => readWorkflow('restart', d));
    expect((await read('on_unhealed {\n  start = "reboot"\n  max_depth = 1\n}\n')).errors).toEqual([
      'on_unhealed.max_depth: must be between 2 (this run and one more) and 10, got 1',
    ]);
    expect((await read('on_unhealed {\n  start = "reboot"\n  max_depth = 11\n}\n')).errors).toEqual([
      'on_unhealed.max_depth: must be between 2 (this run and one more) and 10, got 11',
    ]);
    expect(
      (await read('on_unhealed {\n  start = "reboot"\n  params = { reason = "{{ $labels.x }}" }\n  then = "page"\n}\n')).errors,
    ).toEqual([
      'on_unhealed.params.reason: unknown placeholder {{$labels.x}} (known: {{node}}, {{datacenter}}, {{node_type}}, {{params.NAME}})',
      'on_unhealed.then: unknown key (known here: max_depth, params, start)',
    ]);
    expect((await read('on_unhealed {\n  max_depth = 2\n}\n')).errors).toEqual(['on_unhealed.start: is required']);
    expect((await read('on_unhealed {\n  start = "reboot"\n}\non_unhealed {\n  start = "x"\n}\n')).errors).toEqual([
      'on_unhealed: block may appear only once, found 2',
    ]);
  });

  it('checks across files: the workflow it starts, params that workflow lets callers set, values that fit, params of its own', async () => {
    const found = await problems({
      'workflows/restart.hcl': `${RESTART}on_unhealed {
  start  = "reboot"
  params = {
    settle         = "2h"
    reason         = "{{params.unit}} {{params.nope}}"
    return_timeout = "1m"
    color          = "red"
  }
}
`,
      'workflows/reboot.hcl': REBOOT,
      'workflows/typo.hcl': `${RESTART}on_unhealed {\n  start = "rebot"\n}\n`,
    });
    // The parser gives a map's keys sorted.
    expect(found).toEqual([
      'workflows/restart.hcl: on_unhealed.params.color: workflow "reboot" has no param "color"',
      'workflows/restart.hcl: on_unhealed.params.reason: {{params.nope}}: workflow "restart" has no param "nope"',
      'workflows/restart.hcl: on_unhealed.params.return_timeout: param "return_timeout" of "reboot" is not settable by callers',
      'workflows/restart.hcl: on_unhealed.params.settle: "2h" must be at most 1800000 ms (param "settle" of "reboot")',
      'workflows/typo.hcl: on_unhealed.start: workflow "rebot" has no config in workflows/',
    ]);
  });

  it('warns when the next workflow needs a target field this one does not', async () => {
    const found = await problems({
      'workflows/restart.hcl': `${RESTART}on_unhealed {\n  start = "reboot"\n}\n`,
      'workflows/reboot.hcl': REBOOT.replace('task_queue_target = "node"', 'task_queue_target = "general"'),
    });
    expect(found).toEqual([
      'workflows/restart.hcl: on_unhealed.start: warning: "reboot" (task_queue_target "general") needs target.datacenter, which runs of "restart" need not have: a run started without it pages instead of climbing',
    ]);
  });

  it('allows a cycle (bounded by max_depth)', async () => {
    expect(
      await problems({ 'workflows/restart.hcl': `${RESTART}on_unhealed {\n  start = "restart"\n  max_depth = 2\n}\n` }),
    ).toEqual([]);
  });
});

describe('the rules of a climb', () => {
  it('counts depth from the first run, and an episode keeps the lowest max_depth', () => {
    expect(depthOf(undefined)).toBe(1);
    const ladder = { episode: 'e', maxDepth: 3, steps: [{ workflow: 'a', outcome: 'escalated', summary: 's' }] };
    expect(depthOf(ladder)).toBe(2);
    expect(episodeMaxDepth(undefined, 4)).toBe(4);
    expect(episodeMaxDepth(ladder, 5)).toBe(3);
    expect(episodeMaxDepth(ladder, 2)).toBe(2);
  });

  it('maps params from the run as plain text, and refuses a placeholder without a value', () => {
    const from = { target: { node: 'n1', datacenter: 'dc1' }, params: { unit: 'nginx' } };
    expect(nextParams({ reason: '{{params.unit}} on {{node}}', settle: '1m' }, from)).toEqual({
      reason: 'nginx on n1',
      settle: '1m',
    });
    expect(() => nextParams({ x: '{{node_type}}' }, from)).toThrow('placeholder {{node_type}} has no value in this run');
  });

  it('keys a climb by the escalated run, as an idempotency key admission accepts', () => {
    const key = climbKey('01a24d3b-02fa-7d74-a8b0-460f266fca78');
    expect(key).toBe('ladder-01a24d3b-02fa-7d74-a8b0-460f266fca78');
    expect(IDEMPOTENCY_KEY.test(key)).toBe(true);
  });

  it('reads admission: a start or a duplicate hands over; a refusal, an invalid request, shadow mode and a failed ledger page; Temporal trouble retries', () => {
    expect(climbAnswer({ result: 'duplicate', workflowId: 'w', runId: 'r', taskQueue: 'q' })).toEqual({
      result: 'started',
      workflowId: 'w',
      runId: 'r',
    });
    expect(
      climbAnswer({
        result: 'refused',
        dryRun: false,
        refusal: {
          constraint: { kind: 'maxExecution', description: 'maxExecution 1/1h per target' },
          count: 1,
          retryAfterSeconds: 60,
        },
      }),
    ).toEqual({ result: 'refused', message: 'maxExecution 1/1h per target: 1 counted, may pass in 60s', code: 'maxExecution' });
    expect(
      climbAnswer({ result: 'invalid', code: 'invalid_request', message: 'target.datacenter missing', details: {} }),
    ).toEqual({ result: 'refused', message: 'target.datacenter missing', code: 'invalid_request' });
    expect(climbAnswer({ result: 'shadow', workflowId: 'w', taskQueue: 'q', wouldStart: {} })).toMatchObject({
      result: 'refused',
      code: 'shadow',
    });
    expect(() =>
      climbAnswer({ result: 'error', code: 'temporal_unavailable', message: 'down', details: { started: false } }),
    ).toThrow('down');
  });

  it("gives the next step the run's target, without a node a workflow of another queue does not use", () => {
    const target = { node: 'n1', datacenter: 'dc1' };
    expect(nextTarget(workflowConfig('r', { workflowType: 'runbook', taskQueueTarget: 'node' }), target)).toEqual(target);
    expect(nextTarget(workflowConfig('r', { workflowType: 'runbook', taskQueueTarget: 'general' }), target)).toEqual({
      datacenter: 'dc1',
    });
    // rebootNode uses the node whatever its queue.
    expect(nextTarget(workflowConfig('r', { workflowType: 'rebootNode', taskQueueTarget: 'general' }), target)).toEqual(target);
  });

  it('medic run --wait says a run that handed over went to the next step, not to a human', () => {
    const ended = (failure: string) => outcomeWords({ status: 'FAILED', outcome: 'escalated', failure });
    expect(ended('restart: nginx still down [escalated: handed over to rebootNode (rebootNode:key-ab12)]')).toBe(
      'escalated to the next step of its ladder, rebootNode (rebootNode:key-ab12): restart: nginx still down',
    );
    expect(ended('restart: nginx still down [escalated: notified]')).toBe('escalated to a human: restart: nginx still down');
  });

  it('medic status shows the episode and its steps', () => {
    const plain = colours({ isTTY: false } as unknown as NodeJS.WritableStream);
    const text = statusText(
      {
        workflow_id: 'rebootNode:key-ab12',
        run_id: 'r2',
        workflow: 'rebootNode',
        status: 'RUNNING',
        ladder: {
          episode: 'restartService:1',
          steps: [
            { workflow: 'restartService', workflowId: 'restartService:1', outcome: 'escalated', summary: 'nginx still down' },
          ],
        },
      },
      plain,
    );
    expect(text.split('\n').slice(-5)).toEqual([
      'ladder       restartService:1',
      '',
      '#  WORKFLOW        ID                OUTCOME    SUMMARY',
      '1  restartService  restartService:1  escalated  nginx still down',
      '',
    ]);
  });

  it('lists a ladder one line per step', () => {
    expect(
      ladderLines([
        { workflow: 'restart', workflowId: 'restart:1', outcome: 'escalated', summary: 'still down' },
        { workflow: 'reboot', outcome: 'refused', summary: 'budget' },
      ]),
    ).toEqual(['1. restart (restart:1): escalated: still down', '2. reboot: refused: budget']);
  });
});

describe('the page of a ladder', () => {
  const ladder = [
    { workflow: 'restart', workflowId: 'restart:1', runId: 'r1', outcome: 'escalated', summary: 'nginx still down' },
    { workflow: 'reboot', outcome: 'refused', summary: 'budget "dc" allows 1' },
  ];
  const req: PageRequest = {
    action: 'trigger',
    dedupKey: 'medic/restart/n1',
    summary: 'nginx still down; ladder: next step reboot refused: budget "dc" allows 1',
    outcome: 'escalated',
    workflow: 'restart',
    workflowId: 'restart:1',
    runId: 'r1',
    target: { node: 'n1' },
    tried: ['fix: exit 1'],
    ladder,
  };

  it('lists every step: PagerDuty custom_details.ladder, Slack text, json ladder', () => {
    const details = (pagerdutyEvent(req, 'KEY').payload as { custom_details: Record<string, unknown> }).custom_details;
    expect(details.ladder).toEqual(ladder);
    expect((slackMessage(req).text as string).split('\n').slice(3, 6)).toEqual([
      '*escalation ladder:*',
      '1. restart (restart:1): escalated: nginx still down',
      '2. reboot: refused: budget "dc" allows 1',
    ]);
    expect(jsonEvent(req).ladder).toEqual(ladder);
  });

  it('says nothing of a ladder when the run is none', () => {
    const bare = { ...req, ladder: undefined };
    expect('ladder' in (pagerdutyEvent(bare, 'KEY').payload as { custom_details: object }).custom_details).toBe(false);
    expect(slackMessage(bare).text).not.toContain('ladder:*');
    expect('ladder' in jsonEvent(bare)).toBe(false);
  });
});
