// POST /v1/alertmanager over app.inject against the run's real Temporal dev server: firing
// alerts become the triggers their configured route names (target from labels, only mapped
// settable params), repeats of one episode are duplicates, resolved and unrouted alerts start
// nothing whatever their labels say, the ACL decides on the workflow an alert leads to,
// constraint refusals answer 200 with the refusal in the body, the audit log and the metrics;
// malformed payloads are 400.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import { alertEpisodeKey } from '../../src/coordinator/alertmanager-payload';
import { idempotentExecutionId } from '../../src/coordinator/admission';
import { ALERTMANAGER_BODY_LIMIT } from '../../src/coordinator/routes/alertmanager';
import type { RouteRule } from '../../src/config/coordinator';
import { DEFAULT_ALERTMANAGER } from '../../src/config/callers';
import { STRANGER, constraint, testCoordinator, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { connectClient, unique } from '../helpers/temporal';

const ALERTMANAGER = 'spiffe://medic.test/alertmanager';
const RULES: RouteRule[] = [
  {
    name: 'alertmanager',
    method: 'POST',
    // Alertmanager may start amPing and amGuarded (and ask for a workflow that does not exist), not amReboot.
    routePatterns: [
      '/v1/alertmanager',
      '/v1/workflows/amPing/executions',
      '/v1/workflows/amGuarded/executions',
      '/v1/workflows/noSuchWorkflow/executions',
    ],
    uris: [ALERTMANAGER],
    allowPublic: false,
    skipLogMatch: false,
  },
  { name: 'public', method: 'GET', routePatterns: ['/metrics'], uris: [], allowPublic: true, skipLogMatch: true },
];

let c: TestCoordinator;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  c = await testCoordinator(
    [
      workflowConfig('amPing', {
        params: { mode: 'config', older_than: '7d' },
        paramSchema: {
          mode: { type: 'enum', values: ['config', 'alert'], default: 'config', settable: true, secret: false, list: false },
          mountpoint: { type: 'path', prefixes: ['/'], settable: true, secret: false, list: false },
          older_than: { type: 'duration', default: '7d', settable: false, secret: false, list: false },
        },
      }),
      workflowConfig('amGuarded', { constraints: [constraint('concurrency', 1, 15 * 60_000)] }),
      workflowConfig('amReboot'),
    ],
    {
      config: {
        routeRules: RULES,
        alertmanager: {
          ...DEFAULT_ALERTMANAGER,
          routes: [
            {
              alertname: 'DiskFull',
              matchers: {},
              workflow: 'amPing',
              params: { mountpoint: { from: 'labels', key: 'mountpoint' }, mode: { from: 'annotations', key: 'mode' } },
            },
            { alertname: 'Guarded', matchers: {}, workflow: 'amGuarded', params: {} },
            { alertname: 'Ghost', matchers: {}, workflow: 'noSuchWorkflow', params: {} },
            { alertname: 'NodeWedged', matchers: { severity: 'page' }, workflow: 'amReboot', params: {} },
          ],
        },
      },
    },
  );
  ({ client, close: closeClient } = await connectClient());
});

afterAll(async () => {
  await c.close();
  await closeClient();
});

interface Alert {
  status?: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  fingerprint?: string;
}

function payload(alerts: Alert[]): Record<string, unknown> {
  return {
    version: '4',
    groupKey: '{}:{alertname="DiskFull"}',
    truncatedAlerts: 0,
    status: alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved',
    receiver: 'medic',
    groupLabels: { alertname: 'DiskFull' },
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: a.startsAt ?? '2024-10-09T10:00:00.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph',
      fingerprint: a.fingerprint ?? unique('fp'),
    })),
  };
}

function post(body: unknown, identity: string | null = ALERTMANAGER) {
  return c.app.inject({
    method: 'POST',
    url: '/v1/alertmanager',
    headers: identity ? { 'x-test-identity': identity } : {},
    payload: body as object,
  });
}

async function metrics(): Promise<string> {
  return (await c.app.inject({ url: '/metrics' })).body;
}

describe('POST /v1/alertmanager', () => {
  it('starts the workflow its route names, with target from labels, only the mapped params, reason from the summary', async () => {
    const node = unique('am-node');
    const fingerprint = unique('fp');
    const res = await post(
      payload([
        {
          fingerprint,
          labels: {
            alertname: 'DiskFull',
            // Labels cannot choose the workflow or set unmapped params.
            medic_workflow: 'amReboot',
            medic_param_older_than: '0s',
            older_than: '0s',
            instance: `${node}:9100`,
            datacenter: 'dc9',
            mountpoint: '/var',
          },
          annotations: { summary: 'disk almost full', mode: 'alert' },
        },
      ]),
    );
    expect(res.statusCode).toBe(200);
    const [result] = res.json().results;
    expect(result).toMatchObject({ fingerprint, alertname: 'DiskFull', result: 'started', workflow: 'amPing' });
    expect(result.workflow_id).toBe(
      idempotentExecutionId('amPing', ALERTMANAGER, 'alertmanager', alertEpisodeKey(fingerprint, '2024-10-09T10:00:00.000Z')),
    );
    expect(result.task_queue).toBe(`medic:node:${node}`);

    const handle = client.workflow.getHandle(result.workflow_id);
    const d = await handle.describe();
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.node)).toBe(node);
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.trigger)).toBe(ALERTMANAGER);
    const history = await handle.fetchHistory();
    const input = defaultPayloadConverter.fromPayload(
      history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!,
    );
    expect(input).toMatchObject({
      workflow: 'amPing',
      target: { node, datacenter: 'dc9' },
      params: { mode: 'alert', mountpoint: '/var', older_than: '7d' },
      reason: 'alertmanager: disk almost full',
      trigger: ALERTMANAGER,
    });
    expect(c.audit).toContainEqual(
      expect.objectContaining({ decision: 'started', source: 'alertmanager', identity: ALERTMANAGER, workflow: 'amPing' }),
    );
    expect(await metrics()).toMatch(
      /medic_coordinator_triggers_total\{workflow="amPing",result="started",source="alertmanager"\} [1-9]/,
    );
  });

  it('answers a repeat notification of the same episode with the first execution, and a new episode starts a new one', async () => {
    const node = unique('am-node');
    const alert = { fingerprint: unique('fp'), labels: { alertname: 'DiskFull', node } };
    const first = (await post(payload([alert]))).json().results[0];
    expect(first.result).toBe('started');
    for (let i = 0; i < 3; i++) {
      const again = (await post(payload([alert]))).json().results[0];
      expect(again).toMatchObject({ result: 'duplicate', workflow_id: first.workflow_id, run_id: first.run_id });
    }
    const next = (await post(payload([{ ...alert, startsAt: '2024-10-09T11:00:00.000Z' }]))).json().results[0];
    expect(next.result).toBe('started');
    expect(next.workflow_id).not.toBe(first.workflow_id);
    // The first execution still has its one run: the repeats did not start another.
    expect((await client.workflow.getHandle(first.workflow_id).describe()).runId).toBe(first.run_id);
  });

  it('starts nothing for resolved alerts and alerts no route matches, whatever their labels name', async () => {
    const node = unique('am-node');
    const before = c.audit.length;
    const res = await post(
      payload([
        { status: 'resolved', labels: { alertname: 'DiskFull', node } },
        { labels: { alertname: 'JustPage', medic_workflow: 'amPing', node } },
        { labels: { alertname: 'NodeWedged', node } },
      ]),
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().results.map((r: { result: string; message: string }) => [r.result, r.message])).toEqual([
      ['skipped', 'resolved: nothing to start'],
      ['skipped', 'no alertmanager route matches this alert'],
      ['skipped', 'no alertmanager route matches this alert'],
    ]);
    expect(c.audit.slice(before).filter((e) => e.decision === 'started')).toEqual([]);
    expect(await metrics()).toMatch(/medic_coordinator_alertmanager_alerts_total\{result="skipped_resolved"\} [1-9]/);
  });

  it('answers 200 when constraints refuse some alerts, with the refusal in the body, the audit log and the metrics', async () => {
    const node = unique('am-node');
    const res = await post(
      payload([
        { labels: { alertname: 'Guarded', node, instance: 'a' } },
        { labels: { alertname: 'Guarded', node, instance: 'b' } },
        { labels: { alertname: 'Ghost', node } },
        { labels: { alertname: 'DiskFull' } },
      ]),
    );
    expect(res.statusCode).toBe(200);
    const results = res.json().results as Array<Record<string, unknown>>;
    const guarded = results.slice(0, 2).map((r) => r.result);
    expect(guarded.sort()).toEqual(['refused', 'started']);
    const refused = results.find((r) => r.result === 'refused')!;
    expect(refused.constraint).toMatchObject({ kind: 'concurrency', value: 1 });
    expect(refused.count).toBe(1);
    expect(refused.retry_after_seconds).toBeGreaterThan(0);
    expect(results[2]).toMatchObject({ result: 'invalid', message: 'no workflow named "noSuchWorkflow"' });
    expect(results[3]).toMatchObject({ result: 'invalid', workflow: 'amPing' });
    expect(String(results[3]!.message)).toMatch(/target\.node/);
    expect(c.audit).toContainEqual(
      expect.objectContaining({ decision: 'refused', source: 'alertmanager', workflow: 'amGuarded', count: 1 }),
    );
    const m = await metrics();
    expect(m).toMatch(/medic_coordinator_triggers_total\{workflow="amGuarded",result="refused",source="alertmanager"\} [1-9]/);
    expect(m).toMatch(
      /medic_coordinator_constraint_refusals_total\{workflow="amGuarded",kind="concurrency",scope="target"\} [1-9]/,
    );
  });

  it('checks the ACL on the workflow an alert leads to: a route to a workflow the caller may not start is denied', async () => {
    const node = unique('am-node');
    const before = c.audit.length;
    const res = await post(payload([{ labels: { alertname: 'NodeWedged', severity: 'page', node } }]));
    expect(res.statusCode).toBe(200);
    expect(res.json().results[0]).toMatchObject({
      result: 'denied',
      workflow: 'amReboot',
      message: expect.stringMatching(/^forbidden/),
    });
    const lines = c.audit.slice(before);
    expect(lines).toContainEqual(expect.objectContaining({ decision: 'denied', source: 'alertmanager', workflow: 'amReboot' }));
    expect(lines.some((e) => e.decision === 'started')).toBe(false);
  });

  it('refuses a mapped label whose value the param schema refuses, naming the param, and starts nothing', async () => {
    const node = unique('am-node');
    const before = c.audit.length;
    const res = await post(payload([{ labels: { alertname: 'DiskFull', node, mountpoint: '/var/../etc' } }]));
    expect(res.json().results[0]).toMatchObject({ result: 'invalid', message: expect.stringContaining('params.mountpoint') });
    expect(c.audit.slice(before).some((e) => e.decision === 'started')).toBe(false);
  });

  it('takes a large alert group (over 1 MiB) rather than answering 413, which Alertmanager would not retry', async () => {
    const alerts = Array.from({ length: 300 }, (_, i) => ({
      status: 'resolved' as const,
      labels: { alertname: 'DiskFull', node: `big-${i}`, description: 'x'.repeat(4000) },
    }));
    const body = payload(alerts);
    expect(JSON.stringify(body).length).toBeGreaterThan(1024 * 1024);
    const res = await post(body);
    expect(res.statusCode).toBe(200);
    expect(res.json().results).toHaveLength(300);
  });

  it('refuses a body over the 4 MiB limit with 413', async () => {
    const res = await c.app.inject({
      method: 'POST',
      url: '/v1/alertmanager',
      headers: { 'x-test-identity': ALERTMANAGER, 'content-type': 'application/json' },
      payload: JSON.stringify({ ...payload([]), padding: 'x'.repeat(ALERTMANAGER_BODY_LIMIT) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toBe('payload_too_large');
  });

  it.each([
    ['another payload version', { ...payload([]), version: '3' }, 'version'],
    ['no alerts list', { version: '4', status: 'firing' }, 'alerts'],
    [
      'an alert without a fingerprint',
      { version: '4', status: 'firing', alerts: [{ status: 'firing', labels: {}, startsAt: 'x' }] },
      'alerts/0',
    ],
    [
      'a label that is not a string',
      { version: '4', status: 'firing', alerts: [{ status: 'firing', labels: { a: 1 }, startsAt: 'x', fingerprint: 'f' }] },
      'alerts/0/labels',
    ],
  ])('refuses a malformed payload (%s) with 400', async (_what, body, field) => {
    const res = await post(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
    expect(JSON.stringify(res.json().details)).toContain(field.split('/')[0]);
  });

  it('refuses a body that is not JSON with 400', async () => {
    const res = await c.app.inject({
      method: 'POST',
      url: '/v1/alertmanager',
      headers: { 'x-test-identity': ALERTMANAGER, 'content-type': 'application/json' },
      payload: '{"version": "4",',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('is behind the ACL: a caller no rule admits gets 403 and starts nothing', async () => {
    const node = unique('am-node');
    const res = await post(payload([{ labels: { medic_workflow: 'amPing', node } }]), STRANGER);
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toBe('forbidden');
    const none = await post(payload([{ labels: { medic_workflow: 'amPing', node } }]), null);
    expect(none.statusCode).toBe(403);
  });
});

describe('POST /v1/alertmanager with a group of 2,000 alerts', () => {
  /** What each alert of the group is, by its index: every kind of answer, in a fixed pattern. */
  const KINDS = ['resolved', 'unrouted', 'denied', 'invalid', 'guarded', 'start', 'start', 'start', 'start', 'start'] as const;
  const GROUP = 2000;

  it('answers every alert of a group over 3.3 MB in order: 1,001 starts, 199 constraint refusals, the denied, invalid and skipped ones', async () => {
    const rack = unique('am-rack');
    // One node for every Guarded alert: its concurrency constraint (1 per target) lets exactly one start.
    const guardedNode = unique('am-guarded');
    const alerts = Array.from({ length: GROUP }, (_, i) => {
      const kind = KINDS[i % KINDS.length]!;
      const node = kind === 'guarded' ? guardedNode : `${rack}-${i}`;
      const labels: Record<string, string> = {
        resolved: { alertname: 'DiskFull', node },
        unrouted: { alertname: 'FanSpeed', node },
        denied: { alertname: 'NodeWedged', severity: 'page', node },
        invalid: { alertname: 'DiskFull' },
        guarded: { alertname: 'Guarded', node, instance: `i-${i}` },
        start: { alertname: 'DiskFull', node, mountpoint: '/var' },
      }[kind];
      // Annotations the size Prometheus rules give them: the group comes to about 3.4 MB, as in the issue.
      const annotations = { summary: `alert ${i} of ${rack}`, description: 'x'.repeat(1500) };
      return {
        kind,
        node,
        status: kind === 'resolved' ? ('resolved' as const) : undefined,
        labels,
        annotations,
        fingerprint: `${rack}-fp-${i}`,
      };
    });
    const body = payload(alerts);
    const size = Buffer.byteLength(JSON.stringify(body));
    expect(size).toBeGreaterThan(3.3e6);
    expect(size).toBeLessThan(ALERTMANAGER_BODY_LIMIT);

    const res = await post(body);
    expect(res.statusCode).toBe(200);
    const results = res.json().results as Array<Record<string, unknown>>;
    expect(results).toHaveLength(GROUP);
    const expected = (a: (typeof alerts)[number]): Record<string, unknown> => {
      const id = idempotentExecutionId(
        'amPing',
        ALERTMANAGER,
        'alertmanager',
        alertEpisodeKey(a.fingerprint, '2024-10-09T10:00:00.000Z'),
      );
      switch (a.kind) {
        case 'resolved':
          return { fingerprint: a.fingerprint, alertname: 'DiskFull', result: 'skipped', message: 'resolved: nothing to start' };
        case 'unrouted':
          return {
            fingerprint: a.fingerprint,
            alertname: 'FanSpeed',
            result: 'skipped',
            message: 'no alertmanager route matches this alert',
          };
        case 'denied':
          return {
            fingerprint: a.fingerprint,
            alertname: 'NodeWedged',
            result: 'denied',
            workflow: 'amReboot',
            message: 'forbidden: no route rule admits this caller to start amReboot',
          };
        case 'invalid':
          return {
            fingerprint: a.fingerprint,
            alertname: 'DiskFull',
            result: 'invalid',
            workflow: 'amPing',
            message: expect.stringMatching(/target\.node/),
          };
        case 'guarded':
          return expect.objectContaining({ fingerprint: a.fingerprint, alertname: 'Guarded', workflow: 'amGuarded' });
        case 'start':
          return {
            fingerprint: a.fingerprint,
            alertname: 'DiskFull',
            result: 'started',
            workflow: 'amPing',
            workflow_id: id,
            run_id: expect.any(String),
            task_queue: `medic:node:${a.node}`,
          };
      }
    };
    results.forEach((r, i) => expect(r).toEqual(expected(alerts[i]!)));

    const guarded = results.filter((_, i) => alerts[i]!.kind === 'guarded');
    expect(guarded).toHaveLength(GROUP / KINDS.length);
    expect(guarded.filter((r) => r.result === 'started')).toHaveLength(1);
    const refused = guarded.filter((r) => r.result !== 'started');
    expect(refused).toHaveLength(GROUP / KINDS.length - 1);
    for (const r of refused)
      expect(r).toMatchObject({
        result: 'refused',
        constraint: { kind: 'concurrency', value: 1 },
        count: 1,
        retry_after_seconds: expect.any(Number),
      });
    expect(results.filter((r) => r.result === 'started')).toHaveLength(1001);

    // Alertmanager sends the whole group again (a repeat, or one alert changed): nothing starts twice.
    const again = (await post(body)).json().results as Array<Record<string, unknown>>;
    again.forEach((r, i) => {
      if (results[i]!.result === 'started') expect(r).toEqual({ ...results[i], result: 'duplicate' });
      else if (results[i]!.result === 'refused') expect(r).toMatchObject({ result: 'refused', count: 1 });
      else expect(r).toEqual(results[i]);
    });
  }, 600_000);
});
