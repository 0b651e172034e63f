// Diagnostics in pages (patch medic-diagnose-v1): an escalating run runs its `diagnose` steps on
// its machine and the page carries what they saw, capped at 8 KiB each and masked. Real dev
// server, real medic worker (real commands), capture servers standing in for PagerDuty, the
// service and Prometheus. Its histories are recorded for the replay test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import type { DiagnoseStep, RunbookStep, WorkflowInput } from '../../workflows/shared/input';
import { startCaptureServer, vector, type CaptureServer } from '../helpers/capture-server';
import { recordHistory } from '../helpers/histories';
import { startTestWorker, tempDir, type TestWorker } from '../helpers/medic-worker';
import { connectClient, unique } from '../helpers/temporal';

const SECRET = 'diag-secret-4711';

interface PagerDutyEvent {
  event_action: string;
  dedup_key: string;
  payload: { summary: string; custom_details: { diagnostics?: Record<string, string>; tried: string[] } };
}

describe('diagnostics in pages', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let server: CaptureServer;
  let worker: TestWorker;
  let dir: string;

  const events = () => server.posted<PagerDutyEvent>('/v2/enqueue').filter((e) => e.event_action === 'trigger');
  const failing: RunbookStep = { name: 'fix', kind: 'command', command: '/usr/bin/false', args: [] };
  const diagnose: DiagnoseStep[] = [
    { name: 'token', kind: 'command', command: '/usr/bin/printf', args: ['token=%s\\n', '{{params.token}}'] },
    { name: 'many-lines', kind: 'command', command: '/usr/bin/seq', args: ['1', '5000'] },
    { name: 'not-allowed', kind: 'command', command: '/usr/bin/id', args: [] },
    { name: 'status', kind: 'http_check', url: 'http://127.0.0.1:{{params.port}}/status' },
    { name: 'load', kind: 'prometheus_check', query: 'node_load1{instance="{{node}}"}' },
  ];

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    server = await startCaptureServer((req) => {
      if (req.path.startsWith('/api/v1/query')) return { status: 200, body: vector([{ instance: 'n1' }], '4') };
      if (req.path === '/status') return { status: 503, body: `db down; token ${SECRET}` };
      return { status: 202, body: { status: 'success' } };
    });
    dir = tempDir('diagnose');
    const keyFile = path.join(dir, 'routing-key');
    fs.writeFileSync(keyFile, 'R0UT1NGKEY\n');
    worker = await startTestWorker({
      settings: {
        allowedCommands: ['/usr/bin/false', '/usr/bin/true', '/usr/bin/printf', '/usr/bin/seq'],
        maxOutputBytes: 65_536,
        prometheus: { address: server.url, timeoutMs: 5000 },
        escalation: {
          url: `${server.url}/v2/enqueue`,
          format: 'pagerduty',
          routingKeyFile: keyFile,
          headers: {},
          timeoutMs: 5000,
        },
      },
    });
  });
  beforeEach(() => {
    server.requests.length = 0;
  });
  afterAll(async () => {
    await worker?.stop();
    await Promise.all([server?.close(), closeClient()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function start(input: Partial<WorkflowInput>, timeout?: '5m'): Promise<WorkflowHandleWithFirstExecutionRunId> {
    return client.workflow.start('runbook', {
      taskQueue: generalQueue(worker.datacenter),
      workflowId: unique('diagnose'),
      args: [
        {
          workflow: 'serviceDown',
          target: { node: worker.node, datacenter: worker.datacenter },
          params: { token: SECRET, port: new URL(server.url).port },
          paramSchema: {
            token: { type: 'string', settable: false, secret: true, list: false },
            port: { type: 'int', settable: false, secret: false, list: false },
          },
          steps: [failing],
          diagnose,
          activityQueue: nodeQueue(worker.node),
          ...input,
        },
      ],
      ...(timeout && { workflowExecutionTimeout: timeout }),
    });
  }

  it('an escalation pages what each diagnose step saw: capped at 8 KiB, secrets masked, refusals explained', async () => {
    const handle = await start({});
    await expect(handle.result()).rejects.toThrow();
    const [event, ...more] = events();
    expect(more).toEqual([]);
    const d = event!.payload.custom_details.diagnostics!;
    expect(Object.keys(d)).toEqual(['token', 'many-lines', 'not-allowed', 'status', 'load']);
    expect(d.token).toBe('token=********\n(exit 0)');
    expect(Buffer.byteLength(d['many-lines']!)).toBeLessThanOrEqual(8192);
    expect(d['many-lines']).toMatch(/^\[23901 bytes, the first ones cut\]\n/);
    expect(d['many-lines']!.endsWith('\n4999\n5000\n(exit 0)')).toBe(true);
    expect(d['not-allowed']).toBe('not run: /usr/bin/id is not in worker.hcl allowed_commands');
    expect(d.status).toBe('HTTP 503\ndb down; token ********');
    expect(d.load).toBe('1 series\n{instance="n1"} 4');
    expect(JSON.stringify(server.requests.map((r) => r.body))).not.toContain(SECRET);
    // The diagnostics ran on the node's queue, each once.
    const scheduled = ((await handle.fetchHistory()).events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'diagnose',
    );
    expect(scheduled.map((e) => e.activityTaskScheduledEventAttributes?.taskQueue?.name)).toEqual(
      Array(5).fill(nodeQueue(worker.node)),
    );
    await recordHistory('runbook-diagnosed', handle);
  });

  it('a run that heals runs no diagnostics', async () => {
    const handle = await start({ steps: [{ name: 'fix', kind: 'command', command: '/usr/bin/true', args: [] }] });
    await expect(handle.result()).resolves.toMatchObject({ outcome: 'healed' });
    const names = ((await handle.fetchHistory()).events ?? []).map(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name,
    );
    expect(names.filter((n) => n === 'diagnose')).toEqual([]);
    expect(events()).toEqual([]);
    await recordHistory('runbook-diagnose-healed', handle);
  });

  it('at its own timeout, with the node gone, diagnostics give up within the time left and the page still goes out in time', async () => {
    const gone = unique('gone');
    const handle = await start(
      {
        target: { node: gone, datacenter: worker.datacenter },
        activityQueue: nodeQueue(gone),
        steps: [{ name: 'hang', kind: 'command', command: '/usr/bin/sleep', args: ['300'] }],
        timeoutMs: 8_000,
      },
      '5m',
    );
    const err = await handle.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause?.message).toMatch(/^serviceDown: did not finish within its timeout of 8s/);
    const desc = await handle.describe();
    expect(desc.closeTime!.getTime() - desc.startTime.getTime()).toBeLessThan(8_000);
    const [event] = events();
    const d = event!.payload.custom_details.diagnostics!;
    expect(Object.keys(d)).toEqual(['token', 'many-lines', 'not-allowed', 'status', 'load']);
    for (const output of Object.values(d))
      expect(output).toMatch(/^not run: activity (ScheduleToStart|ScheduleToClose) timeout$/);
    await recordHistory('runbook-diagnose-own-timeout', handle);
  });
});
