// The one way tests and benchmarks start processes: any program (Prometheus, Alertmanager) or
// the real `medic` CLI in any role (coordinator, worker, trigger, dev), with its output kept for
// failure messages, readiness read from what it prints (the bound port of a port-0 listener),
// SIGTERM-then-SIGKILL stops, and every process still running reaped by pid in teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { freePort } from '../../src/temporal/dev-server';
import { request } from './https';
import { waitFor } from './wait';

export const ROOT = path.join(__dirname, '..', '..');
/** The built CLI (npm run build; npm test builds first). */
export const MEDIC = path.join(ROOT, 'dist', 'cmd', 'medic.js');
const SOURCE_ARGV = ['-r', path.join(__dirname, 'swc-register.js'), path.join(ROOT, 'cmd', 'medic.ts')];

/** Output kept per stream (the tail beyond this is dropped). */
const KEEP = 1 << 20;

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr as they came, interleaved. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Waits for `pattern` in the output; fails early (with the output) if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code, or the signal name. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
}
/** The old name of a medic child process. */
export type MedicProcess = Proc;

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const running = new Set<Proc>();

/** SIGKILLs every process these helpers started that is still running, and waits until each is gone. */
export async function reapAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

process.once('exit', () => {
  for (const p of running) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {}
  }
});
// In a jest test file: whatever a test left running is reaped after the file's own hooks.
if (typeof afterAll === 'function') afterAll(reapAll);

/** Starts any program as a child process. */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}, opts: StartOptions = {}): Proc {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env, ...env },
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  const tail = (s: string): string => (s.length > KEEP ? s.slice(-KEEP) : s);
  child.stdout!.on('data', (b: Buffer) => {
    stdout = tail(stdout + b.toString());
    out = tail(out + b.toString());
  });
  child.stderr!.on('data', (b: Buffer) => {
    stderr = tail(stderr + b.toString());
    out = tail(out + b.toString());
  });
  child.on('error', (err) => (out += `spawn error: ${err.message}\n`));
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  // 'close': the process is gone and its output is all read.
  const gone = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? -1)));
  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: gone,
    waitFor: (pattern, timeoutMs = 30_000) =>
      waitFor(
        `${pattern} in the output of ${path.basename(command)} ${args.slice(0, 2).join(' ')}`,
        () => {
          const m = pattern.exec(out);
          if (m) return m;
          if (exited() || child.pid === undefined)
            throw new Error(
              `${command} ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${out}`,
            );
          return undefined;
        },
        timeoutMs,
        50,
      ).catch((err: Error) => {
        throw err.message.includes(out) ? err : new Error(`${err.message}\n${out}`);
      }),
    async stop(graceMs = 10_000) {
      if (!exited()) {
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.kill('SIGTERM');
        await gone;
        clearTimeout(timer);
      }
      await gone;
    },
    async kill() {
      if (!exited()) child.kill('SIGKILL');
      await gone;
    },
  };
  if (child.pid !== undefined) {
    running.add(proc);
    void gone.then(() => running.delete(proc));
  }
  return proc;
}

/** Runs `medic ARGS` from dist/ (default) or from its TypeScript sources (no build needed, slower to start). */
export function spawnMedic(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  opts: StartOptions & { from?: 'dist' | 'source'; medic?: string } = {},
): Proc {
  const medic = opts.medic ?? MEDIC;
  if (opts.from !== 'source' && !fs.existsSync(medic)) throw new Error(`${medic} is missing: run npm run build (npm test does)`);
  const argv = opts.from === 'source' ? [...SOURCE_ARGV, ...args] : [medic, ...args];
  return startProcess(process.execPath, argv, { MEDIC_LOG_LEVEL: 'info', ...env }, opts);
}

/** Polls an HTTP(S) URL until it answers 2xx. */
export async function waitForHttp(url: string, proc: Proc, timeoutMs = 30_000, agent?: https.Agent): Promise<void> {
  await waitFor(
    `${url} to answer`,
    async () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null)
        throw new Error(
          `process exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${url} answered:\n${proc.output()}`,
        );
      const status = url.startsWith('https:')
        ? await request(agent ?? insecure, 'GET', url).then(
            (r) => r.status,
            () => 0,
          )
        : await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
            (r) => r.status,
            () => 0,
          );
      return status >= 200 && status < 300 ? true : undefined;
    },
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw err.message.includes(proc.output()) ? err : new Error(`${err.message}:\n${proc.output()}`);
  });
}
/** For public probes (/readyz) only: the tests' coordinators use certificates of a CA made per test. */
const insecure = new https.Agent({ rejectUnauthorized: false });

export interface Coordinator {
  proc: Proc;
  /** https://127.0.0.1:PORT: the port it bound (listen = "127.0.0.1:0"). */
  url: string;
  port: number;
}

/**
 * `medic coordinator --config DIR`: reads the bound address from its "listening on" line, then
 * waits until /readyz answers 200 (it is public in every test config).
 */
export async function startCoordinator(
  configDir: string,
  /** `medic`: another build's dist/cmd/medic.js (an earlier release, test/helpers/release.ts). */
  opts: StartOptions & { timeoutMs?: number; medic?: string } = {},
): Promise<Coordinator> {
  const proc = spawnMedic(['coordinator', '--config', configDir], {}, opts);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const m = await proc.waitFor(/listening on (https?):\/\/(\S+):(\d+) /, timeoutMs);
  const port = Number(m[3]);
  const url = `${m[1]}://127.0.0.1:${port}`;
  await waitForHttp(`${url}/readyz`, proc, timeoutMs);
  return { proc, url, port };
}

export interface Trigger {
  proc: Proc;
  /** http://127.0.0.1:PORT/metrics (the bound port), or undefined with --metrics-listen off. */
  metricsUrl?: string;
}

/** `medic trigger --config DIR --metrics-listen 127.0.0.1:0 ...`: waits for its start line and reads the metrics address. */
export async function startTrigger(
  configDir: string,
  args: string[] = [],
  opts: StartOptions & { from?: 'dist' | 'source'; timeoutMs?: number } = {},
): Promise<Trigger> {
  const listen = args.includes('--metrics-listen') ? [] : ['--metrics-listen', '127.0.0.1:0'];
  const proc = spawnMedic(['trigger', '--config', configDir, ...listen, ...args], {}, opts);
  const m = await proc.waitFor(/"msg":"trigger daemon started".*$/m, opts.timeoutMs ?? 60_000);
  const metricsUrl = /"metrics":"([^"]+)"/.exec(m[0])?.[1];
  return { proc, metricsUrl };
}

/**
 * TCP ports a process listens on, from /proc (Linux): for listeners that bind port 0 without
 * printing it (the worker's /metrics, served by the Temporal runtime).
 */
export function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 9 is the inode.
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.add(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return [...ports];
}

/** A config directory with worker.hcl (and the given workflow configs) for one test worker. */
export function writeWorkerConfig(dir: string, worker: string, extra = ''): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'worker.hcl'), `worker {\n${worker}\n}\n${extra}`);
  return dir;
}

/**
 * The /metrics URL of a process whose metrics listener bound port 0 without printing the port
 * (`medic worker`: the Temporal runtime serves it): the one port it listens on that answers /metrics.
 */
export function metricsUrlOf(proc: Proc, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `a /metrics listener of pid ${proc.pid}`,
    async () => {
      for (const port of listeningPorts(proc.pid)) {
        const url = `http://127.0.0.1:${port}/metrics`;
        const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return url;
      }
      return undefined;
    },
    timeoutMs,
  );
}

export interface Dev {
  proc: Proc;
  /** flag (without --) -> the port it was given. */
  ports: Record<string, number>;
}

/**
 * `medic dev ARGS --FLAG PORT...`: dev wires its ports into each other's configs, so it takes
 * numbers, not port 0. They are picked free; when one was taken meanwhile (dev says "in use", or
 * a child reports EADDRINUSE) dev is started again on new ones. `ports` are tried first.
 */
export async function startDev(opts: {
  args: string[];
  portFlags: string[];
  ports?: Record<string, number>;
  /** Resolves once dev is ready (e.g. its banner printed); rejects if it exits. */
  ready: (proc: Proc) => Promise<void>;
  attempts?: number;
}): Promise<Dev> {
  const attempts = opts.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    const ports: Record<string, number> = {};
    for (const flag of opts.portFlags) ports[flag] = (attempt === 1 ? opts.ports?.[flag] : undefined) ?? (await freePort());
    const proc = spawnMedic(['dev', ...opts.args, ...opts.portFlags.flatMap((f) => [`--${f}`, String(ports[f])])]);
    try {
      await opts.ready(proc);
      return { proc, ports };
    } catch (err) {
      await proc.stop();
      const taken = /is in use on|is already in use|EADDRINUSE|address already in use/.test(proc.output());
      if (!taken || attempt >= attempts) throw err;
    }
  }
}

/**
 * For third-party servers that take a port number (Prometheus, Alertmanager): picks a free port,
 * starts the server, waits until it is ready, and starts it again on another port when the one
 * picked was taken meanwhile ("address already in use").
 */
export async function startOnFreePort(
  start: (port: number) => Proc,
  ready: (port: number, proc: Proc) => Promise<void>,
  attempts = 3,
): Promise<{ port: number; proc: Proc }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = start(port);
    try {
      await ready(port, proc);
      return { port, proc };
    } catch (err) {
      await proc.stop();
      if (!/address already in use|EADDRINUSE|bind: /i.test(proc.output()) || attempt >= attempts) throw err;
    }
  }
}
