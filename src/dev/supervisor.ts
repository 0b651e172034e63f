// Runs `medic dev`'s children (Temporal, demo service, coordinator, worker, trigger daemon) as
// one unit: their output is prefixed with their name, one dying takes the others down, and
// stopping stops them in reverse order, SIGTERM first and SIGKILL after a grace period, so no
// process outlives `medic dev`. Children run in their own process group: a Ctrl-C in the
// terminal reaches `medic dev` alone, which then stops them in order (the worker before Temporal).
import { spawn, type ChildProcess } from 'node:child_process';

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
  private readonly watchers: Array<{ name: string; pattern: RegExp; resolve: () => void }> = [];
  private stopping = false;
  private failure?: (why: string) => void;
  /** Resolves with a message when a child exits on its own. */
  readonly failed: Promise<string>;

  constructor(private readonly write: (line: string) => void) {
    this.failed = new Promise((resolve) => (this.failure = resolve));
  }

  private track(entry: Running): void {
    this.running.push(entry);
    void entry.exited.then((code) => {
      entry.done = true;
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
        for (const w of this.watchers.filter((x) => x.name === spec.name && x.pattern.test(line))) w.resolve();
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

  /** Resolves when the named child prints a line matching `pattern`. */
  lineFrom(name: string, pattern: RegExp): Promise<void> {
    return new Promise((resolve) => this.watchers.push({ name, pattern, resolve }));
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
  }
}
