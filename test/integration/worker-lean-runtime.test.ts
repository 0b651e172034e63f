// The lean runtime of role node (src/worker/lean/) in-process against the real dev server, with a
// general SDK worker running the workflows: arguments arrive byte for byte, failures arrive as the
// SDK worker sends them (nonRetryable, type, details), the heartbeat answer cancels, heartbeats
// are throttled with the last details winning, shutdown grace then cancellation, payload
// encryption both ways and a payload it cannot decode.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter, type Payload, type PayloadCodec } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { createActivities, type Activities } from '../../activities';
import { createMedicWorker, type MedicWorker } from '../../src/worker/medic-worker';
import { createLeanWorker } from '../../src/worker/lean/worker';
import { WorkflowServiceClient, type LeanMethod } from '../../src/worker/lean/api';
import { leanConverter } from '../../src/worker/lean/converter';
import { LeanMetrics } from '../../src/worker/lean/metrics';
import { generalQueue, nodeQueue } from '../../src/naming/task-queues';
import { EncryptionCodec, readPayloadKey } from '../../src/temporal/data-converter';
import type { RunbookStep } from '../../workflows/shared/input';
import { testSettings } from '../helpers/medic-worker';
import { activityRunning, leanTestBed, startGeneralWorker } from '../helpers/lean-worker';
import { eventually, temporalAddress, unique, workflowBundle } from '../helpers/temporal';
import type { Log } from '../../src/telemetry/line-log';

type History = temporal.api.history.v1.IHistoryEvent[];

const bed = leanTestBed('lean-rt');

interface Lean {
  node: string;
  dc: string;
  worker: MedicWorker;
  running: Promise<void>;
  metrics: LeanMetrics;
  calls: Map<LeanMethod, number>;
  logs: string[];
}

function keyFile(name: string): string {
  const file = path.join(bed.dir, name);
  fs.writeFileSync(file, Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 7 + name.length) % 256)).toString('hex'));
  return file;
}

const general = (dc: string, payloadKeyFile?: string) => startGeneralWorker(bed, dc, payloadKeyFile);

/** The lean worker of a node, in-process, with real activities and `fakes`; the gRPC client counts its calls. */
function lean(
  opts: { fakes?: Partial<Activities>; graceMs?: number; payloadKeyFile?: string; dc?: string; slots?: number } = {},
): Lean {
  const node = unique('lean');
  const dc = opts.dc ?? unique('dc');
  const config = {
    node,
    datacenter: dc,
    nodeType: 'generic',
    shutdownGraceMs: opts.graceMs ?? 5000,
    maxConcurrentActivities: opts.slots ?? 4,
    temporal: {
      address: temporalAddress(),
      namespace: 'default',
      ...(opts.payloadKeyFile && { payloadKeyFile: opts.payloadKeyFile }),
    },
  };
  const grpc = new WorkflowServiceClient(config.temporal);
  const calls = new Map<LeanMethod, number>();
  const call = grpc.call.bind(grpc);
  grpc.call = (method, request, o) => {
    calls.set(method, (calls.get(method) ?? 0) + 1);
    return call(method, request, o);
  };
  const logs: string[] = [];
  const log: Log = (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  const metrics = new LeanMetrics();
  const settings = testSettings(node, dc, 'generic', { allowedCommands: ['/usr/bin/printf', '/usr/bin/sleep'] });
  const worker = createLeanWorker({
    config,
    client: grpc,
    converter: leanConverter(opts.payloadKeyFile),
    activities: { ...createActivities({ settings }), ...opts.fakes },
    log,
    metrics,
  });
  const running = worker.run();
  bed.cleanups.push(async () => {
    worker.shutdown();
    await running.catch(() => undefined);
    grpc.close();
  });
  return { node, dc, worker, running, metrics, calls, logs };
}

function startRunbook(w: { node: string; dc: string }, steps: RunbookStep[], id = unique('lean')): Promise<WorkflowHandle> {
  return bed.client.workflow.start('runbook', {
    taskQueue: generalQueue(w.dc),
    workflowId: id,
    workflowExecutionTimeout: '5m',
    args: [
      { workflow: 'leanTest', target: { node: w.node, datacenter: w.dc }, params: {}, steps, activityQueue: nodeQueue(w.node) },
    ],
  });
}

/** Waits for the lean worker's run() to resolve, or fails saying what still ran and what it logged. */
async function stopsWithin(w: Lean, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the lean worker did not stop within ${ms} ms; its log:\n${w.logs.join('\n')}`)),
      ms,
    );
  });
  try {
    await Promise.race([w.running, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The workflow's result, or a failure that shows its pending activities and last events. */
async function resultWithin(h: WorkflowHandle, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void Promise.all([h.describe(), history(h)]).then(([d, events]) =>
        reject(
          new Error(
            `no result within ${ms} ms: pending ${JSON.stringify(d.raw.pendingActivities ?? [])}; ` +
              `last events ${events
                .slice(-5)
                .map((e) => e.eventType)
                .join(', ')}`,
          ),
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([h.result(), late]);
  } finally {
    clearTimeout(timer);
  }
}

const history = async (h: WorkflowHandle): Promise<History> => (await h.fetchHistory()).events ?? [];

/** Terminates `h` unless it has ended already. */
const end = (h: WorkflowHandle): Promise<unknown> => h.terminate().catch(() => undefined);

/** The failure of the activity's latest attempt: pending (a retry is due) or final. */
function lastFailure(h: WorkflowHandle, what: string): Promise<temporal.api.failure.v1.IFailure> {
  return eventually(
    async () => {
      const pending = (await h.describe()).raw.pendingActivities?.find((a) => a.lastFailure)?.lastFailure;
      if (pending) return pending;
      return (
        (await history(h)).find((e) => e.activityTaskFailedEventAttributes)?.activityTaskFailedEventAttributes?.failure ??
        undefined
      );
    },
    60_000,
    what,
  );
}

/** Waits for the first event `pick` finds in the history. */
function eventOf<T>(h: WorkflowHandle, pick: (e: temporal.api.history.v1.IHistoryEvent) => T | null | undefined, what: string) {
  return eventually(
    async () => {
      for (const e of await history(h)) {
        const v = pick(e);
        if (v) return v;
      }
      return undefined;
    },
    60_000,
    what,
  );
}

const commandStep = (command: string, args: string[]): RunbookStep[] => [{ name: 'step', kind: 'command', command, args }];

it('runs a command step with odd arguments, which arrive byte for byte', async () => {
  const w = lean();
  await general(w.dc);
  const odd = ['$(id)', '`id`; rm -rf /', 'naïve ☃ 𝄞', '"quoted" \'single\'', 'back\\slash', '', '-n', '--', '%s%s%d'];
  const h = await startRunbook(w, commandStep('/usr/bin/printf', ['<%s>', ...odd]));
  const result = (await h.result()) as { outcome: string; steps: Array<{ ok: boolean; detail: string }> };
  expect(result.outcome).toBe('healed');
  expect(result.steps[0]!.detail).toBe(`/usr/bin/printf: exit 0: ${odd.map((a) => `<${a}>`).join('')}`);
  const started = await eventOf(h, (e) => e.activityTaskStartedEventAttributes, 'the started event');
  expect(started.identity).toBe(w.worker.identity);
  expect(w.metrics.value('completed', { task_queue: nodeQueue(w.node) })).toBe(1);
});

/**
 * A codec for the general worker that spoils the activity input of a step whose argument names
 * how (`HOSTILE:<how>`): what a buggy or hostile peer could put on the wire, from a real workflow.
 */
const hostileCodec: PayloadCodec = {
  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      const how = /HOSTILE:(\w+)/.exec(Buffer.from(p.data ?? []).toString())?.[1];
      const json = { encoding: Buffer.from('json/plain') };
      switch (how) {
        case 'badjson':
          return { metadata: json, data: Buffer.from('{"command": "/usr/bin/printf", "args": [') };
        case 'unknown':
          return { metadata: { encoding: Buffer.from('binary/who-knows') }, data: Buffer.from([0, 1, 2, 255]) };
        case 'nometadata':
          return { data: p.data };
        case 'proto':
          return { metadata: json, data: Buffer.from('{"__proto__": {"polluted": true}, "command": 7, "args": "x"}') };
        default:
          return p;
      }
    });
  },
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads;
  },
};

it('fails a task whose input is malformed, of an unknown encoding or hostile JSON, and goes on serving', async () => {
  const w = lean();
  const worker = await Worker.create({
    connection: bed.connection,
    namespace: 'default',
    taskQueue: generalQueue(w.dc),
    workflowBundle: workflowBundle(),
    activities: createActivities({ settings: testSettings('general', w.dc, 'generic') }),
    dataConverter: { payloadCodecs: [hostileCodec] },
  });
  const running = worker.run();
  bed.cleanups.push(async () => {
    worker.shutdown();
    await running.catch(() => undefined);
  });
  const expected: Record<string, RegExp> = {
    badjson: /JSON/,
    unknown: /Unknown encoding: binary\/who-knows/,
    nometadata: /metadata|encoding/,
    proto: /TypeError|not allowed|must be|invalid/i,
  };
  for (const [how, message] of Object.entries(expected)) {
    const h = await startRunbook(w, commandStep('/usr/bin/printf', [`HOSTILE:${how}`]));
    const failure = await lastFailure(h, `the ${how} step to fail`);
    expect({ how, message: failure.message }).toEqual({ how, message: expect.stringMatching(message) });
    await end(h);
  }
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  // Still polling and serving.
  const again = await startRunbook(w, commandStep('/usr/bin/printf', ['ok']));
  await eventOf(again, (e) => e.activityTaskCompletedEventAttributes, 'the next step to complete');
  await end(again);
  expect(w.metrics.value('pollErrors', { task_queue: nodeQueue(w.node) })).toBe(0);
});

it('reports an ApplicationFailure exactly as the SDK worker does: nonRetryable, type and details, one attempt', async () => {
  const dc = unique('dc');
  await general(dc);
  const boom = async (): Promise<never> => {
    throw ApplicationFailure.create({
      message: 'disk controller on fire',
      type: 'ControllerOnFire',
      nonRetryable: true,
      details: [{ slot: 3, serial: 'Z1X' }, 'second detail'],
    });
  };
  const fakes = { runCommand: boom as unknown as Activities['runCommand'] };
  const w = lean({ dc, fakes });
  // The same fake behind the SDK's own worker (role node), for the reference answer.
  const sdkNode = unique('sdk');
  const sdk = await createMedicWorker({
    config: {
      node: sdkNode,
      datacenter: dc,
      nodeType: 'generic',
      role: 'node',
      shutdownGraceMs: 1000,
      maxConcurrentActivities: 4,
      temporal: { address: temporalAddress(), namespace: 'default' },
    },
    connection: bed.connection,
    bundlePath: workflowBundle().codePath,
    activities: { ...createActivities({ settings: testSettings(sdkNode, dc, 'generic') }), ...fakes },
  });
  const sdkRunning = sdk.run();
  bed.cleanups.push(async () => {
    sdk.shutdown();
    await sdkRunning.catch(() => undefined);
  });

  const failureOf = async (node: string) => {
    const h = await startRunbook({ node, dc }, commandStep('/usr/bin/true', []));
    const attrs = await eventOf(h, (e) => e.activityTaskFailedEventAttributes, 'the activity to fail');
    // Let the workflow react; a nonRetryable failure is not retried whatever the retry policy.
    await h.result().catch(() => undefined);
    const events = await history(h);
    const steps = new Set(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runCommand')
        .map((e) => Number(e.eventId)),
    );
    const attempts = events
      .filter((e) => steps.has(Number(e.activityTaskStartedEventAttributes?.scheduledEventId)))
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    return { failure: attrs.failure!, attempts };
  };
  const [mine, theirs] = await Promise.all([failureOf(w.node), failureOf(sdkNode)]);
  const info = mine.failure.applicationFailureInfo!;
  expect(info.nonRetryable).toBe(true);
  expect(info.type).toBe('ControllerOnFire');
  expect(info.details!.payloads!.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
    { slot: 3, serial: 'Z1X' },
    'second detail',
  ]);
  expect(mine.attempts).toEqual([1]);
  // Field for field what the SDK worker sends, but for the stack trace (different call sites).
  const comparable = (f: temporal.api.failure.v1.IFailure) => ({
    ...temporal.api.failure.v1.Failure.toObject(f as temporal.api.failure.v1.Failure),
    stackTrace: undefined,
  });
  expect(comparable(mine.failure)).toEqual(comparable(theirs.failure));
  expect(mine.attempts).toEqual(theirs.attempts);
});

/**
 * A lean worker whose runCommand heartbeats every 200 ms until it is cancelled (then says how),
 * and the fixture workflow (test/fixtures/lean-workflows: 2 s heartbeat timeout, waits for the
 * activity to confirm its cancellation) running it.
 */
async function cancellable() {
  const box: { seen?: { cancelRequested?: boolean; notFound?: boolean; reason: string } } = {};
  const w = lean({
    fakes: {
      runCommand: (async () => {
        const ctx = Context.current();
        const timer = setInterval(() => ctx.heartbeat('alive'), 200);
        try {
          await new Promise((_, reject) =>
            ctx.cancellationSignal.addEventListener('abort', () => reject(ctx.cancellationSignal.reason)),
          );
        } catch (err) {
          const d = ctx.cancellationDetails;
          box.seen = { cancelRequested: d?.cancelRequested, notFound: d?.notFound, reason: (err as Error).message };
          throw err;
        } finally {
          clearInterval(timer);
        }
      }) as unknown as Activities['runCommand'],
    },
  });
  const queue = unique('lean-wf');
  const worker = await Worker.create({
    connection: bed.connection,
    namespace: 'default',
    taskQueue: queue,
    workflowsPath: require.resolve('../fixtures/lean-workflows'),
  });
  const running = worker.run();
  bed.cleanups.push(async () => {
    worker.shutdown();
    await running.catch(() => undefined);
  });
  const h = await bed.client.workflow.start('cancelOnSignal', {
    taskQueue: queue,
    workflowId: unique('cancel'),
    args: [nodeQueue(w.node)],
  });
  await activityRunning(h);
  return { w, h, box };
}

it('cancels the activity when the heartbeat answer says the workflow asked for it, and answers canceled', async () => {
  const { w, h, box } = await cancellable();
  await h.signal('stop');
  // The next heartbeat RPC (throttled to 0.8 x the 2 s heartbeat timeout) carries the request.
  expect(await h.result()).toBe('cancelled');
  expect(box.seen).toEqual({ cancelRequested: true, notFound: false, reason: 'CANCELLED' });
  expect((await history(h)).some((e) => e.activityTaskCanceledEventAttributes)).toBe(true);
  expect(w.metrics.value('cancelled', { task_queue: nodeQueue(w.node) })).toBe(1);
}, 180_000);

it('cancels the activity when the server no longer knows it (its workflow was terminated)', async () => {
  const { w, h, box } = await cancellable();
  await h.terminate();
  const seen = await eventually(async () => box.seen, 30_000, 'the activity to be cancelled');
  expect(seen).toEqual({ cancelRequested: false, notFound: true, reason: 'NOT_FOUND' });
  // Nobody to answer: once it has ended, it counts neither as completed, failed nor cancelled.
  const where = { node: w.node, datacenter: w.dc, node_type: 'generic' };
  await eventually(async () => (w.metrics.value('running', where) === 0 ? true : undefined), 30_000, 'the task to end');
  for (const outcome of ['completed', 'failed', 'cancelled'] as const)
    expect(w.metrics.value(outcome, { task_queue: nodeQueue(w.node) })).toBe(0);
}, 180_000);

it('throttles heartbeats to one RPC per interval and keeps the last details for the next attempt', async () => {
  const attempts: Array<{ attempt: number; details: unknown }> = [];
  const w = lean({
    fakes: {
      runCommand: (async () => {
        const ctx = Context.current();
        attempts.push({ attempt: ctx.info.attempt, details: ctx.info.heartbeatDetails });
        if (ctx.info.attempt === 1) {
          for (let i = 1; i <= 200; i++) ctx.heartbeat({ progress: i });
          throw ApplicationFailure.retryable('try again', 'Flaky');
        }
        return { exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, truncated: false };
      }) as unknown as Activities['runCommand'],
    },
  });
  await general(w.dc);
  const h = await startRunbook(w, commandStep('/usr/bin/true', []));
  await h.result();
  // 200 heartbeats in a burst: the first is sent at once, the rest wait for the interval (8 s)
  // and the activity fails before it ends, so its last details ride on the failure.
  expect(w.calls.get('RecordActivityTaskHeartbeat')).toBe(1);
  expect(attempts).toEqual([
    { attempt: 1, details: undefined },
    { attempt: 2, details: { progress: 200 } },
  ]);
});

it.each([1, 2])('runs at most max_concurrent_activities = %p activities of a queue at once', async (slots) => {
  let now = 0;
  let most = 0;
  const w = lean({
    slots,
    fakes: {
      runCommand: (async () => {
        most = Math.max(most, ++now);
        await new Promise((r) => setTimeout(r, 3000)); // long enough to overlap on a loaded machine
        now -= 1;
        return { exitCode: 0, signal: null, stdout: '', stderr: '', timedOut: false, truncated: false };
      }) as unknown as Activities['runCommand'],
    },
  });
  await general(w.dc);
  const runs = await Promise.all([1, 2, 3, 4].map(() => startRunbook(w, commandStep('/usr/bin/true', []))));
  await Promise.all(runs.map((h) => h.result()));
  expect(most).toBe(slots);
});

it('drains on shutdown: a running activity finishes within the grace period', async () => {
  const w = lean({ graceMs: 30_000 });
  await general(w.dc);
  const h = await startRunbook(w, commandStep('/usr/bin/sleep', ['2']));
  await activityRunning(h);
  w.worker.shutdown();
  // Each wait is bounded and named, so a hang (seen once in CI, under load) says where it was.
  await stopsWithin(w, 45_000);
  expect((await history(h)).some((e) => e.activityTaskCompletedEventAttributes)).toBe(true);
  await expect(resultWithin(h, 30_000)).resolves.toMatchObject({ outcome: 'healed' });
}, 120_000);

it('cancels what still runs when the grace period is over, as a retryable WorkerShutdown failure', async () => {
  let shutdownSeen: boolean | undefined;
  const w = lean({
    graceMs: 1000,
    fakes: {
      runCommand: (async () => {
        const ctx = Context.current();
        await new Promise((resolve) => ctx.cancellationSignal.addEventListener('abort', resolve));
        shutdownSeen = ctx.cancellationDetails?.workerShutdown;
        throw ctx.cancellationSignal.reason;
      }) as unknown as Activities['runCommand'],
    },
  });
  await general(w.dc);
  const h = await startRunbook(w, commandStep('/usr/bin/sleep', ['600']));
  await activityRunning(h);
  const from = Date.now();
  w.worker.shutdown();
  await w.running;
  expect(Date.now() - from).toBeGreaterThanOrEqual(900);
  expect(shutdownSeen).toBe(true);
  const failure = await lastFailure(h, 'the failure');
  expect(failure.applicationFailureInfo).toMatchObject({ type: 'WorkerShutdown', nonRetryable: false });
  await end(h);
});

it('encrypts and decrypts payloads with the payload key, both ways', async () => {
  const key = keyFile('payload.key');
  const dc = unique('dc');
  await general(dc, key);
  const w = lean({ dc, payloadKeyFile: key });
  const h = await startRunbook(w, commandStep('/usr/bin/printf', ['secret-%s', 'value']));
  await eventOf(h, (e) => e.activityTaskCompletedEventAttributes, 'the step to complete');
  const events = await history(h);
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes)!.activityTaskScheduledEventAttributes!;
  const completed = events.find((e) => e.activityTaskCompletedEventAttributes)!.activityTaskCompletedEventAttributes!;
  for (const p of [...scheduled.input!.payloads!, ...completed.result!.payloads!]) {
    expect(Buffer.from(p.metadata!.encoding!).toString()).toBe('binary/medic-aes256gcm');
    expect(Buffer.from(p.data!).toString('latin1')).not.toContain('secret');
  }
  // Sealed with the same key: the result holds what printf printed.
  const [result] = await new EncryptionCodec(readPayloadKey(key)).decode(completed.result!.payloads! as Payload[]);
  expect(defaultPayloadConverter.fromPayload(result!)).toMatchObject({ exitCode: 0, stdout: 'secret-value' });
  await end(h);
});

it('fails a task whose payload it cannot decrypt, and goes on serving', async () => {
  const dc = unique('dc');
  await general(dc, keyFile('right.key'));
  const w = lean({ dc, payloadKeyFile: keyFile('wrong-key.key') });
  const h = await startRunbook(w, commandStep('/usr/bin/printf', ['x']));
  const failure = await lastFailure(h, 'the failure');
  expect(failure.message).toMatch(/authenticate|decrypt/i);
  await end(h);
  expect(w.metrics.value('failed', { task_queue: nodeQueue(w.node) })).toBeGreaterThanOrEqual(1);
  expect(w.metrics.value('pollErrors', { task_queue: nodeQueue(w.node) })).toBe(0);
});
