// The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core),
// against a coordinator serving HTTPS with mTLS, the real Temporal dev server and a real OIDC
// provider (oidc-provider) on loopback: sign in with OIDC, watch an execution appear and finish,
// pause and resume from the page, see the refusal with its control and reason, a hostile reason
// rendered as text, a client certificate signing in, and what must get nothing: an identity
// without the route rule, a request without the CSRF token, a forged session cookie.
// Screenshots of each view go to test/artifacts/ (kept by CI).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RouteRule } from '../../src/config/coordinator';
import { createConsole } from '../../src/coordinator/console/console';
import { tlsCallerIdentity } from '../../src/coordinator/identity';
import { writeDevCertificates } from '../../src/tls/certificates';
import { coordinatorTestFile, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { describeInBrowser, launchChromium } from '../helpers/browser';
import { consoleRules } from '../helpers/console';
import { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, startOidcProvider, type OidcProvider } from '../helpers/oidc';
import { connectWorkerConnection, unique, workflowBundle } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

jest.setTimeout(120_000);

const ARTIFACTS = path.join(__dirname, '..', 'artifacts', 'console');
const SRE = 'spiffe://medic.test/sre/oncall';
const GUEST = 'spiffe://medic.test/guests';
const CERT_SRE = 'spiffe://medic.test/sre/cert-user';
const HOSTILE = '<img src=x onerror=alert(1)>';

const RULES: RouteRule[] = [
  ...consoleRules([SRE, CERT_SRE]),
  { name: 'pauses', method: '*', routePatterns: ['/v1/pauses'], uris: [SRE], allowPublic: false, skipLogMatch: false },
  // The test itself starts executions through app.inject, which carries no certificate.
  {
    name: 'test-triggers',
    method: 'POST',
    routePatterns: ['/v1/workflows/*/executions'],
    uris: [],
    allowPublic: true,
    skipLogMatch: false,
  },
];

const file = coordinatorTestFile();
let c: TestCoordinator;
let url: string;
let provider: OidcProvider;
let browser: Browser;
let certs: ReturnType<typeof writeDevCertificates>;
const workflow = unique('consoleHeal');
const dialogs: string[] = [];

async function shot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

async function newContext(opts: { certificate?: boolean } = {}): Promise<BrowserContext> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    ...(opts.certificate && {
      clientCertificates: [{ origin: url, certPath: certs.clients.sre!.certFile, keyPath: certs.clients.sre!.keyFile }],
    }),
  });
  context.on('page', (p) => p.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss())));
  return context;
}

/** Signs in through the provider's own login and consent pages; the page ends on the console. */
async function signIn(context: BrowserContext, login: string): Promise<Page> {
  const page = await context.newPage();
  const first = await page.goto(`${url}/ui/`);
  expect(first!.status()).toBe(403);
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any password');
  await page.locator('button[type="submit"]').click();
  await page.getByRole('button', { name: /continue/i }).click();
  // The callback's page sends the browser on to the console (a same-origin step: the Strict cookie goes along).
  await page.locator('#view[data-loaded]').waitFor();
  return page;
}

async function tab(page: Page, view: string): Promise<void> {
  await page.locator(`button[data-view="${view}"]`).click();
  await page.locator(`#view[data-loaded="${view}"]`).waitFor();
}

describeInBrowser('the console in Chromium', () => {
  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-console-'));
    certs = writeDevCertificates(path.join(dir, 'tls'), { sre: CERT_SRE });
    const secretFile = path.join(dir, 'oidc-secret');
    fs.writeFileSync(secretFile, OIDC_CLIENT_SECRET);
    provider = await startOidcProvider();
    const web = createConsole({
      config: {
        sessionTtlMs: 3_600_000,
        temporalUiUrl: 'http://127.0.0.1:8233',
        oidc: {
          issuer: provider.issuer,
          clientId: OIDC_CLIENT_ID,
          clientSecretFile: secretFile,
          claim: 'groups',
          identities: { sre: SRE, guests: GUEST },
          scopes: ['profile', 'groups'],
        },
      },
      log: () => {},
    });
    c = await testCoordinator([workflowConfig(workflow)], {
      config: { routeRules: RULES },
      deps: {
        https: {
          key: fs.readFileSync(certs.server.keyFile),
          cert: fs.readFileSync(certs.server.certFile),
          ca: fs.readFileSync(certs.caFile),
        },
        identify: web.identify(tlsCallerIdentity),
        plugins: [web.plugin],
      },
    });
    file.coordinators.push(c);
    await c.app.listen({ host: '127.0.0.1', port: 0 });
    url = `https://127.0.0.1:${(c.app.server.address() as { port: number }).port}`;
    await provider.configure([`${url}/ui/auth/callback`]);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await provider?.stop();
  });

  it('signs in with OIDC, shows an execution appear and finish, with its Temporal UI link', async () => {
    const context = await newContext();
    const page = await signIn(context, 'alice');
    await expect(page.locator('#who').textContent()).resolves.toBe(`alice as ${SRE} (oidc)Sign out`);
    await page.locator('#view[data-loaded="now"]').waitFor();

    const node = unique('node');
    const res = await trigger(c.app, workflow, { target: { node }, reason: 'console e2e' }, { identity: null });
    expect(res.statusCode).toBe(202);
    const id = res.json().workflow_id as string;
    file.started.push(id);
    const row = page.locator(`#view tr[data-workflow-id="${id}"]`);
    await row.first().waitFor({ timeout: 30_000 });
    await expect(row.locator('a').getAttribute('href')).resolves.toBe(
      `http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(id)}`,
    );
    await shot(page, 'now-running');

    // A worker for the node's queue runs it: it leaves Running and shows up among the outcomes.
    const connection = await connectWorkerConnection();
    try {
      const worker = await Worker.create({ connection, taskQueue: `medic:node:${node}`, workflowBundle: workflowBundle() });
      await worker.runUntil(file.client.workflow.getHandle(id).result());
    } finally {
      await connection.close();
    }
    const ended = page.locator(`#view tr.outcome-completed[data-workflow-id="${id}"]`);
    await ended.waitFor({ timeout: 30_000 });
    await expect(ended.locator('td.outcome').textContent()).resolves.toBe('completed');
    await shot(page, 'now-outcomes');
    await context.close();
  });

  it('pauses from the page, shows the refusal with its control and a hostile reason as text, and resumes', async () => {
    const context = await newContext();
    const page = await signIn(context, 'alice');
    await tab(page, 'pauses');
    await page.locator('select[name="workflow"]').selectOption(workflow);
    await page.locator('input[name="reason"]').fill(HOSTILE);
    await page.locator('#pause').click();
    const pauseRow = page.locator('#view tr.pause', { hasText: `workflow=${workflow}` });
    await pauseRow.waitFor();
    await expect(pauseRow.locator('td').nth(1).textContent()).resolves.toBe(HOSTILE);
    await expect(pauseRow.locator('td').nth(2).textContent()).resolves.toBe(SRE);
    await shot(page, 'pauses');

    const node = unique('node');
    const refused = await trigger(c.app, workflow, { target: { node }, reason: 'disk full' }, { identity: null });
    expect(refused.statusCode).toBe(429);
    await tab(page, 'refusals');
    const refusal = page.locator('#view tr.refusal', { hasText: node });
    await refusal.waitFor();
    await expect(refusal.locator('td.control').textContent()).resolves.toBe('pause');
    await expect(refusal.locator('td.why').textContent()).resolves.toContain(`paused by ${SRE}`);
    await expect(refusal.locator('td.why').textContent()).resolves.toContain(HOSTILE);
    // From the shared audit journal (every coordinator's lines), once it has the line.
    await page.locator('#view p.scope', { hasText: 'All coordinators (the audit journal).' }).waitFor();
    await expect(refusal.locator('td').last().textContent()).resolves.toMatch(/^coordinator-\d+@/);
    // Text, not markup: no image element came of it, and no dialog opened.
    expect(await page.locator('#view img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    await shot(page, 'refusals');

    await tab(page, 'pauses');
    await page
      .locator('#view tr.pause', { hasText: `workflow=${workflow}` })
      .locator('button.resume')
      .click();
    await page.locator('#status.ok', { hasText: 'Resumed' }).waitFor();
    await expect(page.locator('#status').textContent()).resolves.toBe(`Resumed: workflow=${workflow}`);
    await waitFor('the pause to be gone', async () => {
      await tab(page, 'pauses');
      return (await page.locator('#view tr.pause', { hasText: `workflow=${workflow}` }).count()) === 0 ? true : undefined;
    });
    for (const view of ['holds', 'shadow', 'stats', 'audit']) {
      await tab(page, view);
      await shot(page, view);
    }
    await expect(page.locator('#view tr.audit', { hasText: 'paused' }).first().textContent()).resolves.toContain(HOSTILE);
    // The coordinator serves GET /v1/approvals: the approvals view is offered.
    expect(await page.locator('button[data-view="approvals"]').count()).toBe(1);
    await context.close();
  });

  it('refuses a request without the CSRF token and signs out', async () => {
    const context = await newContext();
    const page = await signIn(context, 'alice');
    const status = await page.evaluate(
      async (wf) =>
        (
          await fetch('/v1/pauses', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ workflow: wf, reason: 'no token' }),
          })
        ).status,
      workflow,
    );
    expect(status).toBe(403);
    await page.locator('#sign-out').click();
    await page.waitForLoadState('load');
    await waitFor('the sign-in page', async () => ((await page.locator('#message').count()) > 0 ? true : undefined));
    const again = await page.goto(`${url}/ui/api/session`);
    expect(again!.status()).toBe(403);
    await context.close();
  });

  it('gives an identity without the route rule 403 for the page and every action', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(`${url}/ui/`);
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.locator('input[name="login"]').fill('mallory');
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: /continue/i }).click();
    await page.waitForURL(`${url}/ui/`);
    await page.locator('#message').waitFor();
    await expect(page.locator('#message').textContent()).resolves.toBe(
      `${GUEST} is not admitted to the console by any route rule.`,
    );
    await shot(page, 'forbidden');
    for (const view of ['running', 'refusals', 'audit']) {
      const r = await page.goto(`${url}/ui/api/${view}`);
      expect([view, r!.status()]).toEqual([view, 403]);
    }
    await context.close();
  });

  it('gives a forged session cookie nothing', async () => {
    const context = await newContext();
    const forged = `${Buffer.from(JSON.stringify({ sid: 'x', identity: SRE, exp: Date.now() + 3_600_000 })).toString('base64url')}.${'A'.repeat(43)}`;
    await context.addCookies([{ name: 'medic_console', value: forged, url }]);
    const page = await context.newPage();
    const r = await page.goto(`${url}/ui/`);
    expect(r!.status()).toBe(403);
    await expect(page.locator('#message').textContent()).resolves.toContain('Sign in to see the console');
    await context.close();
  });

  it('signs nobody in from a forged answer at the callback, or one without a sign-in started', async () => {
    const context = await newContext();
    const page = await context.newPage();
    const none = await page.goto(`${url}/ui/auth/callback?code=forged&state=forged`);
    expect(none!.status()).toBe(403);
    await expect(page.locator('#message').textContent()).resolves.toBe(
      'No sign-in was started in this browser (or it expired); start again.',
    );
    // A sign-in started (the flow cookie is set), then an answer the provider never gave.
    await page.goto(`${url}/ui/auth/login`);
    await page.locator('input[name="login"]').waitFor();
    const forged = await page.goto(`${url}/ui/auth/callback?code=forged&state=forged`);
    expect(forged!.status()).toBe(403);
    await expect(page.locator('#message').textContent()).resolves.toMatch(/^the provider's answer was refused: /);
    expect((await page.goto(`${url}/ui/api/session`))!.status()).toBe(403);
    await context.close();
  });

  it('signs in with a client certificate as before', async () => {
    const context = await newContext({ certificate: true });
    const page = await context.newPage();
    const r = await page.goto(`${url}/ui/`);
    expect(r!.status()).toBe(200);
    await page.locator('#view[data-loaded="now"]').waitFor();
    await expect(page.locator('#who').textContent()).resolves.toBe(`${CERT_SRE} (certificate)`);
    await context.close();
  });
});

describeInBrowser('the approvals view in Chromium', () => {
  // The real approvals API: a trigger identity's start waits for an approver; the SRE signed in
  // to the console approves it there (the same POST /v1/approvals/{id} and four-eyes rule as the CLI).
  const REQUESTER = 'spiffe://medic.test/trigger/dc1';
  const gated = unique('consoleGated');
  let d: TestCoordinator;
  let base: string;
  let chromium: Browser;

  beforeAll(async () => {
    const web = createConsole({ config: { sessionTtlMs: 3_600_000 }, log: () => {} });
    d = await testCoordinator([workflowConfig(gated, { approval: { when: 'always', approvers: [SRE], timeoutMs: 3_600_000 } })], {
      config: {
        routeRules: [
          ...consoleRules([SRE]),
          {
            name: 'approvals',
            method: '*',
            routePatterns: ['/v1/approvals', '/v1/approvals/*'],
            uris: [SRE],
            allowPublic: false,
            skipLogMatch: false,
          },
          {
            name: 'triggers',
            method: 'POST',
            routePatterns: ['/v1/*'],
            uris: [REQUESTER],
            allowPublic: false,
            skipLogMatch: false,
          },
        ],
      },
      deps: {
        // Plain HTTP on loopback; the caller's identity from a header the browser adds, as a certificate would give it.
        identify: web.identify((request) => {
          const id = request.headers['x-test-identity'];
          return { identity: typeof id === 'string' ? id : null };
        }),
        plugins: [web.plugin],
      },
    });
    file.coordinators.push(d);
    await d.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(d.app.server.address() as { port: number }).port}`;
    chromium = await launchChromium();
  });

  it('shows a pending request with its hostile reason as text and approves it as the signed-in identity', async () => {
    const asked = await trigger(d.app, gated, { target: { node: 'node-7' }, reason: HOSTILE }, { identity: REQUESTER });
    expect(asked.statusCode).toBe(202);
    const id = String(asked.json().approval_id);
    const context = await chromium.newContext({
      extraHTTPHeaders: { 'x-test-identity': SRE },
      viewport: { width: 1280, height: 900 },
    });
    const page = await context.newPage();
    page.on('dialog', (dialog) => void (dialogs.push(dialog.message()), dialog.dismiss()));
    await page.goto(`${base}/ui/#approvals`);
    // The list reads visibility: the request shows within a refresh or two.
    const row = page.locator(`#view tr[data-approval-id="${id}"]`);
    await row.waitFor();
    await expect(row.locator('td').nth(3).textContent()).resolves.toBe(REQUESTER);
    await expect(row.locator('td').nth(4).textContent()).resolves.toMatch(new RegExp(`^${HOSTILE.replace(/[()]/g, '\\$&')} — `));
    await shot(page, 'approvals');
    await row.locator('input.reason').fill('looks right');
    await row.locator('button.approve').click();
    await page.locator('#status.ok', { hasText: 'Approved.' }).waitFor();
    const approved = d.audit.filter((e) => e.approval_id === id && e.decision === 'approval_approved');
    expect(approved.map((e) => [e.approver, e.reason])).toEqual([[SRE, 'looks right']]);
    const started = d.audit.filter((e) => e.approval_id === id && e.decision === 'started');
    expect(started.map((e) => [e.identity, e.approver])).toEqual([[REQUESTER, SRE]]);
    file.started.push(String(started[0]!.workflow_id));
    expect(await page.locator('#view img').count()).toBe(0);
    expect(dialogs).toEqual([]);
    await context.close();
  });

  afterAll(async () => {
    await chromium?.close();
  });
});
