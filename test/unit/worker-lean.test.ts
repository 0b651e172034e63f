// The lean runtime's pure parts: the trimmed API descriptor (built from @temporalio/proto's full
// root, it must read and write what the full root does), the heartbeat throttle interval and the
// /metrics text exposition.
import { Root } from 'protobufjs/light';
import { temporal } from '@temporalio/proto';
import { LEAN_METHODS, WORKFLOW_SERVICE } from '../../src/worker/lean/api';
import { reachableTypes, trimmedDescriptor } from '../../src/worker/lean/build-descriptor';
import { heartbeatInterval } from '../../src/worker/lean/activity-task';
import { LeanMetrics } from '../../src/worker/lean/metrics';

// The full root, as the build step reads it.
const full = (require('@temporalio/proto/protos/json-module') as { root: import('protobufjs').Root }).root;

describe('the trimmed descriptor', () => {
  const trimmed = Root.fromJSON(trimmedDescriptor(full, WORKFLOW_SERVICE, LEAN_METHODS) as Parameters<typeof Root.fromJSON>[0]);

  it('holds exactly the six methods, every type they reach, and resolves on its own', () => {
    expect(Object.keys(trimmed.lookupService(WORKFLOW_SERVICE).methods).sort()).toEqual([...LEAN_METHODS].sort());
    expect(() => trimmed.resolveAll()).not.toThrow();
    const names = [...reachableTypes(full.lookupService(WORKFLOW_SERVICE), LEAN_METHODS).keys()];
    expect(names).toContain('.temporal.api.failure.v1.Failure');
    expect(names).toContain('.temporal.api.failure.v1.ApplicationFailureInfo');
    expect(names).not.toContain('.temporal.api.history.v1.HistoryEvent');
    for (const name of names) expect(trimmed.lookup(name)).not.toBeNull();
  });

  it('decodes a poll answer the full API encodes, field for field', () => {
    const answer = {
      taskToken: Buffer.from([1, 2, 3, 250]),
      workflowNamespace: 'default',
      workflowType: { name: 'runbook' },
      workflowExecution: { workflowId: 'wf-1', runId: 'run-1' },
      activityType: { name: 'runCommand' },
      activityId: '7',
      input: { payloads: [{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"a":"ü"}') }] },
      attempt: 3,
      heartbeatTimeout: { seconds: 10, nanos: 500_000_000 },
      startToCloseTimeout: { seconds: 3600 * 24 * 400 },
    };
    const Full = temporal.api.workflowservice.v1.PollActivityTaskQueueResponse;
    const bytes = Full.encode(Full.fromObject(answer)).finish();
    const T = trimmed.lookupType('temporal.api.workflowservice.v1.PollActivityTaskQueueResponse');
    expect(T.toObject(T.decode(bytes), { longs: Number })).toEqual(answer);
  });

  it('encodes a failure the full API reads back, nonRetryable, type and details included', () => {
    const request = {
      taskToken: Buffer.from('token'),
      identity: '1@n1',
      namespace: 'default',
      failure: {
        message: 'boom',
        source: 'TypeScriptSDK',
        stackTrace: 'at x',
        applicationFailureInfo: {
          type: 'ControllerOnFire',
          nonRetryable: true,
          details: { payloads: [{ data: Buffer.from('1') }] },
        },
        cause: { message: 'inner', applicationFailureInfo: { type: 'Error' } },
      },
    };
    const T = trimmed.lookupType('temporal.api.workflowservice.v1.RespondActivityTaskFailedRequest');
    const Full = temporal.api.workflowservice.v1.RespondActivityTaskFailedRequest;
    const back = Full.toObject(Full.decode(T.encode(T.fromObject(request)).finish()));
    expect(back).toEqual(request);
  });
});

describe('heartbeat throttle', () => {
  it.each([
    [10_000, 8000],
    [2000, 1600],
    [undefined, 30_000],
    [3600_000, 60_000],
  ])('with a heartbeat timeout of %p ms, waits %p ms between heartbeat RPCs', (timeout, interval) => {
    expect(heartbeatInterval(timeout)).toBe(interval);
  });
});

describe('lean /metrics', () => {
  it('renders counters and gauges in the text exposition format, label values escaped', () => {
    const m = new LeanMetrics();
    m.add('polls', { task_queue: 'medic:node:n1' });
    m.add('polls', { task_queue: 'medic:node:n1' });
    m.add('failed', { task_queue: 'q"\\\n' }, 3);
    m.set('queues', { node: 'n1', datacenter: 'dc1', node_type: 't' }, 2);
    expect(m.text()).toBe(
      [
        '# HELP medic_worker_activity_polls_total Long polls for activity tasks that returned (with or without a task)',
        '# TYPE medic_worker_activity_polls_total counter',
        'medic_worker_activity_polls_total{task_queue="medic:node:n1"} 2',
        '# HELP medic_worker_activity_tasks_failed_total Activity tasks answered as failed',
        '# TYPE medic_worker_activity_tasks_failed_total counter',
        'medic_worker_activity_tasks_failed_total{task_queue="q\\"\\\\\\n"} 3',
        '# HELP medic_worker_task_queues Task queues this worker polls',
        '# TYPE medic_worker_task_queues gauge',
        'medic_worker_task_queues{datacenter="dc1",node="n1",node_type="t"} 2',
        '',
      ].join('\n'),
    );
  });
});
