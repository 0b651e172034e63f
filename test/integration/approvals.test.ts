// Approvals against the real dev server, over real mTLS with certificates made by the test, on
// two coordinator replicas: a request answers 202 and starts nothing; the requester (four eyes)
// and an outsider are refused with 403 and nothing starts; an approval starts exactly once, also
// when two approvers press at once on two replicas; a denial; an expiry; beyond_budget exact with
// two replicas; Slack buttons signed (starts) and forged or stale (401, nothing started).
// Workflows are `ping` on node queues nobody polls, so a start runs until the test terminates it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as https from 'node:https';
import { parseArgs } from 'node:util';
import { approveCommand, approvalsCommand, denyCommand } from '../../src/cli/approvals';
import { runCommand } from '../../src/cli/run';
import type { Command } from '../../src/command/command';
import { emptyFleetSafety, type FleetSafetyConfig } from '../../src/config/fleet-safety';
import type { WorkflowConfig } from '../../src/config/workflow';
import type { RouteRule } from '../../src/config/coordinator';
import { idempotentExecutionId } from '../../src/coordinator/admission';
import { approvalStateQuery, approvalWorkflowId } from '../../src/approval/messages';
import { tlsCallerIdentity } from '../../src/coordinator/identity';
import { APPROVE_ACTION, DENY_ACTION } from '../../src/coordinator/slack-approvals';
import { signSlackRequest } from '../../src/coordinator/slack-command';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../../src/tls/certificates';
import type { AuditEntry } from '../../src/telemetry/audit';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { coordinatorTestFile, testCoordinator, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { request as httpsRequest, tlsAgent, type HttpsResponse } from '../helpers/https';
import { eventually, settledCount, unique } from '../helpers/temporal';

const TD = 'spiffe://medic.test';
const ALICE = `${TD}/sre/alice`;
const BOB = `${TD}/sre/bob`;
const CAROL = `${TD}/sre/carol`;
const DAVE = `${TD}/dev/dave`;
/** No route rule names her: the ACL refuses her before any approval logic. */
const EVE = `${TD}/ops/eve`;
const SECRET = 'approvals-test-signing-secret';
const TEAM = 'T0MEDIC';

const RULES: RouteRule[] = [
  {
    name: 'people',
    method: '*',
    routePatterns: ['/v1/*'],
    uris: [`${TD}/sre/*`, `${TD}/dev/*`],
    allowPublic: false,
    skipLogMatch: false,
  },
  {
    name: 'slack',
    method: 'POST',
    routePatterns: ['/v1/chat/slack', '/v1/chat/slack/interactions'],
    uris: [],
    allowPublic: true,
    skipLogMatch: false,
  },
];

const file = coordinatorTestFile();
const { started } = file;
const agents: Record<string, https.Agent> = {};
let ca: ReturnType<typeof createCertificateAuthority>;
let server: { cert: string; key: string };
let dir: string;
let sink: CaptureServer;

interface Replica {
  c: TestCoordinator;
  base: string;
}

beforeAll(async () => {
  ca = createCertificateAuthority('medic approvals test CA');
  server = issueServerCertificate(ca);
  for (const [name, id] of Object.entries({ alice: ALICE, bob: BOB, carol: CAROL, dave: DAVE, eve: EVE }))
    agents[name] = tlsAgent({ ca: ca.cert, ...issueClientCertificate(ca, id) });
  agents.slack = tlsAgent({ ca: ca.cert });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-approvals-'));
  sink = await startCaptureServer();
  fs.writeFileSync(path.join(dir, 'slack-secret'), `${SECRET}\n`);
  fs.writeFileSync(path.join(dir, 'slack-webhook'), `${sink.url}/slack-hook\n`);
});

afterAll(async () => {
  Object.values(agents).forEach((a) => a.destroy());
  await sink.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Two replicas with the same config, each listening on loopback with mTLS and its own Temporal connection. */
async function replicas(workflows: WorkflowConfig[], fleet?: Partial<FleetSafetyConfig>): Promise<Replica[]> {
  const out: Replica[] = [];
  // The replicas share one fleet ledger, as replicas do; other files' holds stay out of its budgets.
  const fleetLedgerId = unique('medic-fleet-ledger-approvals');
  // And an approvals queue of their own: no other coordinator runs (and audits) their requests.
  const approvalQueue = unique('medic-approvals-test');
  for (let i = 0; i < 2; i++) {
    const c = await testCoordinator(workflows, {
      config: {
        routeRules: RULES,
        ...(fleet && { fleet: { ...emptyFleetSafety(), ...fleet } }),
        chat: {
          signingSecretFile: path.join(dir, 'slack-secret'),
          approvalsWebhookUrlFile: path.join(dir, 'slack-webhook'),
          teamId: TEAM,
          maxSkewMs: 5 * 60_000,
          allow: [],
          identities: { UBOB: BOB, UALICE: ALICE },
        },
      },
      deps: {
        identify: tlsCallerIdentity,
        https: { key: server.key, cert: server.cert, ca: ca.cert },
        approvalQueue,
        fleetLedgerId,
      },
    });
    file.coordinators.push(c);
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    out.push({ c, base: `https://127.0.0.1:${(c.app.server.address() as { port: number }).port}` });
  }
  return out;
}

function approvalWorkflow(name: string, over: Partial<WorkflowConfig['approval']> = {}, wf: Partial<WorkflowConfig> = {}) {
  return workflowConfig(name, { approval: { when: 'always', approvers: [`${TD}/sre/*`], timeoutMs: 600_000, ...over }, ...wf });
}

function call(r: Replica, who: string, method: string, url: string, body?: unknown): Promise<HttpsResponse> {
  return httpsRequest(agents[who]!, method, `${r.base}${url}`, body);
}

function ask(r: Replica, who: string, workflow: string, target: Record<string, string>): Promise<HttpsResponse> {
  return call(r, who, 'POST', `/v1/workflows/${workflow}/executions`, { target, reason: 'disk is failing' });
}

function decide(r: Replica, who: string, id: string, decision: 'approve' | 'deny', reason?: string): Promise<HttpsResponse> {
  return call(r, who, 'POST', `/v1/approvals/${id}`, { decision, ...(reason && { reason }) });
}

/** Executions of a configured workflow in Temporal, once visibility has caught up. */
function executions(workflow: string, status?: 'Running'): Promise<number> {
  return settledCount(file.client, `MedicWorkflow = '${workflow}'${status ? ` AND ExecutionStatus = '${status}'` : ''}`);
}

function keep(res: HttpsResponse): string {
  const id = res.json<{ workflow_id: string }>().workflow_id;
  started.push(id);
  return id;
}

function audits(rs: Replica[], decision: string, approvalId: string): AuditEntry[] {
  return rs.flatMap((r) => r.c.audit).filter((e) => e.decision === decision && e.approval_id === approvalId);
}

/** medic_approvals_total{workflow} summed over the replicas, by outcome (zeros left out). */
async function approvalCounts(rs: Replica[], workflow: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of rs)
    for (const v of (await r.c.app.coordinatorMetrics.approvals.get()).values)
      if (v.labels.workflow === workflow && v.value > 0) out[v.labels.outcome!] = (out[v.labels.outcome!] ?? 0) + v.value;
  return out;
}

/** What medic_approvals_total{workflow} counted since the last call, by outcome: each step's delta. */
function countedSteps(rs: Replica[], workflow: string): () => Promise<Record<string, number>> {
  let before: Record<string, number> = {};
  return async () => {
    const now = await approvalCounts(rs, workflow);
    const delta = Object.fromEntries(
      Object.entries(now)
        .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
        .filter(([, v]) => v !== 0),
    );
    before = now;
    return delta;
  };
}

describe('asking', () => {
  it('answers 202 awaiting_approval, lists the request with who asked and until when, and starts nothing', async () => {
    const name = unique('approveAlways');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a] = rs;
    const node = unique('node');
    const res = await ask(a!, 'alice', name, { node });
    expect(res.status).toBe(202);
    const body = res.json<Record<string, string>>();
    expect(body).toEqual({
      status: 'awaiting_approval',
      approval_id: body.approval_id,
      workflow: name,
      target: { node },
      expires_at: body.expires_at,
      why: 'this workflow is always approved by a human first',
    });
    expect(body.approval_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(body.expires_at!) - Date.now()).toBeGreaterThan(590_000);
    const listed = await eventually(async () => {
      const l = await call(a!, 'bob', 'GET', '/v1/approvals');
      return l.json<{ approvals: Array<Record<string, unknown>> }>().approvals.find((x) => x.approval_id === body.approval_id);
    });
    expect(listed).toEqual({
      approval_id: body.approval_id,
      workflow: name,
      target: { node },
      params: {},
      reason: 'disk is failing',
      requester: ALICE,
      source: 'api',
      approvers: [`${TD}/sre/*`],
      when: 'always',
      why: 'this workflow is always approved by a human first',
      requested_at: expect.any(String),
      expires_at: body.expires_at,
    });
    expect(a!.c.audit.filter((e) => e.approval_id === body.approval_id).map((e) => e.decision)).toEqual(['awaiting_approval']);
    expect(await approvalCounts(rs, name)).toEqual({ requested: 1 });
    expect(await executions(name)).toBe(0);
    // The approval routes are governed by route rules like any other: deny by default.
    for (const [method, url] of [
      ['GET', '/v1/approvals'],
      ['POST', `/v1/approvals/${body.approval_id}`],
    ] as const) {
      const refused = await call(a!, 'eve', method, url, method === 'POST' ? { decision: 'approve' } : undefined);
      expect(refused.status).toBe(403);
      expect(refused.json()).toMatchObject({ error: 'forbidden', details: { identity: EVE, rules_consulted: ['people'] } });
    }
    // The Slack post carries both buttons for this request.
    const posted = await eventually(async () =>
      sink.requests.find((r) => r.path === '/slack-hook' && r.body.includes(body.approval_id!)),
    );
    const actions = (posted.json as { blocks: Array<{ elements?: Array<{ action_id: string; value: string }> }> }).blocks[1]!
      .elements!;
    expect(actions.map((e) => [e.action_id, e.value])).toEqual([
      [APPROVE_ACTION, body.approval_id],
      [DENY_ACTION, body.approval_id],
    ]);
  });
});

describe('a keyed trigger', () => {
  it('asks once per idempotency key, on either replica, also after the request was decided', async () => {
    const name = unique('approveKeyed');
    const [a, b] = (await replicas([approvalWorkflow(name)])) as [Replica, Replica];
    const body = { target: { node: unique('node') }, idempotency_key: unique('episode') };
    const url = `/v1/workflows/${name}/executions`;
    const [x, y] = await Promise.all([call(a, 'alice', 'POST', url, body), call(b, 'alice', 'POST', url, body)]);
    expect([x.status, y.status]).toEqual([202, 202]);
    const id = String(x.json().approval_id);
    expect(id).toMatch(/^key-[0-9a-f]{32}$/);
    expect(y.json().approval_id).toBe(id);
    const counted = countedSteps([a, b], name);
    expect(await counted()).toEqual({ requested: 1 });
    expect((await decide(a, 'bob', id, 'deny')).status).toBe(200);
    expect(await counted()).toEqual({ denied: 1 });
    const again = await call(b, 'alice', 'POST', url, body);
    expect(again.json()).toMatchObject({ status: 'awaiting_approval', approval_id: id });
    expect(await counted()).toEqual({});
    expect((await decide(b, 'carol', id, 'approve')).status).toBe(409);
    expect(await counted()).toEqual({ late: 1 });
    expect(await executions(name)).toBe(0);
    // Requested (and posted to Slack) once, whichever replica took it.
    const requested = await Promise.all([a, b].map((r) => r.c.app.coordinatorMetrics.approvals.get()));
    expect(
      requested
        .flatMap((m) => m.values.filter((v) => v.labels.workflow === name && v.labels.outcome === 'requested'))
        .map((v) => v.value),
    ).toEqual([1]);
    expect(
      sink.requests.filter((r) => r.path === '/slack-hook' && r.body.includes(id) && r.body.includes('Approval needed')),
    ).toHaveLength(1);
  });
});

describe('who may decide', () => {
  it('refuses the requester (four eyes) and an outsider with 403, starting nothing, and audits both', async () => {
    const name = unique('fourEyes');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const counted = countedSteps(rs, name);
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    expect(await counted()).toEqual({ requested: 1 });
    const handle = file.client.workflow.getHandle(approvalWorkflowId(id));
    // Its first workflow task has completed (started, task scheduled, started, completed, the expiry
    // timer): measure the history then.
    await eventually(async () => ((await handle.describe()).historyLength >= 5 ? true : undefined));
    const before = (await handle.describe()).historyLength;
    const self = await decide(b, 'alice', id, 'approve');
    expect(self.status).toBe(403);
    expect(self.json()).toEqual({
      error: 'forbidden',
      message: `four eyes: ${ALICE} asked for this start and may not decide it; another approver must`,
      details: { approval_id: id },
    });
    const outsider = await decide(a, 'dave', id, 'approve');
    expect(outsider.status).toBe(403);
    expect(outsider.json().message).toBe(`${DAVE} is not an approver of ${name} (approvers: ${TD}/sre/*)`);
    // A refused decision decides nothing: the request is still pending, and a real approver can still deny it.
    expect(audits([b], 'approval_forbidden', id).map((e) => e.identity)).toEqual([ALICE]);
    expect(audits([a], 'approval_forbidden', id).map((e) => e.identity)).toEqual([DAVE]);
    // The validator refused both: not one event was written to the request's history.
    expect((await handle.describe()).historyLength).toBe(before);
    expect(await counted()).toEqual({ forbidden: 2 });
    expect(await executions(name)).toBe(0);
    const deny = await decide(a, 'carol', id, 'deny', 'not now');
    expect(deny.status).toBe(200);
    expect(await counted()).toEqual({ denied: 1 });
    expect(await executions(name)).toBe(0);
  });
});

describe('approving', () => {
  it('starts exactly once: a second approval, and a retry, find the same execution', async () => {
    const name = unique('approveOnce');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const node = unique('node');
    const counted = countedSteps(rs, name);
    const id = (await ask(a, 'alice', name, { node })).json<{ approval_id: string }>().approval_id;
    expect(await counted()).toEqual({ requested: 1 });
    const first = await decide(b, 'bob', id, 'approve', 'looked at the graphs');
    expect(first.status).toBe(202);
    expect(await counted()).toEqual({ approved: 1, started: 1 });
    const workflowId = keep(first);
    expect(first.json()).toEqual({
      status: 'started',
      workflow: name,
      workflow_id: idempotentExecutionId(name, ALICE, 'approval', id),
      run_id: expect.any(String),
      task_queue: `medic:node:${node}`,
      approval_id: id,
      approver: BOB,
    });
    const again = await decide(a, 'carol', id, 'approve');
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ status: 'duplicate', workflow_id: workflowId, approver: BOB });
    const retry = await decide(b, 'bob', id, 'approve');
    expect(retry.json()).toMatchObject({ status: 'duplicate', workflow_id: workflowId });
    // Finding the execution again is neither an approval nor a start.
    expect(await counted()).toEqual({});
    // A deny after the approval changes nothing: 409, one audit line and one count.
    const late = await decide(a, 'carol', id, 'deny');
    expect(late.status).toBe(409);
    expect(late.json()).toMatchObject({ error: 'approval_decided', details: { approval_status: 'approved', approver: BOB } });
    expect(await counted()).toEqual({ late: 1 });
    expect(audits(rs, 'approval_late', id)).toEqual([
      {
        decision: 'approval_late',
        identity: CAROL,
        source: 'api',
        workflow: name,
        target: { node },
        approval_id: id,
        approver: BOB,
        reason: `deny came after the request was approved by ${BOB}; nothing changed`,
      },
    ]);
    expect(await executions(name)).toBe(1);
    const desc = await file.client.workflow.getHandle(workflowId).describe();
    expect(desc.memo?.reason).toBe('approved by spiffe://medic.test/sre/bob: disk is failing');
    expect(audits(rs, 'approval_approved', id).map((e) => e.approver)).toEqual([BOB]);
    expect(audits(rs, 'started', id).map((e) => [e.identity, e.approver, e.workflow_id])).toEqual([[ALICE, BOB, workflowId]]);
  });

  it('two approvers pressing at once on two replicas start exactly one execution (5 requests raced)', async () => {
    const name = unique('approveRace');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const ids = await Promise.all(
      Array.from(
        { length: 5 },
        async () => (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id,
      ),
    );
    const raced = await Promise.all(
      ids.map((id) => Promise.all([decide(a, 'bob', id, 'approve'), decide(b, 'carol', id, 'approve')])),
    );
    for (const [x, y] of raced) {
      expect([x.status, y.status].sort()).toEqual([200, 202]);
      expect(x.json().workflow_id).toBe(y.json().workflow_id);
      // Both answers name the one approver whose decision won.
      expect(x.json().approver).toBe(y.json().approver);
      started.push(String(x.json().workflow_id));
    }
    expect(await executions(name)).toBe(5);
    expect(new Set(raced.map(([x]) => x.json().workflow_id)).size).toBe(5);
    expect(await approvalCounts(rs, name)).toEqual({ requested: 5, approved: 5, started: 5 });
  });
});

describe('a refusal at approval time', () => {
  it('a pause set after the request refuses the approved start (429, still approved); approving again after resume starts it once', async () => {
    const name = unique('approvePaused');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    const paused = await call(b, 'bob', 'POST', '/v1/pauses', { workflow: name, reason: 'investigating' });
    expect(paused.status).toBe(201);
    const counted = countedSteps(rs, name);
    expect(await counted()).toEqual({ requested: 1 });
    const refused = await decide(a, 'bob', id, 'approve');
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({
      error: 'constraint_refused',
      details: { constraint: { kind: 'pause' }, approval_id: id, approval_status: 'approved', approver: BOB },
    });
    expect(audits(rs, 'approval_refused', id)).toHaveLength(1);
    expect(await counted()).toEqual({ approved: 1, refused: 1 });
    expect(await executions(name)).toBe(0);
    expect((await call(a, 'bob', 'DELETE', `/v1/pauses?workflow=${name}&reason=done`)).status).toBe(200);
    // Pauses are cached for a second at most: the retry passes once both replicas see the resume.
    let refusedAgain = 0;
    const started1 = await eventually(async () => {
      const r = await decide(b, 'carol', id, 'approve');
      if (r.status === 429) refusedAgain++;
      return r.status === 202 ? r : undefined;
    });
    const workflowId = keep(started1);
    expect(started1.json()).toMatchObject({ status: 'started', approver: BOB });
    expect((await decide(a, 'bob', id, 'approve')).json()).toMatchObject({ status: 'duplicate', workflow_id: workflowId });
    // Each refused retry counted once (and audited), the start once; the approval was counted when it was made.
    expect(await counted()).toEqual({ started: 1, ...(refusedAgain > 0 && { refused: refusedAgain }) });
    expect(audits(rs, 'approval_refused', id)).toHaveLength(1 + refusedAgain);
    expect(await executions(name)).toBe(1);
  });
});

describe('denying and expiring', () => {
  it('a denial starts nothing, is final, and is counted', async () => {
    const name = unique('deny');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    const deny = await decide(b, 'bob', id, 'deny', 'the node is being replaced');
    expect(deny.status).toBe(200);
    expect(deny.json()).toEqual({ status: 'denied', approval_id: id, workflow: name, approver: BOB });
    const approve = await decide(a, 'carol', id, 'approve');
    expect(approve.status).toBe(409);
    expect(approve.json()).toEqual({
      error: 'approval_decided',
      message: `approval ${id} was denied by ${BOB}; it cannot be decided now`,
      details: { approval_id: id, approval_status: 'denied', approver: BOB },
    });
    expect(await executions(name)).toBe(0);
    expect(audits(rs, 'approval_denied', id)).toEqual([
      expect.objectContaining({ identity: ALICE, approver: BOB, reason: 'the node is being replaced', workflow: name }),
    ]);
    expect(audits(rs, 'approval_late', id)).toEqual([
      expect.objectContaining({
        identity: CAROL,
        approver: BOB,
        reason: `approve came after the request was denied by ${BOB}; nothing changed`,
      }),
    ]);
    expect(await approvalCounts(rs, name)).toEqual({ requested: 1, denied: 1, late: 1 });
  });

  it('a request nobody decides expires: an audit line, nothing started, and deciding it later is 409', async () => {
    const name = unique('expire');
    const rs = await replicas([approvalWorkflow(name, { timeoutMs: 2_000 })]);
    const [a, b] = rs as [Replica, Replica];
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    const counted = countedSteps(rs, name);
    const line = await eventually(async () => audits(rs, 'approval_expired', id)[0], 30_000, 'the expiry audit line');
    expect(line).toMatchObject({ identity: ALICE, workflow: name, source: 'api' });
    expect(line.reason).toContain('nobody decided within 2 s');
    // Counted before its audit line was written, by the coordinator whose ledger worker ran the expiry.
    expect(await counted()).toEqual({ requested: 1, expired: 1 });
    const late = await decide(b, 'bob', id, 'approve');
    expect(late.status).toBe(409);
    expect(late.json().details).toEqual({ approval_id: id, approval_status: 'expired' });
    expect(await counted()).toEqual({ late: 1 });
    expect(audits(rs, 'approval_late', id)).toEqual([
      expect.objectContaining({ identity: BOB, reason: 'approve came after the request was expired; nothing changed' }),
    ]);
    expect(audits(rs, 'approval_late', id)[0]).not.toHaveProperty('approver');
    expect(await executions(name)).toBe(0);
    expect(audits(rs, 'approval_expired', id)).toHaveLength(1);
  });
});

describe('beyond_budget', () => {
  /** Two replicas, a disruptive beyond_budget workflow, a budget of 1 per datacenter taken by a first trigger (started, no approval). */
  async function budgetOfOneTaken(prefix: string) {
    const name = unique(prefix);
    const dc = unique('dc');
    const rs = await replicas([approvalWorkflow(name, { when: 'beyond_budget' }, { disruptive: true })], {
      budgets: [{ name: unique('one-per-dc'), per: 'datacenter', max: 1 }],
    });
    const [a, b] = rs as [Replica, Replica];
    const counted = countedSteps(rs, name);
    const first = await ask(a, 'alice', name, { node: unique('n'), datacenter: dc });
    expect(first.status).toBe(202);
    expect(first.json().status).toBe('started');
    keep(first);
    expect(await counted()).toEqual({});
    return { name, dc, rs, a, b, counted };
  }

  it('with two replicas and a budget of 1: the second trigger waits, its approval makes 2 running, a third approval is refused', async () => {
    const { name, dc, rs, a, b, counted } = await budgetOfOneTaken('beyond');
    const second = await ask(b, 'alice', name, { node: unique('n'), datacenter: dc });
    expect(second.status).toBe(202);
    expect(second.json().status).toBe('awaiting_approval');
    expect(second.json().why).toContain('allows 1 concurrent disruptive remediations');
    expect(await executions(name, 'Running')).toBe(1);
    const approved = await decide(a, 'bob', String(second.json().approval_id), 'approve');
    expect(approved.status).toBe(202);
    keep(approved);
    expect(audits(rs, 'approval_beyond_budget', String(second.json().approval_id))).toHaveLength(1);
    expect(await counted()).toEqual({ requested: 1, approved: 1, started: 1 });
    expect(await executions(name, 'Running')).toBe(2);

    const third = await ask(a, 'alice', name, { node: unique('n'), datacenter: dc });
    expect(third.json().status).toBe('awaiting_approval');
    const refused = await decide(b, 'carol', String(third.json().approval_id), 'approve');
    expect(refused.status).toBe(429);
    expect(refused.json()).toMatchObject({
      error: 'constraint_refused',
      details: { constraint: { kind: 'budget', limit: 1 }, count: 2, approval_status: 'approved', approver: CAROL },
    });
    expect(audits(rs, 'approval_refused', String(third.json().approval_id))).toHaveLength(1);
    expect(await counted()).toEqual({ requested: 1, approved: 1, refused: 1 });
    expect(await executions(name, 'Running')).toBe(2);
    expect(await executions(name)).toBe(2);
  });

  it('with two replicas and a budget of 1 taken: two approvals pressed at once on the two replicas start exactly one beyond it (2 running), refuse the other, and a trigger at that moment waits', async () => {
    const { name, dc, rs, a, b, counted } = await budgetOfOneTaken('beyondRace');
    const asked = await Promise.all([a, b].map((r) => ask(r, 'alice', name, { node: unique('n'), datacenter: dc })));
    expect(asked.map((r) => r.json().status)).toEqual(['awaiting_approval', 'awaiting_approval']);
    const ids = asked.map((r) => String(r.json().approval_id));
    expect(await counted()).toEqual({ requested: 2 });

    // Each approval may exceed the budget by its own one only: the ledger takes the two claims
    // (limit + 1 each) one after the other, so the second sees 2 held; an ordinary claim sees it full.
    const [x, y, third] = await Promise.all([
      decide(a, 'bob', ids[0]!, 'approve'),
      decide(b, 'carol', ids[1]!, 'approve'),
      ask(b, 'alice', name, { node: unique('n'), datacenter: dc }),
    ]);
    expect([x.status, y.status].sort()).toEqual([202, 429]);
    const [won, lost] = x.status === 202 ? [x, y] : [y, x];
    const [wonId, lostId] = x.status === 202 ? ids : [ids[1]!, ids[0]!];
    keep(won);
    expect(won.json()).toMatchObject({ status: 'started', approval_id: wonId });
    expect(lost.json()).toMatchObject({
      error: 'constraint_refused',
      details: { constraint: { kind: 'budget', limit: 1 }, count: 2, approval_id: lostId, approval_status: 'approved' },
    });
    expect(third.status).toBe(202);
    expect(third.json().status).toBe('awaiting_approval');
    expect(third.json().why).toContain('allows 1 concurrent disruptive remediations');

    expect(audits(rs, 'approval_beyond_budget', wonId!)).toHaveLength(1);
    expect(audits(rs, 'approval_beyond_budget', lostId!)).toHaveLength(0);
    expect(audits(rs, 'approval_refused', lostId!)).toHaveLength(1);
    expect(audits(rs, 'approval_refused', wonId!)).toHaveLength(0);
    expect(await counted()).toEqual({ requested: 1, approved: 2, started: 1, refused: 1 });
    expect(await executions(name, 'Running')).toBe(2);
    expect(await executions(name)).toBe(2);
  });
});

describe('Slack buttons', () => {
  function press(
    r: Replica,
    user: string,
    id: string,
    action: string,
    opts: { secret?: string; timestamp?: number; team?: string } = {},
  ): Promise<HttpsResponse> {
    const payload = {
      type: 'block_actions',
      team: { id: opts.team ?? TEAM },
      user: { id: user, team_id: opts.team ?? TEAM },
      actions: [{ action_id: action, value: id, type: 'button' }],
      response_url: 'https://hooks.slack.com/actions/T0MEDIC/1/abc',
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const ts = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
    return httpsRequest(agents.slack!, 'POST', `${r.base}/v1/chat/slack/interactions`, undefined, {
      body,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-slack-request-timestamp': ts,
        'x-slack-signature': signSlackRequest(opts.secret ?? SECRET, ts, body),
      },
    });
  }

  it('a forged or stale press is 401 and starts nothing; a signed press by a mapped approver starts it', async () => {
    const name = unique('slackApprove');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    const counted = countedSteps(rs, name);
    expect(await counted()).toEqual({ requested: 1 });
    const unknownCounted = countedSteps(rs, '_unknown');
    await unknownCounted();

    const forged = await press(b, 'UBOB', id, APPROVE_ACTION, { secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    expect(forged.json()).toEqual({
      error: 'unauthorized',
      message: 'request signature refused: signature does not match',
      details: {},
    });
    const stale = await press(b, 'UBOB', id, APPROVE_ACTION, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(stale.status).toBe(401);
    expect(stale.json().message).toBe('request signature refused: stale request timestamp');
    // The requester's own Slack user is refused too (four eyes), and an unmapped user may not decide.
    const self = await press(b, 'UALICE', id, APPROVE_ACTION);
    expect(self.status).toBe(200);
    expect(self.json().text).toContain('four eyes');
    const unmapped = await press(b, 'USTRANGER', id, APPROVE_ACTION);
    expect(unmapped.json().text).toContain('has no identity in chat.identities');
    expect(await executions(name)).toBe(0);
    // Forged and stale presses never reach the approvals; the requester's counts under the workflow,
    // the unmapped user's (who names no request it may see) under _unknown.
    expect(await counted()).toEqual({ forbidden: 1 });
    expect(await unknownCounted()).toEqual({ forbidden: 1 });

    const signed = await press(b, 'UBOB', id, APPROVE_ACTION);
    expect(signed.status).toBe(200);
    const workflowId = idempotentExecutionId(name, ALICE, 'approval', id);
    expect(signed.json()).toEqual({ response_type: 'ephemeral', text: `Approved \`${id}\`: started ${workflowId}.` });
    started.push(workflowId);
    expect(await executions(name)).toBe(1);
    expect(audits(rs, 'approval_approved', id)).toEqual([expect.objectContaining({ approver: BOB, source: 'slack' })]);
    expect(await counted()).toEqual({ approved: 1, started: 1 });
  });

  it('a signed Deny press denies the request as the mapped approver: nothing starts, an audit line, and a later press is late', async () => {
    const name = unique('slackDeny');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    const counted = countedSteps(rs, name);
    expect(await counted()).toEqual({ requested: 1 });

    const denied = await press(b, 'UBOB', id, DENY_ACTION);
    expect(denied.status).toBe(200);
    expect(denied.json()).toEqual({ response_type: 'ephemeral', text: `Denied approval \`${id}\`.` });
    expect(audits(rs, 'approval_denied', id)).toEqual([
      expect.objectContaining({
        identity: ALICE,
        approver: BOB,
        source: 'slack',
        workflow: name,
        reason: `via Slack by slack:${TEAM}/UBOB`,
      }),
    ]);
    expect(await counted()).toEqual({ denied: 1 });

    const later = await press(a, 'UBOB', id, APPROVE_ACTION);
    expect(later.status).toBe(200);
    expect(later.json().text).toBe(`Approval \`${id}\`: approval ${id} was denied by ${BOB}; it cannot be decided now`);
    expect(audits(rs, 'approval_late', id)).toEqual([expect.objectContaining({ identity: BOB, source: 'slack', approver: BOB })]);
    expect(await counted()).toEqual({ late: 1 });
    expect(await executions(name)).toBe(0);
  });

  it('a signed press from a workspace chat { } does not name is refused (403): nothing decided or started, one audit line', async () => {
    const name = unique('slackForeign');
    const rs = await replicas([approvalWorkflow(name)]);
    const [a, b] = rs as [Replica, Replica];
    const id = (await ask(a, 'alice', name, { node: unique('node') })).json<{ approval_id: string }>().approval_id;
    const unknownCounted = countedSteps(rs, '_unknown');
    await unknownCounted();

    const foreign = await press(b, 'UBOB', id, APPROVE_ACTION, { team: 'T0OTHER' });
    expect(foreign.status).toBe(403);
    expect(foreign.json()).toEqual({
      error: 'forbidden',
      message: 'this Slack workspace may not use this coordinator',
      details: {},
    });
    expect(audits(rs, 'approval_forbidden', id)).toEqual([
      {
        decision: 'approval_forbidden',
        identity: 'slack:T0OTHER/UBOB',
        source: 'slack',
        approval_id: id,
        reason: 'the Slack workspace is not the one chat { } names',
      },
    ]);
    expect(await unknownCounted()).toEqual({ forbidden: 1 });
    expect(await approvalCounts(rs, name)).toEqual({ requested: 1 });
    const state = await file.client.workflow.getHandle(approvalWorkflowId(id)).query(approvalStateQuery);
    expect(state.status).toBe('pending');
    expect(await executions(name)).toBe(0);
  });
});

describe('the CLI verbs', () => {
  /** Runs a verb in-process against replica `r` as `who` (certificate files written by the test). */
  async function medic(
    cmd: Command,
    r: Replica,
    who: string,
    args: string[],
  ): Promise<{ code: number; out: string; err: string }> {
    const ids: Record<string, string> = { alice: ALICE, bob: BOB };
    const files = path.join(dir, who);
    if (!fs.existsSync(files)) {
      fs.mkdirSync(files);
      const pair = issueClientCertificate(ca, ids[who]!);
      fs.writeFileSync(path.join(files, 'cert.pem'), pair.cert);
      fs.writeFileSync(path.join(files, 'key.pem'), pair.key);
      fs.writeFileSync(path.join(files, 'ca.pem'), ca.cert);
    }
    let out = '';
    let err = '';
    const sink = (write: (s: string) => void) => ({ write: (s: string) => (write(s), true) }) as unknown as NodeJS.WritableStream;
    const { values, positionals } = parseArgs({ args, options: cmd.options, allowPositionals: cmd.allowPositionals ?? false });
    const code = await cmd.run({
      values: {
        ...values,
        coordinator: r.base,
        cert: path.join(files, 'cert.pem'),
        key: path.join(files, 'key.pem'),
        ca: path.join(files, 'ca.pem'),
      },
      positionals,
      signal: new AbortController().signal,
      onReload: () => {},
      stdout: sink((s) => (out += s)),
      stderr: sink((s) => (err += s)),
    });
    return { code, out, err };
  }

  it('medic approvals lists a request; medic approve refuses the requester and starts it for another approver; medic deny', async () => {
    const name = unique('cliApprove');
    const [a, b] = (await replicas([approvalWorkflow(name)])) as [Replica, Replica];
    const node = unique('node');
    const id = (await ask(a, 'alice', name, { node })).json<{ approval_id: string }>().approval_id;
    const listed = await eventually(async () => {
      const r = await medic(approvalsCommand, b, 'bob', []);
      return r.out.includes(id) ? r : undefined;
    });
    expect(listed.code).toBe(0);
    const row = listed.out.split('\n').find((l) => l.startsWith(id))!;
    expect(row.trim().split(/\s{2,}/)).toEqual([
      id,
      name,
      `node=${node}`,
      ALICE,
      'this workflow is always approved by a human first',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    ]);
    const self = await medic(approveCommand, b, 'alice', [id]);
    expect(self).toEqual({
      code: 1,
      out: '',
      err: `medic approve: four eyes: ${ALICE} asked for this start and may not decide it; another approver must (HTTP 403)\n`,
    });
    const ok = await medic(approveCommand, a, 'bob', [id, '--reason', 'checked']);
    const workflowId = idempotentExecutionId(name, ALICE, 'approval', id);
    started.push(workflowId);
    expect(ok).toEqual({ code: 0, out: `approved and started: ${workflowId} (${name}) on medic:node:${node}\n`, err: '' });
    expect(audits([a], 'approval_approved', id).map((e) => e.reason)).toEqual(['checked']);

    const asked = await medic(runCommand, b, 'alice', [name, '--node', unique('node')]);
    expect(asked.code).toBe(0);
    const other = /approval (\S+), expires/.exec(asked.out)![1]!;
    expect(asked.out).toBe(
      `${name} waits for an approver (this workflow is always approved by a human first): approval ${other}, ` +
        `expires ${/expires (\S+);/.exec(asked.out)![1]}; another approver runs: medic approve ${other}\n`,
    );
    expect(await medic(denyCommand, a, 'bob', [other])).toEqual({ code: 0, out: `denied: ${other} (${name})\n`, err: '' });
    expect(await executions(name)).toBe(1);
  });
});
