// A process SIGKILLed while it holds an admission ledger's task (its workflow task, or its seeding
// activity) stalls the ledger for seconds, not for a call timeout: the next admission through a
// live coordinator is answered 202. The killed process is a task taker (test/helpers/task-taker.js:
// it takes one task and never answers it), which leaves Temporal what a coordinator killed inside
// that task leaves: the task started and its poller gone; and a real `medic coordinator` frozen
// (SIGSTOP) while the ledger's task is sent to its sticky queue, then SIGKILLed. The file has a
// namespace of its own, so the process under attack is the only poller of the ledger queue.
import os from 'node:os';
import path from 'node:path';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { msToNumber, tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { LedgerClient, ledgerWorkflowId } from '../../src/ledger/client';
import { LEDGER_HEARTBEAT_TIMEOUT, LEDGER_TASK_TIMEOUT } from '../../src/ledger/messages';
import { LEDGER_QUEUE } from '../../src/naming/task-queues';
import { LedgerSeedingError } from '../../src/ledger/health';
import {
  constraint,
  coordinatorConfig,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { startProcess, type Proc } from '../helpers/processes';
import { buildStack } from '../helpers/stack';
import { testNamespace, type TestNamespace } from '../helpers/namespace';
import { connectWorkerConnection, temporalAddress, unique } from '../helpers/temporal';

const MIN = 60_000;
const EventType = temporal.api.enums.v1.EventType;
const TimeoutType = temporal.api.enums.v1.TimeoutType;

let ns: TestNamespace;
let taker: Proc | undefined;
let coordinator: TestCoordinator | undefined;

beforeAll(async () => {
  ns = await testNamespace('ledger-dead-worker');
}, 60_000);

afterEach(async () => {
  await taker?.kill();
  await coordinator?.close();
  taker = coordinator = undefined;
});

afterAll(async () => {
  await ns.close();
});

/** Starts the taker of one `kind` task of the ledger queue in this file's namespace. */
async function startTaker(kind: 'workflow' | 'activity'): Promise<Proc> {
  const proc = startProcess('node', [
    path.join(__dirname, '..', 'helpers', 'task-taker.js'),
    temporalAddress(),
    ns.namespace,
    LEDGER_QUEUE,
    kind,
  ]);
  await proc.waitFor(/^polling$/m, 30_000);
  return proc;
}

/** Waits until the taker holds a task, SIGKILLs it, and says which. */
async function killHolding(proc: Proc): Promise<string> {
  const [, task] = await proc.waitFor(/^took (.+)$/m, 30_000);
  process.kill(proc.pid, 'SIGKILL');
  expect(await proc.exited).toBe('SIGKILL');
  return task!;
}

/** A coordinator of this namespace, its ledger worker polling. */
async function liveCoordinator(wf: ReturnType<typeof workflowConfig>): Promise<TestCoordinator> {
  return testCoordinator([wf], { config: { temporal: { ...coordinatorConfig().temporal, namespace: ns.namespace } } });
}

async function admitted(c: TestCoordinator, name: string): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  const r = await trigger(c.app, name, { target: { node: unique('node') } });
  return { status: r.statusCode, ms: Date.now() - t0 };
}

async function ledgerEvents(name: string): Promise<temporal.api.history.v1.IHistoryEvent[]> {
  return (await ns.client.workflow.getHandle(ledgerWorkflowId(name)).fetchHistory()).events ?? [];
}

const wfOf = (name: string) => workflowConfig(name, { constraints: [constraint('maxExecution', 5, 60 * MIN)] });

it('a process SIGKILLed holding the ledger’s workflow task: the task times out after LEDGER_TASK_TIMEOUT, the next admission is answered', async () => {
  const wf = wfOf(unique('dead-wft'));
  taker = await startTaker('workflow');
  // The ledger's first workflow task goes to the taker, the only poller: started by a bare announce.
  const first = new LedgerClient().announce(ns.client, wf).then(
    () => 'answered',
    (err: Error) => err,
  );
  expect(await killHolding(taker)).toBe(`${ledgerWorkflowId(wf.name)} workflow task`);
  const killed = Date.now();
  coordinator = await liveCoordinator(wf);
  const answer = await admitted(coordinator, wf.name);
  process.stderr.write(
    `[ledger-dead-worker] admission answered ${answer.status} ${Date.now() - killed} ms after the SIGKILL of the workflow task's holder\n`,
  );
  expect(answer.status).toBe(202);
  expect(await first).toBe('answered');
  // The history: the held task timed out start-to-close, after the ledger's own task timeout.
  const events = await ledgerEvents(wf.name);
  const timedOut = events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)!;
  expect(timedOut.workflowTaskTimedOutEventAttributes!.timeoutType).toBe(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE);
  const scheduled = events.find(
    (e) => Number(e.eventId) === Number(timedOut.workflowTaskTimedOutEventAttributes!.scheduledEventId),
  )!;
  expect(tsToMs(scheduled.workflowTaskScheduledEventAttributes!.startToCloseTimeout)).toBe(msToNumber(LEDGER_TASK_TIMEOUT));
}, 60_000);

it('a process SIGKILLed holding the ledger’s seeding activity: it times out on heartbeats, the ledger seeds and answers; unseeded, it refuses as seeding', async () => {
  const wf = wfOf(unique('dead-seed'));
  // Workflow tasks only (no activities registered: it does not poll them), so the taker gets the seeding.
  const connection: NativeConnection = await connectWorkerConnection();
  const worker = await Worker.create({
    connection,
    namespace: ns.namespace,
    taskQueue: LEDGER_QUEUE,
    workflowBundle: { codePath: process.env.MEDIC_TEST_LEDGER_BUNDLE! },
  });
  const running = worker.run();
  try {
    taker = await startTaker('activity');
    await new LedgerClient().announce(ns.client, wf);
    expect(await killHolding(taker)).toBe(`${ledgerWorkflowId(wf.name)} seedLedger`);
    const killed = Date.now();
    coordinator = await liveCoordinator(wf);
    const answer = await admitted(coordinator, wf.name);
    process.stderr.write(
      `[ledger-dead-worker] admission answered ${answer.status} ${Date.now() - killed} ms after the SIGKILL of the seeding's holder\n`,
    );
    expect(answer.status).toBe(202);
    const events = await ledgerEvents(wf.name);
    const timedOut = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT);
    // The dead attempt is not an event of its own: the retry's attempt number says it was there.
    const completed = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED);
    expect(timedOut).toBeUndefined();
    expect(completed!.activityTaskStartedEventAttributes!.attempt).toBe(2);
    expect(completed!.activityTaskStartedEventAttributes!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(
      TimeoutType.TIMEOUT_TYPE_HEARTBEAT,
    );
    const scheduled = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)!;
    expect(tsToMs(scheduled.activityTaskScheduledEventAttributes!.heartbeatTimeout)).toBe(msToNumber(LEDGER_HEARTBEAT_TIMEOUT));
    // A ledger whose seeding nobody runs: its admissions are refused as "still seeding" (a 503 for
    // the caller), naming the ledger, and nothing is recorded.
    await coordinator.close();
    coordinator = undefined;
    const unseeded = wfOf(unique('unseeded'));
    taker = await startTaker('activity');
    const ledger = new LedgerClient();
    const scopes = { [ledger.constraints(unseeded)[0]!.key]: 'node=n1' };
    await expect(ledger.admit(ns.client, unseeded, { id: unique('a'), scopes, where: {} })).rejects.toThrow(
      new LedgerSeedingError(ledgerWorkflowId(unseeded.name)),
    );
    const updates = (await ledgerEvents(unseeded.name)).filter(
      (e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    );
    expect(updates).toEqual([]);
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
  }
}, 90_000);

it('a coordinator process frozen then SIGKILLed as the ledger’s task goes to its sticky queue: the next admission through another is answered', async () => {
  const wf = wfOf(unique('dead-sticky'));
  const hcl = `workflow = "ping"\ntask_queue_target = "node"\nconstraint {\n  kind   = "maxExecution"\n  value  = "5"\n  period = "1h"\n}\n`;
  const stack = await buildStack({
    temporalAddress: temporalAddress(),
    workflows: { [wf.name]: hcl },
    temporalBlock: `temporal {\n  address   = "${temporalAddress()}"\n  namespace = "${ns.namespace}"\n}`,
  });
  let frozen: number | undefined;
  try {
    // The process is the namespace's only ledger worker: the ledger's tasks go to it, then to its sticky queue.
    const p = await stack.startReplica();
    frozen = p.proc.pid;
    const api = stack.client('admin', p.url, 30_000);
    for (let i = 0; i < 2; i++) {
      const r = await api.request('POST', `/v1/workflows/${wf.name}/executions`, { target: { node: unique('node') } });
      expect(r.status).toBe(202);
    }
    const handle = ns.client.workflow.getHandle(ledgerWorkflowId(wf.name));
    const startedBy = (await ledgerEvents(wf.name))
      .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
      .map((e) => e.workflowTaskStartedEventAttributes!.identity);
    expect(startedBy.at(-1)).toBe(`coordinator-${p.proc.pid}@${os.hostname()}`);

    coordinator = await liveCoordinator(wf);
    process.kill(p.proc.pid, 'SIGSTOP');
    const killed = (async () => {
      // The admission's task is sent to the frozen process's sticky queue (its poll is still open at
      // the server): kill it once the task is started there, or after 3 s if it waits unstarted.
      const until = Date.now() + 3_000;
      let state: string | undefined;
      while (Date.now() < until) {
        const pending = (await handle.describe()).raw.pendingWorkflowTask;
        state = pending ? temporal.api.enums.v1.PendingWorkflowTaskState[pending.state!] : undefined;
        if (state === 'PENDING_WORKFLOW_TASK_STATE_STARTED') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      process.kill(p.proc.pid, 'SIGKILL');
      return { state };
    })();
    const answer = await admitted(coordinator, wf.name);
    const kill = await killed;
    process.stderr.write(
      `[ledger-dead-worker] admission answered ${answer.status} in ${answer.ms} ms; the frozen coordinator's task was ${kill.state ?? 'not pending'} when it was SIGKILLed\n`,
    );
    expect(answer.status).toBe(202);
    // The held task timed out after the ledger's task timeout (started), or moved off the sticky
    // queue after the ledger worker's 500 ms (never started): never the caller's 10 s.
    const timedOut = (await ledgerEvents(wf.name)).filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT);
    expect(timedOut).toHaveLength(1);
    const type = timedOut[0]!.workflowTaskTimedOutEventAttributes!.timeoutType;
    expect(type).toBe(
      kill.state === 'PENDING_WORKFLOW_TASK_STATE_STARTED'
        ? TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
        : TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
    );
  } finally {
    // A failure before the SIGKILL must not leave a frozen process behind.
    try {
      if (frozen !== undefined) process.kill(frozen, 'SIGKILL');
    } catch {
      // already gone
    }
    await stack.stop();
  }
}, 120_000);
