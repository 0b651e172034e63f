// `medic dev` driven as a user drives it: start it, wait for the banner, paste the command it
// prints (break the demo service, then `medic run healDemo --wait`), see the service healthy
// again, Ctrl-C, and check that no child survives and every port is free. A second run on the
// same data directory sees the first run's execution.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, portIsFree } from '../../src/temporal/dev-server';
import { MEDIC, ROOT } from '../helpers/stack';

jest.setTimeout(180_000);

const FLAGS = ['temporal-port', 'ui-port', 'coordinator-port', 'demo-port', 'worker-metrics-port', 'trigger-metrics-port'];

interface Dev {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function startDev(args: string[]): Dev {
  const child = spawn(process.execPath, [MEDIC, 'dev', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-50_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function banner(dev: Dev): Promise<string> {
  while (!dev.stdout().includes('let medic heal it:')) {
    if (dev.child.exitCode !== null) throw new Error(`medic dev exited (${dev.child.exitCode}):\n${dev.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // The line after the invitation; wait until it is complete.
  for (;;) {
    const lines = dev.stdout().split('\n');
    const at = lines.findIndex((l) => l.includes('let medic heal it:'));
    if (lines.length > at + 2) return lines[at + 1]!.trim();
    await new Promise((r) => setTimeout(r, 50));
  }
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
    return true;
  } catch {
    return false;
  }
}

async function health(port: number): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`);
  return { status: res.status, body: await res.text() };
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-dev-e2e-'));
const ports: Record<string, number> = {};
let args: string[];

beforeAll(async () => {
  for (const flag of FLAGS) ports[flag] = await freePort();
  args = ['--data-dir', dataDir, ...FLAGS.flatMap((f) => [`--${f}`, String(ports[f])])];
});

afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

describe('medic dev', () => {
  it('heals the broken demo service with the command its banner prints, and leaves nothing behind on Ctrl-C', async () => {
    const dev = startDev(args);
    try {
      const command = await banner(dev);
      expect(dev.stdout()).toContain(`coordinator   https://127.0.0.1:${ports['coordinator-port']}`);
      expect(dev.stdout()).toContain(`Temporal UI   http://127.0.0.1:${ports['ui-port']}`);
      expect(dev.stdout()).toContain(`http://127.0.0.1:${ports['worker-metrics-port']}/metrics`);
      const children = childrenOf(dev.child.pid!);
      expect(children.length).toBeGreaterThanOrEqual(4); // temporal, demo, coordinator, worker

      // The pasted line is "<break> && <heal>", each a plain argv (no quoting needed).
      const [breakCmd, healCmd] = command.split(' && ').map((part) => part.split(' '));
      expect(breakCmd!.slice(0, 4)).toEqual(['node', 'dist/cmd/medic.js', 'demo', 'break']);
      expect(healCmd).toEqual(expect.arrayContaining(['run', 'healDemo', '--wait']));
      const node = (p: string[]): string[] => [process.execPath, ...p.slice(1)];

      expect((await health(ports['demo-port']!)).status).toBe(200);
      const broken = await run(node(breakCmd!));
      expect(broken.code).toBe(0);
      expect(await health(ports['demo-port']!)).toMatchObject({ status: 503, body: expect.stringContaining('stale lock') });

      const healed = await run(node(healCmd!));
      expect(healed.stderr).toContain('see-it-failing');
      expect(healed.stderr).toContain('✓ healDemo healed: ');
      expect(healed.code).toBe(0);
      expect(await health(ports['demo-port']!)).toEqual({ status: 200, body: 'ok\n' });

      dev.child.kill('SIGINT');
      expect(await dev.exited).toBe(0);
      expect(dev.stderr()).toContain('medic dev: all processes stopped');
      expect(children.filter(alive)).toEqual([]);
      for (const flag of FLAGS) expect(await portIsFree(ports[flag]!)).toBe(true);
    } finally {
      if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
    }
  });

  it('reuses its data on the next run: the first run’s execution is still listed', async () => {
    const dev = startDev(args);
    try {
      await banner(dev);
      expect(dev.stderr()).toContain('certificates reused');
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
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ workflow: 'healDemo', status: 'COMPLETED' })]);
      dev.child.kill('SIGINT');
      expect(await dev.exited).toBe(0);
    } finally {
      if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
    }
  });

  it('names a port in use and the flag that moves it', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(ports['coordinator-port'], '127.0.0.1', resolve));
    try {
      const dev = startDev(args);
      expect(await dev.exited).toBe(1);
      expect(dev.stderr()).toContain(
        `medic dev: port ${ports['coordinator-port']} (coordinator (HTTPS)) is in use on 127.0.0.1; choose another with --coordinator-port PORT`,
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
