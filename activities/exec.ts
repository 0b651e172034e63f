// Runs an executable with an argument array (spawn, never a shell), with a timeout, output
// capped per stream, and cancellation. The command runs in its own process group, killed as a
// group on timeout or cancellation. Every activity that runs a program goes through here.
import { spawn } from 'node:child_process';
import { NotConfiguredError } from './errors';

export interface ExecOptions {
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept; the rest is dropped and `truncated` is set. */
  maxOutputBytes: number;
  env?: Record<string, string>;
  /** Aborting kills the child and everything it started (SIGKILL to its process group). */
  signal?: AbortSignal;
}

export interface ExecResult {
  argv: string[];
  /** The exit code, or null when the process was killed by a signal. */
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
}

/** Collects up to `max` bytes of a stream; notes whether more came. */
function collector(max: number): { push(chunk: Buffer): void; result(): { text: string; truncated: boolean } } {
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  return {
    push(chunk) {
      if (kept >= max) return void (truncated = true);
      const part = chunk.length > max - kept ? ((truncated = true), chunk.subarray(0, max - kept)) : chunk;
      chunks.push(part);
      kept += part.length;
    },
    result: () => ({ text: Buffer.concat(chunks).toString('utf8'), truncated }),
  };
}

/** Runs argv[0] with argv[1..]; resolves with the outcome whatever the exit status. Rejects only when it cannot start. */
export function execArgv(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error('empty command'));
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let aborted = false;
    // spawn, not execFile: execFile does not pass `detached` on. Detached puts the command in a
    // process group of its own, so a timeout or a cancellation kills everything it started; a
    // grandchild that inherited stdout would otherwise keep the pipe (and this promise) open.
    const child = spawn(file, args, {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      // A minimal environment: the command sees what we choose to pass, not the worker's secrets.
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...opts.env },
      detached: true,
      windowsHide: true,
    });
    const out = collector(opts.maxOutputBytes);
    const errOut = collector(opts.maxOutputBytes);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => errOut.push(c));
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL'); // the group is gone already; make sure the child is too
      }
    };
    const onAbort = (): void => {
      aborted = true;
      killGroup();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const settle = (): void => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err: NodeJS.ErrnoException) => {
      settle();
      // ENOENT, EACCES: the program could not be started at all; retrying will not install it.
      reject(new NotConfiguredError(`cannot run ${file}: ${err.code ?? err.message}`));
    });
    // 'close': the child exited and its pipes are closed (the group is dead if we killed it).
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      settle();
      if (aborted) return reject(opts.signal?.reason ?? new Error('aborted'));
      const o = out.result();
      const e = errOut.result();
      resolve({
        argv: [...argv],
        exitCode: code,
        signal,
        timedOut,
        stdout: o.text,
        stderr: e.text,
        truncated: o.truncated || e.truncated,
        durationMs: Date.now() - started,
      });
    });
  });
}
