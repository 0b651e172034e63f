// `npm run bench:cli`: how long `medic` takes to answer, from spawn to exit. Each command runs
// BENCH_RUNS times (child_process, one at a time, rounds interleaved so load drift hits every
// command alike, after one warm-up round); printed per command: wall p50 and min, CPU per run
// (user + sys of the process and its children, e.g. git, from this process's cutime/cstime; 10 ms
// ticks, so a mean) and p50 as a multiple of `node -e 0`, the floor of any Node.js program.
// How medic is started: `node dist/cmd/medic.js`; the packaged executable when one is built
// (MEDIC_BENCH_EXE, else dist/pkg/medic, else dist/sea/medic); `npx medic` (BENCH_NPX_RUNS), and
// npx's first call with an empty npx cache (once). MEDIC_BENCH_BASE=<another built checkout>
// adds its `node dist/cmd/medic.js` and dist/sea/medic, for a before/after.
// What runs: version; status --help and list --help (argv parse + module load, no network);
// status ID and list against a coordinator that answers (the built `medic coordinator` on a
// Temporal dev server, with one finished execution for status to show and a worker on its queue
// to answer the progress query, as on a live fleet). Target: version, status and list p50 <=
// 150 ms from node and from the packaged executable.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MEDIC, ROOT } from '../helpers/medic-process';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { waitFor } from '../helpers/wait';
import {
  benchCertificates,
  benchDir,
  benchTemporal,
  clientAgent,
  percentile,
  request,
  startCoordinatorProcess,
  writeConfig,
} from './fixture';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const NPX_RUNS = Number(process.env.BENCH_NPX_RUNS ?? 5);
const TARGET_MS = 150;
const CLK_TCK = 100; // Linux USER_HZ
const NODE = 'bench-cli-node';

interface Case {
  /** How medic is started, e.g. `node dist/cmd/medic.js`. */
  via: string;
  label: string;
  argv: string[];
  /** Counts against the 150 ms target. */
  target: boolean;
  runs: number;
  wall: number[];
  cpuMs: number;
}

/** CPU ticks of the children this process has waited for (fields 16-17 of /proc/self/stat). */
function childCpuTicks(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[13]) + Number(rest[14]);
}

/** Runs argv once; resolves with its wall time in ms; rejects (with its stderr) unless it exits 0. */
function timeOnce(argv: string[], env: NodeJS.ProcessEnv): Promise<{ wallMs: number; cpuTicks: number }> {
  return new Promise((resolve, reject) => {
    const cpu = childCpuTicks();
    const started = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}:\n${stderr}`));
      else resolve({ wallMs, cpuTicks: childCpuTicks() - cpu });
    });
  });
}

/** Runs every case `rounds` times, interleaved; the first round is a warm-up and not counted. */
async function measure(cases: Case[], env: NodeJS.ProcessEnv): Promise<void> {
  const rounds = Math.max(...cases.map((c) => c.runs)) + 1;
  const ticks = new Map<Case, number>();
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      if (round > c.runs) continue;
      const { wallMs, cpuTicks } = await timeOnce(c.argv, env);
      if (round === 0) continue;
      c.wall.push(wallMs);
      ticks.set(c, (ticks.get(c) ?? 0) + cpuTicks);
    }
  }
  for (const c of cases) {
    c.wall.sort((a, b) => a - b);
    c.cpuMs = ((ticks.get(c) ?? 0) * 1000) / CLK_TCK / c.runs;
  }
}

/** dist/pkg/medic (npm run package) or dist/sea/medic (its first step), whichever is newer; MEDIC_BENCH_EXE overrides. */
function packagedExecutable(): string | undefined {
  if (process.env.MEDIC_BENCH_EXE) return process.env.MEDIC_BENCH_EXE;
  const built = ['dist/pkg/medic', 'dist/sea/medic']
    .map((rel) => path.join(ROOT, rel))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return built[0];
}

const load = (): string => os.loadavg()[0]!.toFixed(2);

function row(c: Case, floorP50: number): string {
  const p50 = percentile(c.wall, 50);
  const verdict = c.target ? `  <= ${TARGET_MS} ms: ${p50 <= TARGET_MS ? 'yes' : 'NO'}` : '';
  return (
    `  ${c.label.padEnd(22)} p50 ${p50.toFixed(0).padStart(5)} ms (${(p50 / floorP50).toFixed(1).padStart(4)}x)` +
    `  min ${c.wall[0]!.toFixed(0).padStart(5)} ms  cpu ${c.cpuMs.toFixed(0).padStart(5)} ms  n=${c.runs}${verdict}`
  );
}

async function main(): Promise<void> {
  if (!fs.existsSync(MEDIC)) throw new Error(`${MEDIC} is missing: run npm run build`);
  const loadAtStart = load();
  const temporal = await benchTemporal();
  const dir = benchDir('cli-start');
  const certs = benchCertificates(dir);
  const config = writeConfig(dir, certs, temporal, { ping: 'workflow = "ping"\ntask_queue_target = "node"\n' });
  const coordinator = await startCoordinatorProcess(config);
  let worker: TestWorker | undefined;
  try {
    // One execution for `medic status` to show, run by a worker that stays to answer its queries.
    process.env.MEDIC_TEST_TEMPORAL_ADDRESS = temporal.address;
    process.env.MEDIC_TEST_WORKFLOW_BUNDLE = path.join(ROOT, 'dist', 'workflow-bundle.js');
    worker = await startTestWorker({ node: NODE });
    const agent = clientAgent(certs, 1);
    const started = await request(agent, 'POST', `${coordinator.url}/v1/workflows/ping/executions`, {
      target: { node: NODE },
      reason: 'bench:cli',
    });
    if (started.status !== 202) throw new Error(`starting an execution: ${started.status} ${started.body}`);
    const workflowId = started.json<{ workflow_id: string }>().workflow_id;
    await waitFor('the bench execution to complete', async () => {
      const got = await request(agent, 'GET', `${coordinator.url}/v1/executions/${encodeURIComponent(workflowId)}`);
      return got.status === 200 && got.json<{ status: string }>().status === 'COMPLETED' ? true : undefined;
    });
    agent.destroy();
    const caller = certs.clients.caller!;
    const env = {
      ...process.env,
      MEDIC_COORDINATOR: coordinator.url,
      MEDIC_CERT: caller.certFile,
      MEDIC_KEY: caller.keyFile,
      MEDIC_CA: certs.caFile,
      NO_COLOR: '1',
    };

    const verbs: Array<[label: string, args: string[], target: boolean]> = [
      ['version', ['version'], true],
      ['status (coordinator)', ['status', workflowId], true],
      ['list (coordinator)', ['list'], true],
      ['status --help (local)', ['status', '--help'], false],
      ['list --help (local)', ['list', '--help'], false],
      ['--help', ['--help'], false],
    ];
    const cases: Case[] = [];
    const add = (via: string, prefix: string[], runs: number, labels?: string[]): void => {
      for (const [label, args, target] of verbs)
        if (!labels || labels.includes(label))
          cases.push({ via, label, argv: [...prefix, ...args], target, runs, wall: [], cpuMs: 0 });
    };
    const floor: Case = {
      via: 'floor',
      label: 'node -e 0',
      argv: [process.execPath, '-e', '0'],
      target: false,
      runs: RUNS,
      wall: [],
      cpuMs: 0,
    };
    cases.push(floor);
    add('node dist/cmd/medic.js', [process.execPath, MEDIC], RUNS);
    const exe = packagedExecutable();
    if (exe) add(`packaged executable ${path.relative(ROOT, exe)}`, [exe], RUNS);
    const base = process.env.MEDIC_BENCH_BASE;
    if (base) {
      add(
        `base: node ${path.join(base, 'dist/cmd/medic.js')}`,
        [process.execPath, path.join(base, 'dist', 'cmd', 'medic.js')],
        RUNS,
      );
      const baseExe = path.join(base, 'dist', 'sea', 'medic');
      if (fs.existsSync(baseExe)) add(`base: packaged executable ${baseExe}`, [baseExe], RUNS);
    }
    if (NPX_RUNS > 0) add('npx medic', ['npx', 'medic'], NPX_RUNS, ['version', 'status (coordinator)', 'list (coordinator)']);

    // npx's first call in a checkout: it installs the checkout into an empty npx cache.
    let npxFirst: number | undefined;
    if (NPX_RUNS > 0) {
      const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-bench-npx-cache-'));
      npxFirst = (await timeOnce(['npx', '--cache', cache, 'medic', 'version'], env)).wallMs;
      fs.rmSync(cache, { recursive: true, force: true });
    }
    await measure(cases, env);

    const floorP50 = percentile(floor.wall, 50);
    const out = [
      `medic CLI start: wall from spawn to exit, ${RUNS} runs each (npx: ${NPX_RUNS}), after a warm-up round; ` +
        `${os.cpus().length} CPUs, load ${loadAtStart} at start, ${load()} at end; Node.js ${process.versions.node}`,
      `coordinator: medic coordinator (mTLS) on 127.0.0.1, Temporal ${temporal.label}`,
      'floor',
      row(floor, floorP50),
    ];
    for (const via of [...new Set(cases.filter((c) => c !== floor).map((c) => c.via))]) {
      out.push(via);
      for (const c of cases.filter((x) => x.via === via)) out.push(row(c, floorP50));
    }
    if (npxFirst !== undefined) out.push(`npx medic version, first call with an empty npx cache: ${npxFirst.toFixed(0)} ms`);
    if (!exe) out.push('packaged executable: not built (npm run package, or dist/sea/medic): not measured');
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await worker?.stop();
    await coordinator.stop();
    await temporal.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:cli: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
