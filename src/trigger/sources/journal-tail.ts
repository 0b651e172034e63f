// Follows one systemd unit's journal through `journalctl --follow --output=json` (spawned with an
// argument array, never a shell), resuming after the cursor of the last entry it handed out, so a
// restart neither repeats nor skips entries. Reads stdout with back-pressure and bounded lines.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../backoff';
import { LineSplitter } from './line-splitter';

export interface JournalEntry {
  message: string;
  /** `__REALTIME_TIMESTAMP` in ms: when journald received it, the same for every reader. */
  timeMs: number;
  /** `__CURSOR`: the entry's identity in the journal, the same for every reader. */
  cursor: string;
}

export type JournalEvent =
  | { kind: 'started'; argv: string[] }
  | { kind: 'exited'; code: number | null; signal: string | null; stderr: string }
  | { kind: 'skipped'; reason: 'too_long' | 'not_json' };

export interface JournalTailOptions {
  unit: string;
  /** `journalctl --directory`: a journal directory other than the system's (e.g. a host's, mounted). */
  directory?: string;
  maxLineBytes: number;
  /** Cursor of the last entry handled by an earlier run; without it, only entries from now on. */
  resume?: string;
  /** The journalctl binary (tests point it elsewhere). */
  journalctl?: string;
  onEntry(entry: JournalEntry): void;
  onProgress?(bytes: number): void;
  onEvent?(event: JournalEvent): void;
}

const STDERR_KEEP = 4096;

/** journalctl's argv for following `unit` after `cursor` (or from now on). */
export function journalctlArgs(opts: Pick<JournalTailOptions, 'unit' | 'directory'>, cursor?: string): string[] {
  return [
    '--follow',
    '--output=json',
    // __CURSOR and __REALTIME_TIMESTAMP are always printed; everything else is not needed.
    '--output-fields=MESSAGE',
    '--no-pager',
    '--quiet',
    `--unit=${opts.unit}`,
    ...(opts.directory ? [`--directory=${opts.directory}`] : []),
    ...(cursor ? [`--after-cursor=${cursor}`] : ['--lines=0']),
  ];
}

/** MESSAGE as journalctl prints it: a string, or an array of bytes when it is not valid UTF-8. */
function messageOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]).toString('utf8');
  return undefined;
}

export class JournalTail {
  private cursor?: string;

  constructor(private readonly opts: JournalTailOptions) {
    this.cursor = opts.resume;
  }

  /** The cursor of the last entry handed out: where a restart resumes. */
  current(): string | undefined {
    return this.cursor;
  }

  /** Runs journalctl until `signal` aborts, starting it again (with backoff) when it exits. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const ranFor = await this.runOnce(signal);
      if (signal.aborted) return;
      failures = ranFor > 10_000 ? 0 : failures + 1;
      await sleep(backoffMs(failures, 1000, 30_000), undefined, { signal }).catch(() => undefined);
    }
  }

  /** One journalctl process, until it exits or `signal` aborts; returns how long it ran (ms). */
  private async runOnce(signal: AbortSignal): Promise<number> {
    const started = Date.now();
    const argv = journalctlArgs(this.opts, this.cursor);
    const child = spawn(this.opts.journalctl ?? 'journalctl', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = () => child.kill('SIGTERM');
    signal.addEventListener('abort', stop, { once: true });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-STDERR_KEEP);
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('error', (err) => {
        stderr += String(err);
        resolve({ code: null, signal: null });
      });
      child.once('close', (code, sig) => resolve({ code, signal: sig }));
    });
    this.opts.onEvent?.({ kind: 'started', argv });
    const splitter = new LineSplitter(this.opts.maxLineBytes);
    let offset = 0;
    try {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        splitter.push(chunk, offset, (line) => {
          if (line.cut) return this.opts.onEvent?.({ kind: 'skipped', reason: 'too_long' });
          this.handle(line.text);
        });
        offset += chunk.length;
        this.opts.onProgress?.(chunk.length);
      }
    } catch {
      // stdout closes with the process; its exit is reported below.
    }
    const end = await exited;
    signal.removeEventListener('abort', stop);
    if (!signal.aborted) this.opts.onEvent?.({ kind: 'exited', ...end, stderr: stderr.trim() });
    return Date.now() - started;
  }

  private handle(text: string): void {
    if (!text) return;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.opts.onEvent?.({ kind: 'skipped', reason: 'not_json' });
      return;
    }
    const cursor = entry.__CURSOR;
    const micros = Number(entry.__REALTIME_TIMESTAMP);
    if (typeof cursor !== 'string' || !Number.isFinite(micros))
      return this.opts.onEvent?.({ kind: 'skipped', reason: 'not_json' });
    this.cursor = cursor;
    const message = messageOf(entry.MESSAGE);
    if (message === undefined) return;
    this.opts.onEntry({ message, timeMs: Math.floor(micros / 1000), cursor });
  }
}
