// npm run bench:console: how fast the web console's first view renders on a busy namespace. A
// coordinator process (built dist/) on the dev server, BENCH_RUNNING running executions (1,000) and
// BENCH_CLOSED closed ones (10,000, started and terminated as a week leaves them); then headless
// Chromium (signed in as an SRE by a sealed session cookie) opens /ui/ BENCH_SAMPLES times (5) in
// fresh contexts: the time from the start of navigation until the Now view (running and recent
// outcomes) is on the page, by the browser's performance timeline. The JSON views alone are
// timed beside it. Last line: `console: first view p50 <ms> ms, max <ms> ms (<running> running, <closed> closed)`
// (goal: under 1 s).
import { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CookieSealer, SESSION_COOKIE } from '../../src/console/session';
import { startSearchAttributes } from '../../src/naming/search-attributes';
import { nodeQueue } from '../../src/naming/task-queues';
import { CHROMIUM, launchChromium } from '../helpers/browser';
import {
  BENCH_CALLER,
  benchCertificates,
  benchDir,
  benchTemporal,
  clientAgent,
  drive,
  percentile,
  request,
  startCoordinatorProcess,
  writeConfig,
} from './fixture';

const RUNNING = Number(process.env.BENCH_RUNNING ?? 1_000);
const CLOSED = Number(process.env.BENCH_CLOSED ?? 10_000);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 5);
const WORKFLOW = 'benchConsole';

const CONSOLE_RULES = `  route_rule {
    name           = "console_public"
    method         = "GET"
    route_patterns = ["/ui/assets/*", "/ui/auth/*"]
    allow_public   = true
  }
  route_rule {
    name           = "console"
    method         = "GET"
    route_patterns = ["/ui/", "/ui/api/*"]
    uris           = ["${BENCH_CALLER}"]
  }
`;

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (or set MEDIC_CHROMIUM)`);
  const dir = benchDir('bench-console');
  const temporal = await benchTemporal();
  const certs = benchCertificates(dir);
  const config = writeConfig(
    dir,
    certs,
    temporal,
    { [WORKFLOW]: 'workflow = "ping"\ntask_queue_target = "node"\n' },
    false,
    CONSOLE_RULES,
  );
  // Signed in as an SRE by a session cookie sealed with the console's key (as OIDC would leave it).
  const key = randomBytes(32);
  fs.writeFileSync(path.join(config, 'console.key'), key);
  fs.appendFileSync(path.join(config, 'coordinator.hcl'), 'console {\n  session_key_file = "console.key"\n}\n');
  const coordinator = await startCoordinatorProcess(config);
  const connection = await temporal.connect();
  const client = new Client({ connection, namespace: temporal.namespace });
  const agent = clientAgent(certs, 4);
  const browser = await launchChromium();
  const run = Date.now().toString(36);
  try {
    const start = (i: number, kind: string) => {
      const node = `c-${run}-${i % 500}`;
      return client.workflow.start('ping', {
        // Nobody polls these queues: the running ones stay running.
        taskQueue: nodeQueue(node),
        workflowId: `${WORKFLOW}:${kind}-${run}-${i}`,
        typedSearchAttributes: startSearchAttributes({ workflow: WORKFLOW, node, trigger: 'bench console' }),
      });
    };
    const t0 = Date.now();
    await drive(CLOSED, 50, async (i) => void (await (await start(i, 'closed')).terminate('bench: closed history')));
    await drive(RUNNING, 50, async (i) => void (await start(i, 'running')));
    process.stdout.write(
      `${RUNNING} running and ${CLOSED} closed executions written in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
    );
    const closedQuery = `WorkflowId STARTS_WITH "${WORKFLOW}:closed-${run}-" AND ExecutionStatus = "Terminated"`;
    const runningQuery = `WorkflowId STARTS_WITH "${WORKFLOW}:running-${run}-" AND ExecutionStatus = "Running"`;
    while (
      (await client.workflow.count(closedQuery)).count < CLOSED ||
      (await client.workflow.count(runningQuery)).count < RUNNING
    )
      await new Promise((r) => setTimeout(r, 500));

    for (const view of ['running', 'outcomes']) {
      const times: number[] = [];
      for (let i = 0; i < 10; i++) {
        const s = process.hrtime.bigint();
        const r = await request(agent, 'GET', `${coordinator.url}/ui/api/${view}`);
        if (r.status !== 200) throw new Error(`/ui/api/${view} answered ${r.status}: ${r.body.slice(0, 200)}`);
        times.push(Number(process.hrtime.bigint() - s) / 1e6);
      }
      times.sort((a, b) => a - b);
      process.stdout.write(`/ui/api/${view}: p50 ${percentile(times, 50).toFixed(0)} ms, max ${times.at(-1)!.toFixed(0)} ms\n`);
    }

    const renders: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const session = new CookieSealer(key).sealSession({ sid: `bench-${i}`, identity: BENCH_CALLER, exp: Date.now() + 600_000 });
      await context.addCookies([{ name: SESSION_COOKIE, value: session, url: coordinator.url }]);
      const page = await context.newPage();
      const res = await page.goto(`${coordinator.url}/ui/`);
      if (res?.status() !== 200) throw new Error(`/ui/ answered ${res?.status()}`);
      await page.locator('#view[data-loaded="now"]').waitFor({ timeout: 60_000 });
      // From the start of navigation to the view on the page, by the browser's own clock.
      const t = await page.evaluate(() => {
        type Timing = { name: string; startTime: number; responseEnd: number; domContentLoadedEventEnd: number };
        const nav = performance.getEntriesByType('navigation')[0] as unknown as Timing;
        const api = (performance.getEntriesByType('resource') as unknown as Timing[]).map(
          (r) => `${r.name.replace(/^https:\/\/[^/]+/, '')} ${r.startTime.toFixed(0)}-${r.responseEnd.toFixed(0)}`,
        );
        return {
          view: performance.getEntriesByName('medic-first-view')[0]!.startTime,
          page: nav.responseEnd,
          dom: nav.domContentLoadedEventEnd,
          api,
        };
      });
      renders.push(t.view);
      if (process.env.BENCH_VERBOSE)
        process.stdout.write(
          `  page ${t.page.toFixed(0)} ms, DOM ${t.dom.toFixed(0)} ms, view ${t.view.toFixed(0)} ms: ${t.api.join(', ')}\n`,
        );
      const shown = await page.locator('#running-total').textContent();
      if (Number(shown) < RUNNING) throw new Error(`the view shows ${shown} running, ${RUNNING} expected`);
      await context.close();
    }
    renders.sort((a, b) => a - b);
    process.stdout.write(
      `console: first view p50 ${percentile(renders, 50).toFixed(0)} ms, max ${renders.at(-1)!.toFixed(0)} ms ` +
        `(${RUNNING} running, ${CLOSED} closed; ${temporal.label})\n`,
    );
  } finally {
    await browser.close();
    agent.destroy();
    await coordinator.stop();
    await connection.close();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:console failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
