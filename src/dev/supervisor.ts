// Runs `medic dev`'s children (Temporal, demo service, coordinator, worker, trigger daemon) as
// one unit: their output is prefixed with their name, one dying takes the others down, and
// stopping stops them in reverse order, SIGTERM first and SIGKILL after a grace period, so no
// process outlives `medic dev`. Children run in their own process group: a Ctrl-C in the
// terminal reaches `medic dev` alone, which then stops them in order (the worker before Temporal).
// A watchdog process (reaper.ts) learns every child's pid and stops them if `medic dev` dies first.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Watchdog } from './reaper';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/** A process started elsewhere (e.g. by startDevServer) that the supervisor stops with the rest. */
export interface AdoptedChild {
  name: string;
  pid: number;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

interface Running {
  name: string;
  pid?: number;
  done: boolean;
  exited: Promise<number | null>;
  stop(graceMs: number): Promise<void>;
}

export class Supervisor {
  private readonly running: Running[] = [];
  private readonly listeners: Array<{ name: string; listener: (line: string) => void }> = [];
  private stopping = false;
  private failure?: (why: string) => void;
  /** Resolves with a message when a child exits on its own. */
  readonly failed: Promise<string>;

  constructor(
    private readonly write: (line: string) => void,
    private readonly watchdog?: Watchdog,
  ) {
    this.failed = new Promise((resolve) => (this.failure = resolve));
  }

  private track(entry: Running): void {
    this.running.push(entry);
    if (entry.pid !== undefined) this.watchdog?.watch(entry.pid);
    void entry.exited.then((code) => {
      entry.done = true;
      if (entry.pid !== undefined) this.watchdog?.forget(entry.pid);
      if (!this.stopping) this.failure?.(`${entry.name} exited unexpectedly (${code === null ? 'signal' : `code ${code}`})`);
    });
  }

  start(spec: ChildSpec): ChildProcess {
    const child = spawn(spec.command, spec.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...spec.env },
      detached: true,
    });
    const prefix = `${spec.name.padEnd(11)} | `;
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) {
        if (!line.trim()) continue;
        this.write(prefix + line);
        for (const l of this.listeners) if (l.name === spec.name) l.listener(line);
      }
    };
    child.stdout!.on('data', forward);
    child.stderr!.on('data', forward);
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (err) => {
        this.write(`${prefix}cannot start: ${err.message}`);
        resolve(-1);
      });
      child.once('exit', (code) => resolve(code));
    });
    this.track({
      name: spec.name,
      pid: child.pid,
      done: false,
      exited,
      stop: async (graceMs) => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(timer);
      },
    });
    return child;
  }

  adopt(child: AdoptedChild): void {
    this.track({ name: child.name, pid: child.pid, done: false, exited: child.exited, stop: () => child.stop() });
  }

  /** Calls `listener` with every line the named child prints. */
  onLine(name: string, listener: (line: string) => void): void {
    this.listeners.push({ name, listener });
  }

  /** Resolves when the named child prints a line matching `pattern`. */
  lineFrom(name: string, pattern: RegExp): Promise<void> {
    return new Promise((resolve) => this.onLine(name, (line) => pattern.test(line) && resolve()));
  }

  pids(): number[] {
    return this.running.map((r) => r.pid).filter((p): p is number => p !== undefined);
  }

  /** Stops every child, last started first. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const r of [...this.running].reverse()) {
      if (!r.done) await r.stop(graceMs);
    }
    this.watchdog?.release();
  }
}
