// A ledger continues as new at a quiet moment, not in the middle of a burst: kept busy past
// ROLLOVER_EVENTS it goes on in the same run; once no update has come for ROLLOVER_QUIET_MS (in
// the ledger's own time) it starts its next run, which still counts what the first one admitted.
// Real coordinator and ledger worker, in a namespace of the file's own (no other file's worker
// takes, or stalls, this ledger's tasks).
import { randomUUID } from 'node:crypto';
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { ledgerWorkflowId } from '../../src/ledger/client';
import { releaseUpdate } from '../../src/ledger/messages';
import { ROLLOVER_EVENTS, ROLLOVER_MAX_EVENTS, ROLLOVER_QUIET_MS } from '../../src/ledger/run-options';
import {
  constraint,
  coordinatorConfig,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { testNamespace, type TestNamespace } from '../helpers/namespace';
import { unique } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const EventType = temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const HOUR = 3_600_000;

let ns: TestNamespace;
let coordinator: TestCoordinator | undefined;

beforeAll(async () => {
  ns = await testNamespace('ledger-rollover');
}, 60_000);

afterAll(async () => {
  await coordinator?.close();
  await ns.close();
});

/** When the workflow task that ran each event's handler started: the ledger's clock (Date.now() in the workflow). */
function taskStartedBefore(events: HistoryEvent[], index: number): number {
  for (let i = index; i >= 0; i--)
    if (events[i]!.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED) return tsToMs(events[i]!.eventTime);
  throw new Error(`no workflow task started before event ${index + 1}`);
}

it('busy past ROLLOVER_EVENTS it stays in its run; ROLLOVER_QUIET_MS without an update, it continues as new and still counts its admissions', async () => {
  const wf = workflowConfig(unique('rollover'), { constraints: [constraint('maxExecution', 2, HOUR, true)] });
  coordinator = await testCoordinator([wf], {
    config: { temporal: { ...coordinatorConfig().temporal, namespace: ns.namespace } },
  });
  // Two admissions fill the window; the first starts the ledger.
  for (let i = 0; i < 2; i++)
    expect((await trigger(coordinator.app, wf.name, { target: { node: unique('n') } })).statusCode).toBe(202);
  const handle = ns.client.workflow.getHandle(ledgerWorkflowId(wf.name));
  const first = await handle.describe();

  // Busy: one update after another (each writes its own workflow task) past the threshold, then
  // on for three quiet periods more, never ROLLOVER_QUIET_MS apart.
  const busy = (): Promise<boolean> => handle.executeUpdate(releaseUpdate, { args: [{ id: `not-held-${randomUUID()}` }] });
  let now = first;
  for (let n = 1; now.historyLength <= ROLLOVER_EVENTS && now.runId === first.runId; n++) {
    expect(await busy()).toBe(false);
    if (n % 50 === 0) now = await handle.describe();
  }
  const until = Date.now() + 3 * ROLLOVER_QUIET_MS;
  while (Date.now() < until) {
    await busy();
    await new Promise((r) => setTimeout(r, ROLLOVER_QUIET_MS / 10));
  }
  const stillFirst = await handle.describe();
  expect(stillFirst.runId).toBe(first.runId);
  expect(stillFirst.historyLength).toBeGreaterThan(ROLLOVER_EVENTS);
  expect(stillFirst.historyLength).toBeLessThan(ROLLOVER_MAX_EVENTS);

  // Quiet: the next run starts by itself.
  const next = await waitFor(
    'the ledger to continue as new',
    async () => {
      const d = await handle.describe();
      return d.runId !== first.runId ? d : undefined;
    },
    30_000,
  );
  const events = (await ns.client.workflow.getHandle(ledgerWorkflowId(wf.name), first.runId).fetchHistory()).events ?? [];
  const last = events.length - 1;
  expect(events[last]!.eventType).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW);
  const accepted = events.map((e, i) => (e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED ? i : -1));
  const lastUpdate = Math.max(...accepted);
  const quietFor = taskStartedBefore(events, last) - taskStartedBefore(events, lastUpdate);
  process.stderr.write(
    `[ledger-rollover] first run: ${events.length} events; continued as new ${quietFor} ms (ledger time) after its last update\n`,
  );
  expect(quietFor).toBeGreaterThanOrEqual(ROLLOVER_QUIET_MS);
  expect(next.runId).not.toBe(first.runId);

  // Nothing forgotten: the new run still holds the two admissions of the window.
  const refused = await trigger(coordinator.app, wf.name, { target: { node: unique('n') } });
  expect(refused.statusCode).toBe(429);
  expect(refused.json().details).toMatchObject({ constraint: { kind: 'maxExecution', value: 2 }, count: 2 });
}, 120_000);
