// The shared audit journal (src/audit/) against the real dev server: two coordinator replicas
// append to one journal and the console of either shows both replicas' lines, each exactly once;
// the trail outlives the coordinators that wrote it; and a journal that does not answer slows no
// trigger: the lines are dropped and counted, and the console says it shows this replica only.
import * as net from 'node:net';
import { createConsole } from '../../src/coordinator/console/console';
import type { RouteRule } from '../../src/config/coordinator';
import type { WorkflowConfig } from '../../src/config/workflow';
import { Registry } from 'prom-client';
import { AuditJournal, journaled } from '../../src/audit/journal';
import type { JournalLine } from '../../src/audit/state';
import {
  ADMIN,
  TEST_RULES,
  coordinatorConfig,
  coordinatorTestFile,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { consoleRules, headerIdentity } from '../helpers/console';
import { metricSample } from '../helpers/metrics-text';
import { eventually, unique } from '../helpers/temporal';

const file = coordinatorTestFile();
const ALICE = 'spiffe://medic.test/sre/alice';
const BOB = 'spiffe://medic.test/sre/bob';
const PEOPLE: RouteRule = {
  name: 'people',
  method: '*',
  routePatterns: ['/v1/*'],
  uris: ['spiffe://medic.test/sre/*'],
  allowPublic: false,
  skipLogMatch: false,
};

interface AuditView {
  entries: JournalLine[];
  scope: string;
  unavailable?: string;
}

/** A coordinator with the console, callers named by the x-test-identity header. */
async function replica(
  workflows: WorkflowConfig[],
  journal: { id: string; replica: string; temporal?: ReturnType<typeof coordinatorConfig>['temporal']; callTimeoutMs?: number },
  approvalQueue: string,
): Promise<TestCoordinator> {
  const web = createConsole({ config: { sessionTtlMs: 3_600_000 }, log: () => {} });
  const c = await testCoordinator(workflows, {
    config: { routeRules: [...TEST_RULES, PEOPLE, ...consoleRules([ADMIN])] },
    deps: {
      identify: web.identify(headerIdentity),
      plugins: [web.plugin],
      fleetLedgerId: unique('audit-fleet'),
      approvalQueue,
      auditJournal: { flushMs: 100, ...journal },
    },
  });
  file.coordinators.push(c);
  return c;
}

async function view(c: TestCoordinator, url: string): Promise<AuditView> {
  const r = await c.app.inject({ url, headers: { 'x-test-identity': ADMIN } });
  expect(r.statusCode).toBe(200);
  const body = r.json() as AuditView & { refusals?: JournalLine[] };
  return { ...body, entries: body.entries ?? body.refusals! };
}

async function pause(c: TestCoordinator, workflow: string): Promise<void> {
  const r = await c.app.inject({
    method: 'POST',
    url: '/v1/pauses',
    headers: { 'x-test-identity': ADMIN },
    payload: { workflow, reason: 'audit journal test' },
  });
  expect(r.statusCode).toBe(201);
}

describe('two replicas on one journal', () => {
  const journalId = unique('medic-audit-journal');
  const paused = unique('auditPaused');
  const gated = unique('auditGated');
  const node = unique('node');
  const workflows = [
    workflowConfig(paused),
    workflowConfig(gated, { approval: { when: 'always', approvers: ['spiffe://medic.test/sre/*'], timeoutMs: 600_000 } }),
  ];
  const approvalQueue = unique('medic-approvals-audit');
  let a: TestCoordinator;
  let b: TestCoordinator;
  let approvalId: string;

  /** The refusal (written at A) and the approval (written at B), as the replica's console shows them. */
  async function bothLines(c: TestCoordinator): Promise<{ refused: JournalLine[]; approved: JournalLine[]; scope: string }> {
    const refusals = await view(c, '/ui/api/refusals');
    const audit = await view(c, `/ui/api/audit?workflow=${gated}`);
    return {
      refused: refusals.entries.filter((e) => e.workflow === paused),
      approved: audit.entries.filter((e) => e.decision === 'approval_approved'),
      scope: `${refusals.scope} ${audit.scope}`,
    };
  }

  beforeAll(async () => {
    a = await replica(workflows, { id: journalId, replica: 'replica-a' }, approvalQueue);
    b = await replica(workflows, { id: journalId, replica: 'replica-b' }, approvalQueue);
  });

  it('shows a refusal made at one replica and an approval made at the other, exactly once each, in the console of either', async () => {
    await pause(a, paused);
    expect((await trigger(a.app, paused, { target: { node }, reason: 'disk full' })).statusCode).toBe(429);
    const asked = await trigger(a.app, gated, { target: { node } }, { identity: ALICE });
    expect(asked.statusCode).toBe(202);
    approvalId = asked.json().approval_id as string;
    const approved = await b.app.inject({
      method: 'POST',
      url: `/v1/approvals/${approvalId}`,
      headers: { 'x-test-identity': BOB },
      payload: { decision: 'approve', reason: 'checked' },
    });
    expect(approved.statusCode).toBe(202);
    file.started.push(approved.json().workflow_id as string);

    for (const c of [a, b]) {
      const seen = await eventually(
        async () => {
          const v = await bothLines(c);
          return v.refused.length && v.approved.length ? v : undefined;
        },
        20_000,
        'both replicas lines in the console',
      );
      expect(seen.scope).toBe('all_replicas all_replicas');
      expect(seen.refused).toEqual([
        expect.objectContaining({
          decision: 'refused',
          replica: 'replica-a',
          identity: ADMIN,
          control: 'pause',
          target: { node },
        }),
      ]);
      expect(seen.approved).toEqual([
        expect.objectContaining({
          replica: 'replica-b',
          approver: BOB,
          identity: ALICE,
          approval_id: approvalId,
          reason: 'checked',
        }),
      ]);
    }
    // What the journal holds of a line is what the replica's audit log said, with its time.
    const [line] = (await bothLines(b)).refused;
    const logged = a.audit.filter((e) => e.decision === 'refused' && e.workflow === paused);
    expect(logged).toHaveLength(1);
    expect(line).toEqual({ ...logged[0], id: line!.id, time: line!.time, replica: 'replica-a' });
    // Every line meant for the journal reached it, none dropped.
    for (const c of [a, b]) {
      const meant = c.audit.filter(journaled).length;
      const metrics = async () => (await c.app.inject({ url: '/metrics' })).body;
      await eventually(
        async () => (metricSample(await metrics(), 'medic_audit_journal_lines_total') === meant ? true : undefined),
        20_000,
        'every journaled line to be accepted',
      );
      expect(metricSample(await metrics(), 'medic_audit_journal_dropped_total')).toBe(0);
    }
  }, 60_000);

  it('keeps the trail when the coordinators that wrote it are gone', async () => {
    await a.close();
    await b.close();
    file.coordinators.splice(file.coordinators.indexOf(a), 1);
    file.coordinators.splice(file.coordinators.indexOf(b), 1);
    const c = await replica(workflows, { id: journalId, replica: 'replica-c' }, approvalQueue);
    const seen = await eventually(
      async () => {
        const v = await bothLines(c);
        return v.scope === 'all_replicas all_replicas' ? v : undefined;
      },
      20_000,
      'the journal to answer the new coordinator',
    );
    expect(seen.refused.map((e) => e.replica)).toEqual(['replica-a']);
    expect(seen.approved.map((e) => [e.replica, e.approval_id])).toEqual([['replica-b', approvalId]]);
  }, 60_000);
});

describe('a journal that does not answer', () => {
  let silent: net.Server;
  const held: net.Socket[] = [];

  beforeAll(async () => {
    // A Temporal that accepts connections and never says a word.
    silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('slows no trigger: refusals answer, the lines are dropped and counted, the console shows this replica only, said so', async () => {
    const wf = unique('auditSilent');
    const { port } = silent.address() as net.AddressInfo;
    const c = await replica(
      [workflowConfig(wf)],
      {
        id: unique('medic-audit-journal'),
        replica: 'replica-d',
        temporal: { ...coordinatorConfig().temporal, address: `127.0.0.1:${port}` },
        callTimeoutMs: 1_000,
      },
      unique('medic-approvals-audit'),
    );
    await pause(c, wf);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await trigger(c.app, wf, { target: { node: `n${i}` } })).statusCode);
    expect(answers).toEqual([429, 429, 429]);

    const dropped = async (): Promise<number> =>
      metricSample((await c.app.inject({ url: '/metrics' })).body, 'medic_audit_journal_dropped_total', {
        reason: 'unavailable',
      });
    // Every line meant for the journal (the pause, three refusals) is dropped, once the batches timed out.
    const meant = c.audit.filter(journaled).length;
    expect(meant).toBe(4);
    await eventually(async () => ((await dropped()) === meant ? true : undefined), 20_000, 'the dropped lines to be counted');
    expect(c.logs.filter((l) => l.includes('audit journal') && l.includes('dropping lines'))).toHaveLength(1);
    expect(metricSample((await c.app.inject({ url: '/metrics' })).body, 'medic_audit_journal_lines_total')).toBe(0);

    const v = await view(c, `/ui/api/refusals`);
    expect(v.scope).toBe('this_replica');
    expect(v.unavailable).toBe('the audit journal did not answer: the audit journal did not answer within 1000 ms');
    expect(v.entries.filter((e) => e.workflow === wf).map((e) => [e.replica, e.target?.node])).toEqual([
      ['replica-d', 'n2'],
      ['replica-d', 'n1'],
      ['replica-d', 'n0'],
    ]);
  }, 60_000);

  it('holds a bounded number of lines while it waits: the oldest beyond it are dropped and counted apart', async () => {
    const { port } = silent.address() as net.AddressInfo;
    const registry = new Registry();
    const logs: string[] = [];
    const journal = new AuditJournal({
      temporal: { ...coordinatorConfig().temporal, address: `127.0.0.1:${port}` },
      registry,
      log: (m) => logs.push(m),
      ensureWorker: () => {},
      id: unique('medic-audit-journal'),
      batchLines: 1,
      maxBuffered: 2,
      callTimeoutMs: 500,
    });
    try {
      // The first line goes at once (a batch of one) and hangs; of the four after it, two wait, two are dropped.
      for (let i = 0; i < 5; i++) journal.append({ decision: 'refused', identity: null, workflow: `w${i}` });
      const dropped = async (reason: string) =>
        metricSample(await registry.metrics(), 'medic_audit_journal_dropped_total', { reason });
      expect(await dropped('overflow')).toBe(2);
      await eventually(
        async () => ((await dropped('unavailable')) === 3 ? true : undefined),
        10_000,
        'the three sent lines to fail',
      );
      expect(logs.filter((l) => l.includes('dropping lines'))).toHaveLength(1);
    } finally {
      await journal.close();
    }
  }, 30_000);
});
