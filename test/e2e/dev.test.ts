// `medic dev` driven as a new user drives it: start it, read the banner, type the one command it
// offers (`medic demo break`) and watch it heal on its own: a real Prometheus scrapes the demo,
// the trigger daemon fires the shipped demo rule, the coordinator admits healDemo, the worker
// runs it. Then a hard break that only a human can fix must page, medic's dashboard and alert
// rules must name metrics medic really exports, a SIGKILL of dev must leave no process and no
// port behind, and SIGHUP (the terminal closing) must stop it like Ctrl-C.
import { execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { portIsFree } from '../../src/temporal/dev-server';
import { tlsAgent, request } from '../helpers/https';
import { dashboardExprs, exportedNames, metricNames, ruleExprs } from '../helpers/promql-metrics';
import { MEDIC, ROOT, spawnMedic, startDev, type Proc } from '../helpers/medic-process';
import { waitFor } from '../helpers/wait';
import { itInBrowser, launchChromium } from '../helpers/browser';

jest.setTimeout(240_000);

const FLAGS = [
  'temporal-port',
  'ui-port',
  'coordinator-port',
  'demo-port',
  'worker-metrics-port',
  'trigger-metrics-port',
  'prometheus-port',
  'escalation-port',
];

/** A worker that takes --escalation-url (issue 13) pages dev's sink on any port. */
const ESCALATION_FLAG = execFileSync(process.execPath, [MEDIC, 'worker', '--help'], { encoding: 'utf8' }).includes(
  '--escalation-url',
);
/** Without it, pages reach the sink through worker.hcl's notify hook: the sink must listen on that port. */
const HOOK_PORT = Number(
  /hook "notify"\s*\{[^}]*webhook\s*=\s*"http:\/\/127\.0\.0\.1:(\d+)\//.exec(
    fs.readFileSync(path.join(ROOT, 'config/worker.hcl'), 'utf8'),
  )?.[1] ?? 0,
);
let paging = ESCALATION_FLAG;

function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  return waitFor(what, probe, ms, 250);
}

const BREAK_INVITATION = 'Break the demo service; medic heals it on its own:';

async function banner(dev: Proc): Promise<string[]> {
  await eventually(
    'the banner',
    async () => {
      if (dev.child.exitCode !== null) throw new Error(`medic dev exited (${dev.child.exitCode}):\n${dev.stderr()}`);
      const lines = dev.stdout().split('\n');
      const at = lines.findIndex((l) => l.includes(BREAK_INVITATION));
      return at >= 0 && lines.length > at + 4 ? true : undefined;
    },
    180_000,
  );
  return dev.stdout().split('\n');
}

function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { cwd: ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Direct children of `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {}
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); // a zombie is gone
  } catch {
    return false;
  }
}

async function health(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
  return res?.status ?? 0;
}

interface Listed {
  workflow_id: string;
  workflow?: string;
  status: string;
  trigger?: string;
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-dev-e2e-'));

async function list(): Promise<Listed[]> {
  const listed = await run([
    process.execPath,
    MEDIC,
    'list',
    '--workflow',
    'healDemo',
    '--json',
    '--coordinator',
    `https://127.0.0.1:${ports['coordinator-port']}`,
  ]);
  if (listed.code !== 0) throw new Error(`medic list failed: ${listed.stderr}`);
  return JSON.parse(listed.stdout) as Listed[];
}

let ports: Record<string, number> = {};

/** medic dev on this file's data dir, on free ports (the previous run's first); waits for its banner. */
async function startDemo(): Promise<Proc> {
  const fixed: Record<string, number> = {};
  if (!ESCALATION_FLAG && HOOK_PORT && (await portIsFree(HOOK_PORT))) {
    fixed['escalation-port'] = HOOK_PORT;
    paging = true;
  }
  const dev = await startDev({
    args: ['--data-dir', dataDir],
    portFlags: FLAGS,
    ports: { ...ports, ...fixed },
    ready: async (p) => void (await banner(p)),
  });
  ports = dev.ports;
  return dev.proc;
}

afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

describe('medic dev', () => {
  let dev: Proc;
  let bannerLines: string[];
  const port = (flag: string): number => ports[flag]!;

  beforeAll(async () => {
    dev = await startDemo();
    bannerLines = dev.stdout().split('\n');
  });

  afterAll(async () => {
    if (dev.child.exitCode === null && dev.child.signalCode === null) {
      dev.child.kill('SIGINT');
      await dev.exited;
    }
  });

  it('says what will happen and where to watch: Prometheus, the trigger rule, the escalation sink, the Temporal UI', () => {
    const out = dev.stdout();
    expect(out).toContain(`Temporal UI   http://127.0.0.1:${port('ui-port')}`);
    expect(out).toContain(`Prometheus    http://127.0.0.1:${port('prometheus-port')}`);
    expect(out).toMatch(/trigger {7}running: .*demo_unhealthy: medic_demo_healthy == 0 for 2s -> healDemo/);
    expect(out).toContain(`escalations -> http://127.0.0.1:${port('escalation-port')}/escalations`);
    expect(out).toContain(`http://127.0.0.1:${port('ui-port')}/namespaces/default/workflows?query=`);
    // The one command to type, as `npx medic`, which resolves to this checkout's medic.
    const at = bannerLines.findIndex((l) => l.includes(BREAK_INVITATION));
    expect(bannerLines[at + 1]!.trim()).toBe(`npx medic demo break --data-dir ${dataDir}`);
    expect(fs.realpathSync(path.join(ROOT, 'node_modules/.bin/medic'))).toBe(fs.realpathSync(MEDIC));
    expect(childrenOf(dev.child.pid!).length).toBeGreaterThanOrEqual(7); // watchdog, temporal, demo, prometheus, coordinator, worker, trigger
  });

  it('heals a broken demo on its own: the trigger daemon starts healDemo and the demo answers 200 again', async () => {
    expect(await health(port('demo-port'))).toBe(200);
    const broken = await run([process.execPath, MEDIC, 'demo', 'break', '--data-dir', dataDir]);
    expect(broken.code).toBe(0);
    expect(await health(port('demo-port'))).toBe(503);

    // No other command: Prometheus -> trigger -> coordinator -> worker.
    await eventually('the demo to answer 200 again', async () => ((await health(port('demo-port'))) === 200 ? true : undefined));
    expect(dev.stderr()).toMatch(/"msg":"series firing".*"rule":"demo_unhealthy"|"rule":"demo_unhealthy".*"msg":"series firing"/);
    expect(dev.stderr()).toContain(
      `medic dev: healDemo started by the trigger daemon (rule demo_unhealthy): http://127.0.0.1:${port('ui-port')}/namespaces/default/workflows/`,
    );
    const done = await eventually('a completed healDemo execution', async () => {
      const executions = await list();
      return executions.find((e) => e.status === 'COMPLETED');
    });
    expect(done.trigger).toBe('spiffe://medic.dev/trigger/dev'); // started by the trigger source
    expect(dev.stderr()).toContain(encodeURIComponent(done.workflow_id));
  });

  itInBrowser(
    'lists the console with a link that signs this browser in once, and the console shows healDemo healed',
    async () => {
      const line = bannerLines.find((l) => l.startsWith('  console '));
      const link = /(https:\/\/127\.0\.0\.1:\d+\/ui\/auth\/dev\?token=[A-Za-z0-9_-]+)/.exec(line ?? '')?.[1];
      expect(link?.startsWith(`https://127.0.0.1:${port('coordinator-port')}/ui/auth/dev?token=`)).toBe(true);
      const browser = await launchChromium();
      try {
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        await page.goto(link!);
        await page.locator('#view[data-loaded="now"]').waitFor();
        await expect(page.locator('#who').textContent()).resolves.toBe('medic dev as spiffe://medic.dev/sre-admin (dev)Sign out');
        const healed = page.locator('#view tr.outcome-healed', { hasText: 'healDemo' }).first();
        await healed.waitFor({ timeout: 30_000 });
        await expect(healed.locator('td').nth(3).textContent()).resolves.toMatch(/^\d+(\.\d)? s$/);
        fs.mkdirSync(path.join(ROOT, 'test', 'artifacts', 'console'), { recursive: true });
        await page.screenshot({ path: path.join(ROOT, 'test', 'artifacts', 'console', 'dev-healed.png'), fullPage: true });
        // The link works once: a second browser gets nothing from it.
        const other = await browser.newContext({ ignoreHTTPSErrors: true });
        const again = await (await other.newPage()).goto(link!);
        expect(again!.status()).toBe(403);
      } finally {
        await browser.close();
      }
    },
  );

  it('medic list --watch prints the table of executions and stops on Ctrl-C', async () => {
    const watch = spawn(
      process.execPath,
      [MEDIC, 'list', '--watch', '--status', 'completed', '--coordinator', `https://127.0.0.1:${port('coordinator-port')}`],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    watch.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => watch.once('exit', (code) => resolve(code)));
    try {
      await eventually(
        'the watched table',
        async () => (/WORKFLOW +NODE +STATUS/.test(out) && out.includes('healDemo') ? true : undefined),
        60_000,
      );
      expect(out).toMatch(/^-- \d\d:\d\d:\d\d UTC$/m); // piped: a stamped table per change, no screen codes
      expect(out).not.toContain('\x1b[');
      watch.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      if (watch.exitCode === null) watch.kill('SIGKILL');
    }
  });

  it('does not heal a hard break: healDemo ends without healing and the demo stays down', async () => {
    const before = (await list()).map((e) => e.workflow_id);
    const broken = await run([process.execPath, MEDIC, 'demo', 'break', '--hard', '--data-dir', dataDir]);
    expect(broken.code).toBe(0);
    const ended = await eventually(
      'the hard break’s healDemo execution to end',
      async () => (await list()).find((e) => !before.includes(e.workflow_id) && e.status !== 'RUNNING'),
      180_000,
    );
    expect(ended.trigger).toBe('spiffe://medic.dev/trigger/dev');
    expect(await health(port('demo-port'))).toBe(503);
  });

  it('prints the page of a hard break in its output', async () => {
    if (!paging) {
      console.warn(
        `medic dev e2e: page not checked: the worker has no --escalation-url and port ${HOOK_PORT} (worker.hcl's notify hook) is taken`,
      );
      return;
    }
    const page = await eventually('a page printed by medic dev', async () =>
      dev
        .stderr()
        .split('\n')
        .find((l) => /^escalation +\| PAGE /.test(l)),
    );
    expect(page).toMatch(/healDemo/);
    // Its diagnose step looked at the lock: `ls -ld` of the directory the hard break left there.
    const lines = dev.stderr().split('\n');
    const at = lines.findIndex((l) => /^escalation +\| {3}diagnostics lock:$/.test(l));
    expect(at).toBeGreaterThan(-1);
    expect(lines[at + 1]).toMatch(/^escalation +\| {5}d[rwx-]{9}\S* .*\/demo\/stale\.lock$/);
  });

  it('names in its dashboard and alert rules only metrics that medic exports (scraped from coordinator, worker, trigger)', async () => {
    const wanted = new Set([...dashboardExprs(), ...ruleExprs()].flatMap(metricNames));
    const prometheus = `http://127.0.0.1:${port('prometheus-port')}`;
    const agent = tlsAgent({ ca: fs.readFileSync(path.join(ROOT, '.medic/tls/ca.pem')) });
    let absent: string[] = [];
    await eventually(
      'every metric of the dashboard and the rules exported',
      async () => {
        const expositions = [
          (await request(agent, 'GET', `https://127.0.0.1:${port('coordinator-port')}/metrics`)).body,
          await (await fetch(`http://127.0.0.1:${port('worker-metrics-port')}/metrics`)).text(),
          await (await fetch(`http://127.0.0.1:${port('trigger-metrics-port')}/metrics`)).text(),
        ];
        // Prometheus adds `up` (and ALERTS) itself, as it scrapes them.
        const scraped = ((await (await fetch(`${prometheus}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
        const names = new Set([...scraped, ...expositions.flatMap((t) => [...exportedNames(t)])]);
        absent = [...wanted].filter((n) => !names.has(n));
        return absent.length === 0 ? true : undefined;
      },
      60_000,
    ).catch(() => undefined);
    agent.destroy();
    expect(absent).toEqual([]);
    const rules = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name)).toEqual(expect.arrayContaining(['MedicCoordinatorDown', 'MedicTriggerNotEvaluating']));
    expect(loaded.filter((r) => r.health === 'err')).toEqual([]);
  });

  it('leaves no process and no port behind when SIGKILLed: every port is free within 10 s', async () => {
    await run([process.execPath, MEDIC, 'demo', 'fix', '--data-dir', dataDir]);
    const children = childrenOf(dev.child.pid!);
    const grandchildren = children.flatMap(childrenOf);
    dev.child.kill('SIGKILL');
    await dev.exited;
    const killedAt = Date.now();
    const left = await eventually(
      'every child gone and every port free',
      async () => {
        const procs = [...children, ...grandchildren].filter(alive);
        const busy: number[] = [];
        for (const flag of FLAGS) if (!(await portIsFree(ports[flag]!))) busy.push(ports[flag]!);
        return procs.length === 0 && busy.length === 0 ? [] : undefined;
      },
      10_000,
    ).catch(() => ({
      procs: [...children, ...grandchildren].filter(alive),
      after_ms: Date.now() - killedAt,
    }));
    expect(left).toEqual([]);
  });
});

describe('medic dev, again on the same data', () => {
  it('stops everything on SIGHUP like Ctrl-C, after showing the first run’s executions', async () => {
    const dev = await startDemo();
    try {
      expect(dev.stderr()).toContain('certificates reused');
      const executions = await list();
      expect(executions.some((e) => e.status === 'COMPLETED')).toBe(true);
      const children = childrenOf(dev.child.pid!);
      dev.child.kill('SIGHUP');
      expect(await dev.exited).toBe(0);
      expect(dev.stderr()).toContain('medic dev: hangup: stopping');
      expect(dev.stderr()).toContain('medic dev: all processes stopped');
      await eventually('the watchdog to exit', async () => (children.some(alive) ? undefined : true), 10_000);
      for (const flag of FLAGS) expect(await portIsFree(ports[flag]!)).toBe(true);
    } finally {
      if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
    }
  });

  it('names a port in use and the flag that moves it', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const busy = (taken.address() as net.AddressInfo).port;
    try {
      const flags = FLAGS.flatMap((f) => [`--${f}`, String(f === 'coordinator-port' ? busy : ports[f])]);
      const dev = spawnMedic(['dev', '--data-dir', dataDir, ...flags]);
      expect(await dev.exited).toBe(1);
      expect(dev.stderr()).toContain(
        `medic dev: port ${busy} (coordinator (HTTPS)) is in use on 127.0.0.1; choose another with --coordinator-port PORT`,
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
