// The real `medic` CLI as a child process, run from source: for tests about signals, exit codes,
// SIGKILL and the metrics port, which only a separate process can show.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventually } from './temporal';

const ROOT = path.join(__dirname, '..', '..');

export interface MedicProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Waits for a line matching `pattern` in the output. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

export function spawnMedic(args: string[], env: Record<string, string> = {}): MedicProcess {
  const child = spawn(
    process.execPath,
    ['-r', path.join(__dirname, 'swc-register.js'), path.join(ROOT, 'cmd', 'medic.ts'), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    output: () => out,
    waitFor: (pattern, timeoutMs = 30_000) =>
      eventually(async () => (pattern.test(out) ? true : undefined), timeoutMs, `${pattern} in medic's output:\n${out}`).then(
        () => undefined,
      ),
    exited,
  };
}

/** A config directory with worker.hcl (and the given workflow configs) for one test worker. */
export function writeWorkerConfig(dir: string, worker: string, extra = ''): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'worker.hcl'), `worker {\n${worker}\n}\n${extra}`);
  return dir;
}
