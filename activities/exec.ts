// Runs an executable with an argument array (execFile, never a shell), with a timeout, output
// capped per stream, and cancellation. Every activity that runs a program goes through here.
import { execFile } from 'node:child_process';
import { NotConfiguredError } from './errors';

export interface ExecOptions {
  timeoutMs: number;
  /** Bytes of stdout and of stderr kept; the rest is dropped and `truncated` is set. */
  maxOutputBytes: number;
  env?: Record<string, string>;
  /** Aborting kills the child (SIGTERM, then SIGKILL from the timeout path). */
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

// execFile buffers up to maxBuffer and kills the child beyond it; allow far more than we keep,
// so a chatty command is cut in the result rather than killed half way through its work.
const HARD_BUFFER_LIMIT = 16 * 1024 * 1024;

function cut(buf: Buffer, max: number): { text: string; truncated: boolean } {
  return buf.length <= max
    ? { text: buf.toString('utf8'), truncated: false }
    : { text: buf.subarray(0, max).toString('utf8'), truncated: true };
}

/** Runs argv[0] with argv[1..]; resolves with the outcome whatever the exit status. Rejects only when it cannot start. */
export function execArgv(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error('empty command'));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const child = execFile(
      file,
      args,
      {
        shell: false,
        encoding: 'buffer',
        killSignal: 'SIGKILL',
        maxBuffer: Math.max(HARD_BUFFER_LIMIT, opts.maxOutputBytes),
        // A minimal environment: the command sees what we choose to pass, not the worker's secrets.
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', ...opts.env },
        signal: opts.signal,
        windowsHide: true,
      },
      (err, stdout, stderr) => {
        clearTimeout(timer);
        const e = err as (NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string }) | null;
        if (e && typeof e.code === 'string' && e.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER' && e.code !== 'ABORT_ERR') {
          // ENOENT, EACCES: the program could not be started at all; retrying will not install it.
          return reject(new NotConfiguredError(`cannot run ${file}: ${e.code}`));
        }
        if (e?.code === 'ABORT_ERR') return reject(opts.signal?.reason ?? e);
        const out = cut(stdout as Buffer, opts.maxOutputBytes);
        const errOut = cut(stderr as Buffer, opts.maxOutputBytes);
        const durationMs = Date.now() - started;
        resolve({
          argv: [...argv],
          exitCode: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          timedOut,
          stdout: out.text,
          stderr: errOut.text,
          truncated: out.truncated || errOut.truncated || e?.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
          durationMs,
        });
      },
    );
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
  });
}
