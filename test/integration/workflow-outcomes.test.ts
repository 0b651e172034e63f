// Every run ends in one of four outcomes, visibly (result, MedicOutcome, progress), and pages
// through the central escalation sink with exact PagerDuty v2 / Slack / JSON payloads: against
// the real dev server, a real medic worker and a capture server standing in for PagerDuty.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { EscalationConfig } from '../../src/config/worker';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import type { RunbookStep, WorkflowInput } from '../../workflows/shared/input';
import type { Progress } from '../../workflows/progress';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { startTestWorker, tempDir, type TestWorker } from '../helpers/medic-worker';
import { connectClient, eventually, unique } from '../helpers/temporal';

describe('workflow outcomes and escalation', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let sink: CaptureServer;
  let health: CaptureServer;
  let healthy = false;
  let worker: TestWorker | undefined;
  let dir: string;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    sink = await startCaptureServer(() => ({ status: 202, body: { status: 'success' } }));
    health = await startCaptureServer(() => (healthy ? { status: 200, body: 'ok' } : { status: 503, body: 'down' }));
    dir = tempDir('outcomes');
  });
  beforeEach(() => {
    sink.requests.length = 0;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(async () => {
    await Promise.all([sink.close(), health.close(), closeClient()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startWorker(escalation: Partial<EscalationConfig> = {}): Promise<TestWorker> {
    const keyFile = path.join(dir, 'routing-key');
    fs.writeFileSync(keyFile, 'R0UT1NGKEY\n');
    worker = await startTestWorker({
      settings: {
        allowedCommands: ['/usr/bin/true', '/usr/bin/false'],
        escalation: {
          url: `${sink.url}/v2/enqueue`,
          format: 'pagerduty',
          routingKeyFile: keyFile,
          headers: {},
          timeoutMs: 5000,
          ...escalation,
        },
      },
    });
    return worker;
  }

  const step = (s: Partial<RunbookStep> & { name: string }): RunbookStep =>
    ({ kind: 'http_check', url: `${health.url}/health`, ...s }) as RunbookStep;

  function run(w: TestWorker, steps: RunbookStep[], extra: Partial<WorkflowInput> = {}): Promise<WorkflowHandle> {
    const input: WorkflowInput = {
      workflow: 'healIt',
      target: { node: w.node, datacenter: w.datacenter },
      params: {},
      steps,
      activityQueue: nodeQueue(w.node),
      ...extra,
    };
    return client.workflow.start('runbook', {
      taskQueue: generalQueue(w.datacenter),
      workflowId: unique('outcome'),
      args: [input],
      workflowExecutionTimeout: '2m',
    });
  }

  async function outcomeOf(handle: WorkflowHandle): Promise<string | undefined> {
    const d = await handle.describe();
    return d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.outcome);
  }

  async function failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    return cause as ApplicationFailure;
  }

  it('ends "nothing to heal" when a precondition does not hold, and pages no one', async () => {
    const w = await startWorker();
    healthy = true;
    const handle = await run(w, [
      step({ name: 'see-it-failing', expectStatus: 503, precondition: true }),
      step({ name: 'fix', kind: 'command', command: '/usr/bin/true', args: [] } as Partial<RunbookStep> & { name: string }),
    ]);
    const result = await handle.result();
    expect(result).toMatchObject({
      outcome: 'nothing_to_heal',
      summary: expect.stringMatching(/^nothing to heal: precondition "see-it-failing"/),
    });
    expect(await outcomeOf(handle)).toBe('nothing_to_heal');
    expect((await handle.query<Progress>('progress')).status).toBe('nothing_to_heal');
    // The only call the sink may see is a resolve (no incident is opened for nothing).
    expect(sink.requests.filter((r) => (r.json as { event_action?: string }).event_action === 'trigger')).toEqual([]);
  });

  it('escalates with an exact PagerDuty Events v2 trigger, then resolves it with the same dedup_key when a later run heals', async () => {
    const w = await startWorker();
    healthy = false;
    const failing = await run(w, [step({ name: 'service-answers' })]);
    const failure = await failureOf(failing);
    expect(failure.type).toBe('Escalated');
    expect(await outcomeOf(failing)).toBe('escalated');
    const dedupKey = `medic/healIt/${w.node}`;
    const trigger = await eventually(async () => sink.requests.find((r) => r.path === '/v2/enqueue'));
    expect(trigger.headers['content-type']).toBe('application/json');
    expect(trigger.json).toEqual({
      routing_key: 'R0UT1NGKEY',
      event_action: 'trigger',
      dedup_key: dedupKey,
      payload: {
        summary: expect.stringContaining('step "service-answers" failed after 1 attempt: '),
        source: w.node,
        severity: 'critical',
        component: 'healIt',
        group: w.datacenter,
        class: 'escalated',
        custom_details: {
          workflow_id: failing.workflowId,
          run_id: expect.any(String),
          target: { node: w.node, datacenter: w.datacenter },
          tried: expect.arrayContaining([expect.stringContaining('service-answers')]),
        },
      },
      client: 'medic',
    });

    sink.requests.length = 0;
    healthy = true;
    const healing = await run(w, [step({ name: 'service-answers' })]);
    await expect(healing.result()).resolves.toMatchObject({ outcome: 'healed' });
    expect(await outcomeOf(healing)).toBe('healed');
    const resolve = await eventually(async () => sink.requests.find((r) => r.path === '/v2/enqueue'));
    expect(resolve.json).toEqual({ routing_key: 'R0UT1NGKEY', event_action: 'resolve', dedup_key: dedupKey });
  });

  it('posts a Slack incoming-webhook message, and medic JSON, to the configured sink', async () => {
    let w = await startWorker({ format: 'slack', url: `${sink.url}/services/T000/B000/XXX`, routingKeyFile: undefined });
    healthy = false;
    await failureOf(await run(w, [step({ name: 'service-answers' })]));
    const slack = await eventually(async () => sink.requests.find((r) => r.path === '/services/T000/B000/XXX'));
    expect(Object.keys(slack.json as object)).toEqual(['text']);
    expect((slack.json as { text: string }).text).toMatch(/^:rotating_light: \*medic escalated\*: healIt on /);
    await worker!.stop();

    sink.requests.length = 0;
    w = await startWorker({ format: 'json', url: `${sink.url}/medic`, routingKeyFile: undefined });
    await failureOf(await run(w, [step({ name: 'service-answers' })]));
    const json = await eventually(async () => sink.requests.find((r) => r.path === '/medic'));
    expect(json.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: `medic/healIt/${w.node}`,
      outcome: 'escalated',
      workflow: 'healIt',
      target: { node: w.node, datacenter: w.datacenter },
    });
  });

  it('escalates "node unreachable" within the bound when no worker polls the node queue', async () => {
    const w = await startWorker();
    const ghost = unique('ghost');
    const handle = await run(w, [step({ name: 'service-answers' })], {
      target: { node: ghost, datacenter: w.datacenter },
      activityQueue: nodeQueue(ghost),
      params: { node_wait: '2s' },
    });
    const failure = await failureOf(handle);
    expect(failure.type).toBe('Escalated');
    expect(failure.message).toContain('node unreachable');
    expect(await outcomeOf(handle)).toBe('escalated');
    const page = await eventually(async () => sink.requests.find((r) => r.path === '/v2/enqueue'));
    expect((page.json as { dedup_key: string }).dedup_key).toBe(`medic/healIt/${ghost}`);
  });

  it('turns an unhandled failure (a bug, bad input) into "failed", escalated with what was tried', async () => {
    const w = await startWorker();
    const handle = await run(w, []);
    const failure = await failureOf(handle);
    expect(failure.type).toBe('FailedAndEscalated');
    expect(failure.message).toContain('has no steps');
    expect(await outcomeOf(handle)).toBe('failed');
    const page = await eventually(async () => sink.requests.find((r) => r.path === '/v2/enqueue'));
    expect(page.json).toMatchObject({ event_action: 'trigger', payload: { severity: 'error', class: 'failed' } });
  });
});
