// Runs `medic dev`'s children (coordinator, worker, trigger daemon, demo service) as one unit:
// their output is prefixed with their name, one dying takes the others down, and stopping
// stops them in reverse order, SIGTERM first and SIGKILL after a grace period, so no
// process outlives `medic dev`.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

interface Running {
  spec: ChildSpec;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export class Supervisor {
  private readonly running: Running[] = [];
  private stopping = false;
  private failure?: (why: string) => void;
  /** Resolves with a message when a child exits on its own. */
  readonly failed: Promise<string>;

  constructor(private readonly write: (line: string) => void) {
    this.failed = new Promise((resolve) => (this.failure = resolve));
  }

  start(spec: ChildSpec): ChildProcess {
    const child = spawn(spec.command, spec.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...spec.env },
    });
    const prefix = `${spec.name.padEnd(11)} | `;
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) this.write(prefix + line);
    };
    child.stdout!.on('data', forward);
    child.stderr!.on('data', forward);
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (err) => {
        this.write(`${prefix}cannot start: ${err.message}`);
        resolve(-1);
      });
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.failure?.(`${spec.name} exited unexpectedly (${signal ?? `code ${code}`})`);
        resolve(code);
      });
    });
    this.running.push({ spec, child, exited });
    return child;
  }

  pids(): number[] {
    return this.running.map((r) => r.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Stops every child, last started first. */
  async stopAll(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const r of [...this.running].reverse()) {
      if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
      const timer = setTimeout(() => r.child.kill('SIGKILL'), graceMs);
      r.child.kill('SIGTERM');
      await r.exited;
      clearTimeout(timer);
    }
  }
}
