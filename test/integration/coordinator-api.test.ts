// The trigger API over app.inject against the run's real Temporal dev server: routing to the
// three queues, search attributes and input, validation (400), 403/404/413/415, dry runs,
// idempotency, execution status, workflow list, health and metrics, audit lines, OpenAPI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../src/naming/search-attributes';
import { workerQueues } from '../../src/naming/task-queues';
import { packageRoot } from '../../src/paths';
import {
  ADMIN,
  STRANGER,
  constraint,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { connectClient, connectWorkerConnection, eventually, queryCount, unique, workflowBundle } from '../helpers/temporal';

const DC = unique('dc');
const TYPE = 'db';
const NODE = unique('node');
const [GENERAL_Q, TYPE_Q, NODE_Q] = workerQueues(DC, TYPE, NODE);

let c: TestCoordinator;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  c = await testCoordinator([
    workflowConfig('pingNode', {
      taskQueueTarget: 'node',
      params: { mode: 'config', keep: 'yes' },
      paramSchema: {
        mode: { type: 'enum', values: ['config', 'request'], default: 'config', settable: true, secret: false, list: false },
        keep: { type: 'string', default: 'yes', settable: false, secret: false, list: false },
        extra: { type: 'int', min: 0, max: 9, settable: true, secret: false, list: false },
        big: { type: 'string', settable: true, secret: false, list: false },
      },
    }),
    workflowConfig('pingGeneral', { taskQueueTarget: 'general' }),
    workflowConfig('pingType', { taskQueueTarget: 'node_type' }),
    workflowConfig('guarded', { description: 'one at a time', constraints: [constraint('concurrency', 1, 15 * 60_000)] }),
  ]);
  ({ client, close: closeClient } = await connectClient());
});

afterAll(async () => {
  await c.close();
  await closeClient();
});

function startInput(events: Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']): unknown {
  const payload = events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  return payload ? defaultPayloadConverter.fromPayload(payload) : undefined;
}

describe('routing', () => {
  it('starts each task_queue_target on its queue, where a worker of that queue runs it', async () => {
    const connection = await connectWorkerConnection();
    const workers = await Promise.all(
      [GENERAL_Q!, TYPE_Q!, NODE_Q!].map((taskQueue) =>
        Worker.create({ connection, taskQueue, workflowBundle: workflowBundle() }),
      ),
    );
    try {
      const running = workers.map((w) => w.run());
      // Each target names what its workflow routes by (a node field on a general workflow is a 400).
      for (const [name, queue, target] of [
        ['pingNode', NODE_Q, { node: NODE, datacenter: DC, node_type: TYPE }],
        ['pingGeneral', GENERAL_Q, { datacenter: DC }],
        ['pingType', TYPE_Q, { datacenter: DC, node_type: TYPE }],
      ] as const) {
        const res = await trigger(c.app, name, { target, reason: 'routing test' });
        expect(res.statusCode).toBe(202);
        const body = res.json();
        // task_queue is where the machine steps go; the workflow itself runs on the general queue.
        expect(body.task_queue).toBe(queue);
        const result = await client.workflow.getHandle(body.workflow_id).result();
        expect(result).toEqual({ taskQueue: GENERAL_Q, workflowId: body.workflow_id });
      }
      workers.forEach((w) => w.shutdown());
      await Promise.all(running);
    } finally {
      await connection.close();
    }
  });

  it('sets the search attributes and builds the workflow input (settable request params win over config defaults)', async () => {
    const node = unique('sa-node');
    const res = await trigger(c.app, 'pingNode', {
      target: { node, datacenter: DC },
      params: { mode: 'request', extra: '1' },
      reason: 'disk full',
    });
    expect(res.statusCode).toBe(202);
    const handle = client.workflow.getHandle(res.json().workflow_id);
    const d = await handle.describe();
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.workflow)).toBe('pingNode');
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.node)).toBe(node);
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.datacenter)).toBe(DC);
    expect(d.typedSearchAttributes.get(SEARCH_ATTRIBUTES.trigger)).toBe(ADMIN);
    expect(startInput((await handle.fetchHistory()).events)).toEqual({
      workflow: 'pingNode',
      target: { node, datacenter: DC },
      params: { mode: 'request', keep: 'yes', extra: '1' },
      paramSchema: expect.objectContaining({ mode: expect.objectContaining({ settable: true }) }),
      reason: 'disk full',
      trigger: ADMIN,
      activityQueue: `medic:node:${node}`,
      // The config's timeout: the run escalates by then (workflows/deadline.ts).
      timeoutMs: 3_600_000,
    });
    // Temporal's execution timeout is the backstop, 5 minutes after it.
    expect((await handle.describe()).raw.executionConfig?.workflowExecutionTimeout?.seconds?.toString()).toBe(
      String(3_600 + 300),
    );
    await handle.terminate('test done');
  });

  it.each([
    ['pingNode', { datacenter: DC }, 'target.node'],
    ['pingGeneral', { node: NODE }, 'target.datacenter'],
    ['pingType', { datacenter: DC }, 'target.node_type'],
  ])('%s without what its target kind needs is a 400 that names the field', async (name, target, field) => {
    const res = await trigger(c.app, name, { target });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', details: { field } });
    expect(res.json().message).toContain(field);
  });
});

describe('request validation', () => {
  it.each<[string, unknown, string]>([
    ['no target', { reason: 'x' }, 'target'],
    ['a target that is not an object', { target: 'h1' }, 'target'],
    ['an unknown field', { target: { node: 'h1' }, priority: 1 }, 'priority'],
    ['an unknown target field', { target: { host: 'h1' } }, 'target.host'],
    ['a number for a node', { target: { node: 7 } }, 'target.node'],
    ['a param that is not a string', { target: { node: 'h1' }, params: { n: 1 } }, 'params.n'],
    ['an over-long reason', { target: { node: 'h1' }, reason: 'x'.repeat(1025) }, 'reason'],
    ['a malformed idempotency key', { target: { node: 'h1' }, idempotency_key: 'a b' }, 'idempotency_key'],
    ['a node name with a separator', { target: { node: 'a:b' } }, 'target.node'],
    ['a param name that is not a name', { target: { node: 'h1' }, params: { 'a b': 'x' } }, 'params.a b'],
  ])('%s: 400 naming the field', async (_d, body, field) => {
    const res = await trigger(c.app, 'pingNode', body);
    expect(res.statusCode).toBe(400);
    const json = res.json();
    expect(json).toMatchObject({ error: 'invalid_request', details: { field } });
    expect(json.message).toContain(field);
  });

  it('a dry_run value other than true or false is a 400 naming the query field', async () => {
    const res = await c.app.inject({
      method: 'POST',
      url: '/v1/workflows/pingNode/executions?dry_run=yes',
      headers: { 'x-test-identity': ADMIN },
      payload: { target: { node: 'h1' } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', details: { field: 'dry_run', location: 'querystring' } });
  });

  it('a body that is not JSON is a 400; one that is not application/json a 415', async () => {
    const bad = await c.app.inject({
      method: 'POST',
      url: '/v1/workflows/pingNode/executions',
      headers: { 'x-test-identity': ADMIN, 'content-type': 'application/json' },
      payload: '{"target":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('invalid_request');
    const text = await c.app.inject({
      method: 'POST',
      url: '/v1/workflows/pingNode/executions',
      headers: { 'x-test-identity': ADMIN, 'content-type': 'text/plain' },
      payload: 'target=h1',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error).toBe('unsupported_media_type');
  });

  it('a body over body_limit_bytes is a 413', async () => {
    const res = await trigger(c.app, 'pingNode', { target: { node: 'h1' }, params: { big: 'x'.repeat(20_000) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'payload_too_large', details: { limit_bytes: 16 * 1024 } });
  });

  it('an unknown workflow is a 404', async () => {
    const res = await trigger(c.app, 'noSuchWorkflow', { target: { node: 'h1' } });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'unknown_workflow', message: 'no workflow named "noSuchWorkflow"', details: {} });
  });

  it('counts schema failures as invalid triggers and audits them', async () => {
    await trigger(c.app, 'pingNode', { target: { node: 5 } });
    const metrics = (await c.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/medic_coordinator_triggers_total\{workflow="pingNode",result="invalid",source="api"\} [1-9]/);
    expect(c.audit.some((e) => e.decision === 'invalid' && e.workflow === 'pingNode')).toBe(true);
  });
});

describe('access', () => {
  it('403 for a caller no rule admits, naming only the consulted rules and the caller', async () => {
    const res = await trigger(c.app, 'pingNode', { target: { node: 'h1' } }, { identity: STRANGER });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toEqual({
      error: 'forbidden',
      message: `route rules admins, triggers do not admit ${STRANGER}`,
      details: { identity: STRANGER, rules_consulted: ['admins', 'triggers'] },
    });
    expect(res.body).not.toContain('sre-admin');
  });

  it('403 before anything else for an anonymous caller, even for unknown workflows and routes', async () => {
    expect((await trigger(c.app, 'noSuchWorkflow', { target: {} }, { identity: null })).statusCode).toBe(403);
    const unknownRoute = await c.app.inject({ url: '/admin' });
    expect(unknownRoute.statusCode).toBe(403);
    expect(unknownRoute.json()).toEqual({ error: 'forbidden', message: 'forbidden', details: {} });
  });

  it('an admitted caller gets 404 for a route that does not exist', async () => {
    const res = await c.app.inject({ url: '/v1/nothing', headers: { 'x-test-identity': ADMIN } });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
  });

  it('audits denials and decisions, but not requests matched by a skip_log_match rule', async () => {
    const before = c.audit.length;
    await c.app.inject({ url: '/healthz' });
    await c.app.inject({ url: '/metrics' });
    expect(c.audit.length).toBe(before);
    await trigger(c.app, 'pingNode', { target: { node: 'h1' } }, { identity: STRANGER });
    expect(c.audit.at(-1)).toMatchObject({ decision: 'denied', identity: STRANGER, workflow: 'pingNode' });
    await c.app.inject({ url: '/v1/workflows', headers: { 'x-test-identity': ADMIN } });
    expect(c.audit.at(-1)).toMatchObject({
      decision: 'allowed',
      identity: ADMIN,
      rule: 'admins',
      path: '/v1/workflows',
      status: 200,
    });
  });
});

describe('dry run and idempotency', () => {
  it('a dry run evaluates the constraints and starts nothing', async () => {
    const node = unique('dry');
    const dry = await trigger(c.app, 'guarded', { target: { node } }, { dryRun: true });
    expect(dry.statusCode).toBe(200);
    expect(dry.json()).toMatchObject({
      status: 'dry_run',
      workflow: 'guarded',
      task_queue: `medic:node:${node}`,
      constraints: [{ constraint: { kind: 'concurrency', value: 1, scope: `node=${node}` }, count: 0, passes: true }],
    });
    // Nothing started and no slot taken: a real trigger is still admitted, and it is the only execution.
    const real = await trigger(c.app, 'guarded', { target: { node } });
    expect(real.statusCode).toBe(202);
    await eventually(
      async () => ((await queryCount(client, 'guarded', node)) === 1 ? true : undefined),
      20_000,
      'one visible execution',
    );
    expect(c.audit.some((e) => e.decision === 'dry_run' && e.target?.node === node)).toBe(true);

    const refused = await trigger(c.app, 'guarded', { target: { node } }, { dryRun: true });
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: 'constraint_refused', details: { dry_run: true, count: 1 } });
    await client.workflow.getHandle(real.json().workflow_id).terminate('test done');
  });

  it('the same idempotency_key returns the first execution', async () => {
    const key = unique('alert-fp');
    const node = unique('idem');
    const first = await trigger(c.app, 'guarded', { target: { node }, idempotency_key: key });
    expect(first.statusCode).toBe(202);
    const again = await trigger(c.app, 'guarded', { target: { node }, idempotency_key: key });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ ...first.json(), status: 'duplicate' });
    // Still the first execution after it has closed.
    await client.workflow.getHandle(first.json().workflow_id).terminate('test done');
    const later = await trigger(c.app, 'guarded', { target: { node }, idempotency_key: key });
    expect(later.json()).toMatchObject({
      status: 'duplicate',
      workflow_id: first.json().workflow_id,
      run_id: first.json().run_id,
    });
  });

  it('concurrent requests with one idempotency_key start exactly one execution', async () => {
    const key = unique('burst');
    const node = unique('idem-burst');
    const all = await Promise.all(
      Array.from({ length: 8 }, () => trigger(c.app, 'pingNode', { target: { node }, idempotency_key: key })),
    );
    expect(all.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 202]);
    expect(new Set(all.map((r) => r.json().run_id)).size).toBe(1);
    await client.workflow.getHandle(all[0]!.json().workflow_id).terminate('test done');
  });
});

describe('reading', () => {
  it('GET /v1/executions/{id} gives status, result and a history summary', async () => {
    const node = unique('status');
    const connection = await connectWorkerConnection();
    try {
      const worker = await Worker.create({ connection, taskQueue: `medic:node:${node}`, workflowBundle: workflowBundle() });
      const res = await trigger(c.app, 'pingNode', { target: { node } });
      const id = res.json().workflow_id;
      await worker.runUntil(client.workflow.getHandle(id).result());
    } finally {
      await connection.close();
    }
    const id = c.audit.filter((e) => e.decision === 'started' && e.target?.node === node)[0]!.workflow_id!;
    const status = await c.app.inject({ url: `/v1/executions/${id}`, headers: { 'x-test-identity': ADMIN } });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      workflow_id: id,
      workflow: 'pingNode',
      workflow_type: 'ping',
      status: 'COMPLETED',
      task_queue: `medic:node:${node}`,
      target: { node },
      trigger: ADMIN,
      result: { taskQueue: `medic:node:${node}`, workflowId: id },
      history: { activities: [] },
    });
    expect(status.json().history.events).toBeGreaterThan(3);
  });

  it('GET /v1/executions/{id} is a 404 for unknown ids and for workflows that are not medic executions', async () => {
    const unknown = await c.app.inject({ url: `/v1/executions/${unique('nope')}`, headers: { 'x-test-identity': ADMIN } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('unknown_execution');
    const foreign = unique('foreign');
    await client.workflow.start('ping', { taskQueue: unique('q'), workflowId: foreign });
    const res = await c.app.inject({ url: `/v1/executions/${foreign}`, headers: { 'x-test-identity': ADMIN } });
    expect(res.statusCode).toBe(404);
    await client.workflow.getHandle(foreign).terminate('test done');
  });

  it('GET /v1/workflows lists the configured workflows', async () => {
    const res = await c.app.inject({ url: '/v1/workflows', headers: { 'x-test-identity': ADMIN } });
    expect(res.statusCode).toBe(200);
    const wfs = res.json().workflows as Array<Record<string, unknown>>;
    expect(wfs.map((w) => w.name)).toEqual(['guarded', 'pingGeneral', 'pingNode', 'pingType']);
    expect(wfs[0]).toEqual({
      name: 'guarded',
      workflow_type: 'ping',
      task_queue_target: 'node',
      description: 'one at a time',
      constraints: [
        { kind: 'concurrency', value: 1, period: '15m', is_global: false, description: 'concurrency 1/15m per target' },
      ],
      params: {},
      param_schema: {},
    });
    expect(wfs[2]!.param_schema).toMatchObject({
      mode: { type: 'enum', values: ['config', 'request'], default: 'config', settable: true },
      keep: { type: 'string', default: 'yes', settable: false },
    });
  });

  it('is not ready while its ledger worker starts, and ready once it polls', async () => {
    // A workflow with an approval block starts the ledger worker with the coordinator.
    const gated = workflowConfig(unique('gated'), { approval: { when: 'always', approvers: [ADMIN], timeoutMs: 600_000 } });
    const starting = await testCoordinator([gated]);
    try {
      const first = await starting.app.inject({ url: '/readyz' });
      expect(first.statusCode).toBe(503);
      expect(first.json()).toMatchObject({ status: 'not_ready', temporal: 'reachable', ledger_worker: 'starting' });
      const ready = await eventually(
        async () => {
          const r = await starting.app.inject({ url: '/readyz' });
          return r.statusCode === 200 ? r.json() : undefined;
        },
        30_000,
        'the ledger worker polling',
      );
      expect(ready).toMatchObject({ status: 'ready', ledger_worker: 'polling' });
    } finally {
      await starting.close();
    }
  });

  it('serves /healthz, /readyz and /metrics publicly', async () => {
    expect((await c.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await c.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ready', temporal: 'reachable', config: 'loaded', workflows: 4 });
    const metrics = (await c.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/medic_coordinator_triggers_total\{workflow="pingNode",result="started",source="api"\} [1-9]/);
    expect(metrics).toMatch(
      /medic_coordinator_http_requests_total\{route="\/v1\/workflows\/:name\/executions",method="POST",status="202"\}/,
    );
    expect(metrics).toContain('medic_coordinator_trigger_duration_seconds_bucket');
  });
});

describe('OpenAPI', () => {
  it('serves the document that is checked in as docs/openapi.json', async () => {
    const served = (await c.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(served.paths).sort()).toEqual([
      '/healthz',
      '/metrics',
      '/readyz',
      '/v1/alertmanager',
      '/v1/approvals',
      '/v1/approvals/{id}',
      '/v1/chat/slack',
      '/v1/chat/slack/interactions',
      '/v1/executions',
      '/v1/executions/{workflow_id}',
      '/v1/pauses',
      '/v1/shadow-admissions',
      '/v1/stats',
      '/v1/workflows',
      '/v1/workflows/{name}/executions',
    ]);
    const checkedIn = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'docs', 'openapi.json'), 'utf8'));
    expect(served).toEqual(checkedIn);
  });
});
