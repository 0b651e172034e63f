// A ledger that cannot run is contained and visible: only the workflows it governs are refused
// (503 ledger_failed naming the ledger and the cause), /readyz and medic_ledger_failed say so,
// everything else is admitted, and terminating the ledger brings its workflows back. Each
// ledger's size and holds are gauges.
import { ledgerWorkflowId } from '../../src/ledger/client';
import { emptyState, LEDGER_STATE_VERSION } from '../../src/ledger/state';
import { LEDGER_QUEUE } from '../../src/naming/task-queues';
import { metricSample as metricValue } from '../helpers/metrics-text';
import { constraint, coordinatorTestFile, testCoordinator, trigger, workflowConfig } from '../helpers/coordinator';
import { eventually, unique } from '../helpers/temporal';

const MIN = 60_000;
const file = coordinatorTestFile();

async function metrics(app: Awaited<ReturnType<typeof testCoordinator>>['app']): Promise<string> {
  return (await app.inject({ method: 'GET', url: '/metrics' })).body;
}

describe('a ledger whose workflow task keeps failing', () => {
  it('refuses only the workflows it governs, with 503 naming it and why; /readyz and the gauge say so; terminating it heals', async () => {
    const [broken, healthy] = [unique('broken'), unique('healthy')];
    const wfs = [broken, healthy].map((name) => workflowConfig(name, { constraints: [constraint('maxExecution', 5, 60 * MIN)] }));
    // A ledger carrying state from a release newer than this one: this release's code refuses to run it.
    const ledger = ledgerWorkflowId(broken);
    await file.client.workflow.start('medicAdmissionLedger', {
      workflowId: ledger,
      taskQueue: LEDGER_QUEUE,
      args: [
        { workflow: broken, constraints: [] },
        { ...emptyState(), seeded: true, version: LEDGER_STATE_VERSION + 1 },
      ],
    });
    const c = await testCoordinator(wfs, { deps: { ledgerCheckIntervalMs: 300 } });
    file.coordinators.push(c);
    const ok = await trigger(c.app, healthy, { target: { node: unique('n') } });
    expect(ok.statusCode).toBe(202);
    file.started.push(ok.json().workflow_id);

    // The periodic check finds it before any trigger does.
    await eventually(
      async () => (metricValue(await metrics(c.app), 'medic_ledger_failed', { ledger }) === 1 ? true : undefined),
      30_000,
      'medic_ledger_failed to be 1',
    );

    const refused = await trigger(c.app, broken, { target: { node: unique('n') } });
    expect(refused.statusCode).toBe(503);
    expect(refused.json().error).toBe('ledger_failed');
    expect(refused.json().details.ledger).toBe(ledger);
    expect(refused.json().details.reason).toContain(`version ${LEDGER_STATE_VERSION + 1}`);
    expect(refused.json().details.started).toBe(false);
    expect(refused.headers['retry-after']).toBe('30');
    // Nothing started for it.
    const { count } = await file.client.workflow.count(`MedicWorkflow = '${broken}'`);
    expect(count).toBe(0);

    // Contained: the other workflow is admitted as before.
    const second = await trigger(c.app, healthy, { target: { node: unique('n') } });
    expect(second.statusCode).toBe(202);
    file.started.push(second.json().workflow_id);

    const ready = await c.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().ledgers_failed).toEqual([expect.objectContaining({ ledger })]);

    // The operator's remedy: terminate it; the next admission starts and seeds a new ledger.
    await file.client.workflow.getHandle(ledger).terminate('test: the ledger cannot run');
    const healed = await trigger(c.app, broken, { target: { node: unique('n') } });
    expect(healed.statusCode).toBe(202);
    file.started.push(healed.json().workflow_id);
    expect(metricValue(await metrics(c.app), 'medic_ledger_failed', { ledger })).toBe(0);
    expect((await c.app.inject({ method: 'GET', url: '/readyz' })).json().ledgers_failed).toEqual([]);
  }, 90_000);
});

describe("a ledger's size", () => {
  it('is exported as its state bytes, capacity and holds (one per admission in a window)', async () => {
    const name = unique('sized');
    const wf = workflowConfig(name, { constraints: [constraint('maxExecution', 10, 60 * MIN)] });
    const c = await testCoordinator([wf], { deps: { ledgerCheckIntervalMs: 300 } });
    file.coordinators.push(c);
    for (let i = 0; i < 3; i++) {
      const r = await trigger(c.app, name, { target: { node: unique('n') } });
      expect(r.statusCode).toBe(202);
      file.started.push(r.json().workflow_id);
    }
    const ledger = ledgerWorkflowId(name);
    // The gauges are what the ledger carries: its bytes as JSON, and one hold per admission.
    const handle = file.client.workflow.getHandle(ledger);
    const text = await eventually(async () => {
      const [t, state] = await Promise.all([metrics(c.app), handle.query<object>('state')]);
      const sized = metricValue(t, 'medic_ledger_state_bytes', { ledger }) === JSON.stringify(state).length;
      return sized && metricValue(t, 'medic_ledger_holds', { ledger }) === 3 ? t : undefined;
    }, 30_000);
    const state = await handle.query<{ version: number }>('state');
    expect(metricValue(text, 'medic_ledger_capacity_bytes', { ledger })).toBe(1024 * 1024);
    expect(state.version).toBe(LEDGER_STATE_VERSION);
  }, 60_000);
});
