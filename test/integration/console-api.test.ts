// The web console's server side against the real dev server, through app.inject: the page and
// its headers, route rules for the page and every action, CSRF and Origin checks, forged and
// expired session cookies, and the JSON views. The browser tests are test/e2e/console-browser.test.ts.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { emptyFleetSafety, type FleetSafetyConfig } from '../../src/config/fleet-safety';
import type { WorkflowConfig } from '../../src/config/workflow';
import { createConsole } from '../../src/coordinator/console/console';
import { CSRF_HEADER } from '../../src/coordinator/console/guard';
import { CONTENT_SECURITY_POLICY } from '../../src/coordinator/console/page';
import { CookieSealer, SESSION_COOKIE } from '../../src/coordinator/console/session';
import {
  ADMIN,
  STRANGER,
  TEST_RULES,
  coordinatorTestFile,
  testCoordinator,
  trigger,
  workflowConfig,
  type TestCoordinator,
} from '../helpers/coordinator';
import { consoleRules, headerIdentity } from '../helpers/console';
import { unique } from '../helpers/temporal';

const file = coordinatorTestFile();

const CONSOLE_RULES = consoleRules([ADMIN]);

let c: TestCoordinator;
let workflow: string;
const ORIGIN = 'http://localhost:80';
const KEY = randomBytes(32);

/** A coordinator with the console, callers identified by the x-test-identity header (as TLS would). */
async function consoleCoordinator(
  workflows: Array<string | WorkflowConfig>,
  opts: { sessionKeyFile?: string; fleet?: Partial<FleetSafetyConfig> } = {},
): Promise<TestCoordinator> {
  const { sessionKeyFile } = opts;
  const web = createConsole({ config: { sessionTtlMs: 3_600_000, ...(sessionKeyFile && { sessionKeyFile }) }, log: () => {} });
  const coordinator = await testCoordinator(
    workflows.map((w) => (typeof w === 'string' ? workflowConfig(w) : w)),
    {
      config: {
        routeRules: [...TEST_RULES, ...CONSOLE_RULES],
        ...(opts.fleet && { fleet: { ...emptyFleetSafety(), ...opts.fleet } }),
      },
      // Each its own fleet ledger: the holds view shows exactly this test's holds.
      deps: { identify: web.identify(headerIdentity), plugins: [web.plugin], fleetLedgerId: unique('console-fleet') },
    },
  );
  file.coordinators.push(coordinator);
  return coordinator;
}

beforeAll(async () => {
  workflow = unique('consoleWf');
  const keyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'medic-console-')), 'session.key');
  fs.writeFileSync(keyFile, KEY);
  c = await consoleCoordinator([workflow], { sessionKeyFile: keyFile });
});

/** Loads the page as `identity`: its session cookie and CSRF token. */
async function page(identity: string): Promise<{ cookie: string; csrf: string }> {
  const res = await c.app.inject({ url: '/ui/', headers: { 'x-test-identity': identity } });
  expect(res.statusCode).toBe(200);
  const cookie = String(res.headers['set-cookie']).split(';')[0]!;
  const csrf = /name="medic-csrf" content="([^"]+)"/.exec(res.body)![1]!;
  return { cookie, csrf };
}

describe('the page', () => {
  it('is served to an identity a route rule admits, with a strict CSP and no inline script', async () => {
    const res = await c.app.inject({ url: '/ui/', headers: { 'x-test-identity': ADMIN } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toContain('<script src="/ui/assets/console.js" defer></script>');
    expect(res.body).not.toMatch(/<script>|<script [^>]*>[^<]|\son[a-z]+=/);
    expect(String(res.headers['set-cookie'])).toMatch(/^medic_console=[^;]+; Path=\/; Max-Age=3600; HttpOnly; SameSite=Strict$/);
  });

  it('serves its assets, nothing else under /ui/assets/', async () => {
    const js = await c.app.inject({ url: '/ui/assets/console.js' });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.body).toContain('textContent');
    expect(js.body).not.toContain('innerHTML');
    expect(
      (await c.app.inject({ url: '/ui/assets/console.js', headers: { 'if-none-match': js.headers.etag as string } })).statusCode,
    ).toBe(304);
    expect((await c.app.inject({ url: '/ui/assets/secret.txt' })).statusCode).toBe(404);
  });

  it('refuses an identity without the route rule: the page and every view and action are 403', async () => {
    const p = await c.app.inject({ url: '/ui/', headers: { 'x-test-identity': STRANGER } });
    expect(p.statusCode).toBe(403);
    expect(p.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(p.body).toContain(`${STRANGER} is not admitted to the console`);
    for (const view of [
      'session',
      'running',
      'outcomes',
      'refusals',
      'pauses',
      'holds',
      'shadow',
      'stats',
      'audit',
      'progress/x',
    ]) {
      const r = await c.app.inject({ url: `/ui/api/${view}`, headers: { 'x-test-identity': STRANGER } });
      expect([view, r.statusCode]).toEqual([view, 403]);
    }
    const pause = await c.app.inject({
      method: 'POST',
      url: '/v1/pauses',
      headers: { 'x-test-identity': STRANGER },
      payload: { workflow, reason: 'x' },
    });
    expect(pause.statusCode).toBe(403);
    expect((await c.app.inject({ url: '/ui/' })).statusCode).toBe(403);
  });
});

describe('CSRF and origin', () => {
  it('refuses a browser POST without the CSRF token, from another origin, or with a wrong token; admits the right one', async () => {
    const { cookie, csrf } = await page(ADMIN);
    const post = (headers: Record<string, string>) =>
      c.app.inject({
        method: 'POST',
        url: '/v1/pauses',
        headers: { 'x-test-identity': ADMIN, cookie, ...headers },
        payload: { workflow, reason: 'console test' },
      });
    const none = await post({ origin: ORIGIN });
    expect(none.statusCode).toBe(403);
    expect(none.json().details.certificate).toBe('missing or wrong CSRF token (x-medic-csrf header)');
    expect((await post({ origin: 'https://evil.example', [CSRF_HEADER]: csrf })).statusCode).toBe(403);
    expect((await post({ origin: ORIGIN, 'sec-fetch-site': 'cross-site', [CSRF_HEADER]: csrf })).statusCode).toBe(403);
    expect((await post({ origin: ORIGIN, [CSRF_HEADER]: csrf.slice(0, -2) + 'AA' })).statusCode).toBe(403);
    // A cross-origin request without a session cookie is refused too (a browser with a client certificate).
    expect(
      (
        await c.app.inject({
          method: 'POST',
          url: '/v1/pauses',
          headers: { 'x-test-identity': ADMIN, origin: 'https://evil.example' },
          payload: { workflow, reason: 'x' },
        })
      ).statusCode,
    ).toBe(403);
    const ok = await post({ origin: ORIGIN, [CSRF_HEADER]: csrf });
    expect(ok.statusCode).toBe(201);
    const resumed = await c.app.inject({
      method: 'DELETE',
      url: `/v1/pauses?workflow=${workflow}`,
      headers: { 'x-test-identity': ADMIN, cookie, origin: ORIGIN, [CSRF_HEADER]: csrf },
    });
    expect(resumed.statusCode).toBe(200);
  });

  it('leaves callers that are not browsers (no cookie, no Origin) as they were', async () => {
    const r = await c.app.inject({
      method: 'POST',
      url: '/v1/pauses',
      headers: { 'x-test-identity': ADMIN },
      payload: { workflow, reason: 'cli' },
    });
    expect(r.statusCode).toBe(201);
    const d = await c.app.inject({
      method: 'DELETE',
      url: `/v1/pauses?workflow=${workflow}`,
      headers: { 'x-test-identity': ADMIN },
    });
    expect(d.statusCode).toBe(200);
  });
});

describe('session cookies', () => {
  it('gives the identity of a session sealed with the key, and nothing for a forged, foreign-key or expired one', async () => {
    const sealer = new CookieSealer(KEY);
    const good = sealer.sealSession({ sid: 's', identity: ADMIN, exp: Date.now() + 60_000 });
    const ok = await c.app.inject({ url: '/ui/api/session', headers: { cookie: `${SESSION_COOKIE}=${good}` } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ identity: ADMIN, sign_out: true });
    const forged = `${Buffer.from(JSON.stringify({ sid: 's', identity: ADMIN, exp: Date.now() + 120_000 })).toString('base64url')}.${good.split('.')[1]}`;
    const foreign = CookieSealer.random().sealSession({ sid: 's', identity: ADMIN, exp: Date.now() + 60_000 });
    const expired = sealer.sealSession({ sid: 's', identity: ADMIN, exp: Date.now() - 1 });
    const flowNotSession = sealer.seal('flow', { sid: 's', identity: ADMIN, exp: Date.now() + 60_000 });
    for (const value of [forged, foreign, expired, flowNotSession]) {
      const r = await c.app.inject({ url: '/ui/api/session', headers: { cookie: `${SESSION_COOKIE}=${value}` } });
      expect(r.statusCode).toBe(403);
    }
  });
});

describe('views', () => {
  it('shows a refusal with its control and the audit trail searchable by workflow, node and identity', async () => {
    const wf = unique('consolePaused');
    const d = await consoleCoordinator([wf]);
    const node = unique('node');
    expect(
      (
        await d.app.inject({
          method: 'POST',
          url: '/v1/pauses',
          headers: { 'x-test-identity': ADMIN },
          payload: { workflow: wf, reason: 'maintenance <b>window</b>' },
        })
      ).statusCode,
    ).toBe(201);
    const refused = await trigger(d.app, wf, { target: { node }, reason: 'disk full' });
    expect(refused.statusCode).toBe(429);
    const r = (await d.app.inject({ url: '/ui/api/refusals', headers: { 'x-test-identity': ADMIN } })).json();
    expect(r.refusals[0]).toMatchObject({
      decision: 'refused',
      workflow: wf,
      target: { node },
      control: 'pause',
      constraint: `pause of workflow=${wf}`,
    });
    expect(r.refusals[0].message).toContain('maintenance <b>window</b>');
    const byNode = (await d.app.inject({ url: `/ui/api/audit?node=${node}`, headers: { 'x-test-identity': ADMIN } })).json();
    expect(byNode.entries.map((e: { decision: string }) => e.decision)).toEqual(['refused']);
    const byIdentity = (
      await d.app.inject({
        url: `/ui/api/audit?workflow=${wf}&identity=${encodeURIComponent(ADMIN)}`,
        headers: { 'x-test-identity': ADMIN },
      })
    ).json();
    expect(byIdentity.entries.map((e: { decision: string }) => e.decision)).toEqual(['refused', 'paused']);
    await d.app.inject({ method: 'DELETE', url: `/v1/pauses?workflow=${wf}`, headers: { 'x-test-identity': ADMIN } });
  });

  it('shows the node a disruptive execution holds and its budget use against the limit', async () => {
    const wf = unique('consoleReboot');
    const dc = unique('dc');
    const d = await consoleCoordinator([workflowConfig(wf, { disruptive: true })], {
      fleet: { budgets: [{ name: 'per-dc', per: 'datacenter', max: 2 }] },
    });
    const node = unique('node');
    const res = await trigger(d.app, wf, { target: { node, datacenter: dc } });
    expect(res.statusCode).toBe(202);
    const id = res.json().workflow_id as string;
    file.started.push(id);
    const r = (await d.app.inject({ url: '/ui/api/holds', headers: { 'x-test-identity': ADMIN } })).json();
    expect(r.ledger).toBe(true);
    expect(r.holds).toEqual([{ node, execution: id, workflow: wf, trigger: ADMIN, since: expect.any(String) }]);
    expect(r.budgets).toEqual([
      { budget: 'per-dc', per: 'datacenter', scope: `datacenter=${dc}`, used: 1, limit: 2, holders: [id] },
    ]);
  });

  it('answers the session view with the identity and whether approvals exist', async () => {
    const r = (await c.app.inject({ url: '/ui/api/session', headers: { 'x-test-identity': ADMIN } })).json();
    expect(r).toMatchObject({ identity: ADMIN, via: 'certificate', sign_out: false, approvals: true, namespace: 'default' });
    expect(r.workflows).toEqual([workflow]);
  });
});
