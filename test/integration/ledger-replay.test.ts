// The ledgers' recorded histories replay against the current ledger bundle: a change to a ledger
// workflow that would break a ledger running under the previous release fails here.
//
// With MEDIC_RECORD_HISTORIES=1 the scenarios below drive both ledgers on the dev server through
// every kind of event they write (seeding, batched admissions and claims, announces, releases,
// orphan sweeps, continue-as-new with the carried state) and record their histories under
// test/fixtures/ledger-histories/<ledger code level>/, never over an existing file.
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ROLLOVER_EVENTS } from '../../src/ledger/run-options';
import { LedgerClient, ledgerWorkflowId } from '../../src/ledger/client';
import { createLedgerActivities } from '../../src/ledger/activities';
import { addedFleetLedgerActivities, createFleetLedgerActivities } from '../../src/ledger/fleet/activities';
import { LEDGER_ACTIVITY_QUEUE } from '../../src/ledger/messages';
import { FleetLedgerClient } from '../../src/ledger/fleet/client';
import type { Claim, PlaceSeed } from '../../src/ledger/fleet/state';
import type { LedgerConstraint } from '../../src/ledger/state';
import { constraintKey } from '../../src/config/workflow';
import { LEDGER_QUEUE } from '../../src/naming/task-queues';
import { ledgerHistoryFiles, readLedgerHistory, recordLedgerHistory } from '../helpers/histories';
import { constraint, workflowConfig } from '../helpers/coordinator';
import { connectClient, connectWorkerConnection, eventually, unique } from '../helpers/temporal';
import { createApprovalActivities } from '../../src/approval/activities';
import { requestApproval, decideApproval } from '../../src/approval/client';
import { APPROVAL_CODE_LEVEL, approvalWorkflowId } from '../../src/approval/messages';
import { approvalRequest } from '../helpers/approval';
import { AUDIT_CODE_LEVEL, AUDIT_WORKFLOW_TYPE, appendSignal, searchQuery } from '../../src/audit/messages';
import type { JournalLine } from '../../src/audit/state';

const MIN = 60_000;
const recording = process.env.MEDIC_RECORD_HISTORIES === '1';

function ledgerBundle(): { codePath: string } {
  const codePath = process.env.MEDIC_TEST_LEDGER_BUNDLE;
  if (!codePath) throw new Error('no ledger bundle: integration tests need the jest global setup');
  return { codePath };
}

(recording ? describe.skip : describe)('recorded ledger histories', () => {
  const files = ledgerHistoryFiles();

  it('cover both ledgers, each through a continue-as-new', () => {
    const names = files.map((f) => f.split('/')[1]);
    for (const needed of [
      'admission-ledger-first-run',
      'admission-ledger-carried',
      'fleet-ledger-first-run',
      'fleet-ledger-carried',
    ])
      expect(names).toContain(`${needed}.history.binpb`);
  });

  it('cover the approval workflow: a decision (after refused ones) and an expiry', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        `${APPROVAL_CODE_LEVEL}/approval-decided.history.binpb`,
        `${APPROVAL_CODE_LEVEL}/approval-expired.history.binpb`,
      ]),
    );
  });

  it('cover the audit journal through a continue-as-new', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        `${AUDIT_CODE_LEVEL}/audit-journal-first-run.history.binpb`,
        `${AUDIT_CODE_LEVEL}/audit-journal-carried.history.binpb`,
      ]),
    );
  });

  it.each(files)('replay without non-determinism: %s', async (file) => {
    await Worker.runReplayHistory({ workflowBundle: ledgerBundle() }, readLedgerHistory(file));
  });
});

(recording ? describe : describe.skip)('recording ledger histories (MEDIC_RECORD_HISTORIES=1)', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let connection: NativeConnection;
  let worker: Worker;
  let added: Worker;
  let running: Promise<unknown>;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    connection = await connectWorkerConnection();
    worker = await Worker.create({
      connection,
      taskQueue: LEDGER_QUEUE,
      workflowBundle: ledgerBundle(),
      activities: { ...createLedgerActivities(() => client), ...createFleetLedgerActivities(() => client) },
    });
    added = await Worker.create({
      connection,
      taskQueue: LEDGER_ACTIVITY_QUEUE,
      activities: { ...addedFleetLedgerActivities(() => client) },
    });
    running = Promise.all([worker.run(), added.run()]);
  });
  afterAll(async () => {
    worker.shutdown();
    added.shutdown();
    await running;
    await connection.close();
    await closeClient();
  });

  /**
   * Whether to send more while the first run lasts: up to its rollover threshold. Past it the
   * ledger continues as new at its first quiet moment, which this waits for (false once it has).
   */
  async function filling(handle: WorkflowHandle, firstRunId: string): Promise<boolean> {
    for (;;) {
      const d = await handle.describe();
      if (d.runId !== firstRunId) return false;
      if (d.historyLength <= ROLLOVER_EVENTS) return true;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The first run's history (it ended in continue-as-new) and the second's so far. */
  async function recordRuns(id: string, firstRunId: string, name: string): Promise<void> {
    await recordLedgerHistory(`${name}-first-run`, client.workflow.getHandle(id, firstRunId));
    await recordLedgerHistory(`${name}-carried`, client.workflow.getHandle(id));
  }

  it('the admission ledger: seeding, announces, batched admissions, a release, an orphan sweep, continue-as-new', async () => {
    const name = unique('recorded');
    const wf = workflowConfig(name, {
      constraints: [constraint('concurrency', 2, 15 * MIN), constraint('maxExecution', 2, 60 * MIN, true)],
    });
    const ledger = new LedgerClient(undefined, 2_000);
    const scopes = Object.fromEntries(wf.constraints.map((c) => [constraintKey(c, wf.constraints), 'global']));
    await ledger.announce(client, wf);
    // A dead admission: nothing starts for it, the sweep frees it past the grace.
    expect((await ledger.admit(client, wf, { id: unique('dead'), scopes, where: { execution: unique('never') } })).ok).toBe(true);
    const kept = unique('kept');
    expect((await ledger.admit(client, wf, { id: kept, scopes, where: {} })).ok).toBe(true);
    expect((await ledger.admit(client, wf, { id: unique('refused'), scopes, where: {} })).ok).toBe(false);
    await ledger.release(client, wf, kept);
    // The orphan is swept once the grace passes: then the window has room again.
    await eventually(
      async () => ((await ledger.admit(client, wf, { id: unique('after-sweep'), scopes, where: {} })).ok ? true : undefined),
      30_000,
      'the orphan sweep to free the dead admission',
    );
    // Batches of admissions, each in a scope of its own, until the ledger continues as new.
    const handle = client.workflow.getHandle(ledgerWorkflowId(name));
    const firstRunId = (await handle.describe()).runId;
    for (let i = 0; await filling(handle, firstRunId); i++) {
      const batch = Array.from({ length: 4 }, (_, j) =>
        ledger.admit(client, wf, {
          id: unique('bulk'),
          scopes: Object.fromEntries(Object.keys(scopes).map((k) => [k, `node=n${i}-${j}`])),
          where: {},
        }),
      );
      await Promise.all(batch);
      if (i > 2_000) throw new Error('the admission ledger never continued as new');
    }
    await ledger.admit(client, wf, { id: unique('carried'), scopes, where: {} });
    await ledger.announce(client, wf);
    await recordRuns(ledgerWorkflowId(name), firstRunId, 'admission-ledger');
  }, 240_000);

  it('the fleet ledger: seeding, claims with node and budgets, a release, sweeps, continue-as-new', async () => {
    const id = unique('medic-fleet-ledger-recorded');
    const fleet = new FleetLedgerClient(
      () => {},
      () => ['recordedDisruptive'],
      10_000,
      id,
      { orphanGraceMs: 2_000 },
    );
    const claim = (node: string, over: Partial<Claim> = {}): Claim => ({
      id: unique('recordedDisruptive'),
      workflow: 'recordedDisruptive',
      trigger: 'spiffe://medic.test/recorder',
      node,
      budgets: [{ key: 'dcs|dc1', budget: 'dcs', scope: 'datacenter=dc1', limit: 2 }],
      holdMaxMs: 60 * MIN,
      ...over,
    });
    const a = claim('node-a');
    expect((await fleet.claim(client, a)).ok).toBe(true);
    expect((await fleet.claim(client, claim('node-a'))).ok).toBe(false);
    expect((await fleet.claim(client, claim('node-b'))).ok).toBe(true);
    expect((await fleet.claim(client, claim('node-c'))).ok).toBe(false);
    await fleet.release(client, [a.id]);
    // A workflow's own constraints in its claims (fleet_constraints): its announce makes the
    // ledger read its executions (none), then claims are admitted or refused by its window.
    const places: PlaceSeed[] = [{ key: 'maxExecution#0', kind: 'maxExecution', periodMs: 60 * MIN, scope: 'global' }];
    const constraints: LedgerConstraint[] = [{ key: 'maxExecution#0', kind: 'maxExecution', value: 1, periodMs: 60 * MIN }];
    const admitted = (node: string): Claim => {
      const c = claim(node, { workflow: 'recordedConstrained', budgets: [] });
      return {
        ...c,
        admit: { request: { constraints, scopes: { 'maxExecution#0': 'global' }, where: { execution: c.id } }, places },
      };
    };
    await fleet.announce(client, 'recordedConstrained', constraints, places);
    const k1 = admitted('node-k1');
    expect((await fleet.claim(client, k1)).ok).toBe(true);
    expect((await fleet.claim(client, admitted('node-k2'))).ok).toBe(false);
    await fleet.release(client, [k1.id], true); // never started: its window place is free again
    expect((await fleet.claim(client, admitted('node-k3'))).ok).toBe(true);
    // Holds whose executions never start are orphans: the sweep ends them past the grace.
    await eventually(async () => ((await fleet.claim(client, claim('node-d'))).ok ? true : undefined), 60_000, 'the sweep');
    const handle = client.workflow.getHandle(id);
    const firstRunId = (await handle.describe()).runId;
    for (let i = 0; await filling(handle, firstRunId); i++) {
      await Promise.all(Array.from({ length: 4 }, (_, j) => fleet.claim(client, claim(`bulk-${i}-${j}`, { budgets: [] }))));
      if (i > 2_000) throw new Error('the fleet ledger never continued as new');
    }
    await fleet.claim(client, claim('node-after', { budgets: [] }));
    // The governed workflow's state was carried: its window has room once k3 (never started) is swept.
    await eventually(
      async () => ((await fleet.claim(client, admitted('node-carried'))).ok ? true : undefined),
      60_000,
      'the sweep',
    );
    await recordRuns(id, firstRunId, 'fleet-ledger');
  }, 240_000);

  it('the approval workflow: refused decisions (nothing written), an approval, an expiry', async () => {
    const queue = unique('medic-approvals-recording');
    const approvalWorker = await Worker.create({
      connection,
      taskQueue: queue,
      workflowBundle: ledgerBundle(),
      activities: createApprovalActivities({ audit: () => {}, count: () => {} }),
    });
    const done = approvalWorker.run();
    try {
      const request = (id: string, timeoutMs: number) =>
        approvalRequest({ id, timeoutMs, when: 'beyond_budget', approvers: ['spiffe://example.com/sre/*'] });
      const decided = unique('decided');
      await requestApproval(client, request(decided, 600_000), queue);
      const as = (identity: string, verdict: 'approve' | 'deny' = 'approve') =>
        decideApproval(client, decided, { identity, verdict, via: 'api' });
      expect((await as('spiffe://example.com/sre/alice')).ok).toBe(false);
      expect((await as('spiffe://example.com/dev/dave')).ok).toBe(false);
      expect(await as('spiffe://example.com/sre/bob')).toMatchObject({ ok: true, applied: true });
      await client.workflow.getHandle(approvalWorkflowId(decided)).result();
      await recordLedgerHistory('approval-decided', client.workflow.getHandle(approvalWorkflowId(decided)), APPROVAL_CODE_LEVEL);
      const expired = unique('expired');
      await requestApproval(client, request(expired, 1_000), queue);
      const state = await client.workflow.getHandle(approvalWorkflowId(expired)).result();
      expect(state.status).toBe('expired');
      await recordLedgerHistory('approval-expired', client.workflow.getHandle(approvalWorkflowId(expired)), APPROVAL_CODE_LEVEL);
    } finally {
      approvalWorker.shutdown();
      await done;
    }
  }, 60_000);

  it('the audit journal: batches from two replicas, a retried batch, searches, continue-as-new with the carried lines', async () => {
    const queue = unique('medic-audit-recording');
    const journalWorker = await Worker.create({ connection, taskQueue: queue, workflowBundle: ledgerBundle() });
    const done = journalWorker.run();
    try {
      const id = unique('medic-audit-journal-recorded');
      let n = 0;
      const batch = (replica: string, size: number): JournalLine[] =>
        Array.from({ length: size }, () => ({
          id: `${replica}-${++n}`,
          time: new Date(Date.UTC(2026, 11, 6) + n * 1_000).toISOString(),
          replica,
          decision: n % 3 ? 'started' : 'refused',
          identity: 'spiffe://medic.test/recorder',
          workflow: 'recorded',
          target: { node: `node-${n % 7}` },
        }));
      const append = (lines: JournalLine[]) =>
        client.workflow.signalWithStart(AUDIT_WORKFLOW_TYPE, {
          workflowId: id,
          taskQueue: queue,
          args: [],
          signal: appendSignal,
          signalArgs: [{ lines }],
        });
      const first = batch('replica-a', 3);
      await append(first);
      await append(batch('replica-b', 2));
      await append(first);
      const handle = client.workflow.getHandle(id);
      expect((await handle.query(searchQuery, {})).map((l) => l.id)).toEqual([
        'replica-b-5',
        'replica-b-4',
        'replica-a-3',
        'replica-a-2',
        'replica-a-1',
      ]);
      const firstRunId = (await handle.describe()).runId;
      for (let i = 0; (await handle.describe()).runId === firstRunId; i++) {
        await Promise.all(Array.from({ length: 8 }, (_, j) => append(batch(j % 2 ? 'replica-a' : 'replica-b', 1))));
        if (i > 2_000) throw new Error('the audit journal never continued as new');
      }
      await append(batch('replica-a', 1));
      const carried = await handle.query(searchQuery, { decisions: ['refused'], limit: 3 });
      expect(carried).toHaveLength(3);
      expect(carried.every((l) => l.decision === 'refused')).toBe(true);
      await recordLedgerHistory('audit-journal-first-run', client.workflow.getHandle(id, firstRunId), AUDIT_CODE_LEVEL);
      await recordLedgerHistory('audit-journal-carried', client.workflow.getHandle(id), AUDIT_CODE_LEVEL);
      await handle.terminate('recorded');
    } finally {
      journalWorker.shutdown();
      await done;
    }
  }, 240_000);
});
