// Follows a log file the way `tail -F` does, by its open descriptor: reads in fixed-size chunks,
// notices a rename (the path now names another inode: the old file is read to its end first) and
// a truncation (the file is shorter than the offset read), and resumes after a restart from a
// saved position, also when the file was rotated meanwhile (the old one is found by its inode).
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LineSplitter, type Line } from './line-splitter';

/** Which file (device, inode, birth time: inodes are reused) and how far into it. */
export interface FilePosition {
  dev: number;
  ino: number;
  birth: number;
  offset: number;
}

export type FileIdentity = Pick<FilePosition, 'dev' | 'ino' | 'birth'>;

export type TailEvent =
  | { kind: 'opened'; file: string; offset: number }
  | { kind: 'rotated'; file: string }
  | { kind: 'truncated'; file: string; offset: number }
  | { kind: 'resumed_rotated'; file: string; from: string }
  | { kind: 'lost_rotated'; file: string }
  | { kind: 'error'; file: string; error: unknown };

export interface FileTailOptions {
  path: string;
  maxLineBytes: number;
  chunkBytes?: number;
  /** How often to look for new data, a rotation or a truncation once at the end of the file. */
  pollMs?: number;
  /** Where an earlier run stopped; without it reading starts at the end of the file found now. */
  resume?: FilePosition;
  /** Each line, in order, with the file it is in. */
  onLine(line: Line, file: FileIdentity): void;
  /** After each chunk: bytes read, the position reached and how many bytes are left to read. */
  onProgress?(bytes: number, position: FilePosition, behind: number): void;
  onEvent?(event: TailEvent): void;
}

const sameFile = (st: Stats, p: FileIdentity): boolean =>
  st.dev === p.dev && st.ino === p.ino && Math.round(st.birthtimeMs) === p.birth;

const identity = (st: Stats) => ({ dev: st.dev, ino: st.ino, birth: Math.round(st.birthtimeMs) });

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch {
    return undefined;
  }
}

export class FileTail {
  private readonly chunk: Buffer;
  private readonly splitter: LineSplitter;
  private position?: FilePosition;

  constructor(private readonly opts: FileTailOptions) {
    this.chunk = Buffer.allocUnsafe(opts.chunkBytes ?? 64 * 1024);
    this.splitter = new LineSplitter(opts.maxLineBytes);
  }

  /** Where reading would resume (the start of the line in progress), once a file was opened. */
  current(): FilePosition | undefined {
    return this.position && { ...this.position, offset: this.splitter.resumeOffset };
  }

  /** Follows the file until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.opts.pollMs ?? 250;
    let resume = this.opts.resume;
    let fromStart = false;
    while (!signal.aborted) {
      let handle: fs.FileHandle;
      try {
        handle = await fs.open(this.opts.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          this.opts.onEvent?.({ kind: 'error', file: this.opts.path, error: err });
        // A file that appears later is new: all of it is unread.
        fromStart = true;
        await sleep(pollMs, undefined, { signal }).catch(() => undefined);
        continue;
      }
      try {
        const st = await handle.stat();
        let offset = fromStart ? 0 : st.size;
        if (resume) {
          if (sameFile(st, resume)) offset = resume.offset <= st.size ? resume.offset : 0;
          else {
            offset = 0;
            await this.drainRotated(resume, signal);
          }
          resume = undefined;
        }
        this.position = { ...identity(st), offset };
        this.splitter.reset(offset);
        this.opts.onEvent?.({ kind: 'opened', file: this.opts.path, offset });
        await this.follow(handle, offset, pollMs, signal);
        fromStart = true;
      } catch (err) {
        if (signal.aborted) break;
        this.opts.onEvent?.({ kind: 'error', file: this.opts.path, error: err });
        // Keep the place: the same file is reopened where it was left.
        resume = this.current();
        await sleep(pollMs, undefined, { signal }).catch(() => undefined);
      } finally {
        await handle.close().catch(() => undefined);
      }
    }
  }

  /**
   * Reads `handle` from `offset` to its end, again and again; returns once the path names
   * another file (after reading the old one to its end) so the caller opens the new one.
   */
  private async follow(handle: fs.FileHandle, start: number, pollMs: number, signal: AbortSignal): Promise<void> {
    let offset = start;
    while (!signal.aborted) {
      offset = await this.readToEnd(handle, offset, signal);
      if (signal.aborted) return;
      const size = (await handle.stat()).size;
      if (size < offset) {
        // copytruncate: the same inode starts again from the beginning.
        offset = 0;
        this.splitter.reset(0);
        this.opts.onEvent?.({ kind: 'truncated', file: this.opts.path, offset: 0 });
        continue;
      }
      const now = await statOrUndefined(this.opts.path);
      if (now && this.position && !sameFile(now, this.position)) {
        // Renamed away: what the writer added before the rename is still in the old file.
        offset = await this.readToEnd(handle, offset, signal);
        this.splitter.flush(offset, (line) => this.opts.onLine(line, this.position!));
        this.opts.onEvent?.({ kind: 'rotated', file: this.opts.path });
        return;
      }
      await sleep(pollMs, undefined, { signal }).catch(() => undefined);
    }
  }

  private async readToEnd(handle: fs.FileHandle, start: number, signal: AbortSignal): Promise<number> {
    let offset = start;
    while (!signal.aborted) {
      const { bytesRead } = await handle.read(this.chunk, 0, this.chunk.length, offset);
      if (bytesRead === 0) return offset;
      const at = offset;
      offset += bytesRead;
      const file = this.position!;
      this.splitter.push(this.chunk.subarray(0, bytesRead), at, (line) => this.opts.onLine(line, file));
      this.position!.offset = offset;
      if (this.opts.onProgress) {
        const size = (await handle.stat()).size;
        this.opts.onProgress(bytesRead, this.current()!, Math.max(0, size - offset));
      }
    }
    return offset;
  }

  /**
   * After a restart, the saved file may have been rotated meanwhile: its unread end is read from
   * wherever it now is in the same directory (e.g. error.log.1), found by device and inode.
   */
  private async drainRotated(saved: FilePosition, signal: AbortSignal): Promise<void> {
    const dir = path.dirname(this.opts.path);
    let names: string[] = [];
    try {
      names = await fs.readdir(dir);
    } catch {}
    for (const name of names) {
      const file = path.join(dir, name);
      const st = await statOrUndefined(file);
      if (!st?.isFile() || !sameFile(st, saved)) continue;
      const handle = await fs.open(file, 'r').catch(() => undefined);
      if (!handle) break;
      try {
        this.position = { ...identity(await handle.stat()), offset: saved.offset };
        this.splitter.reset(saved.offset);
        const end = await this.readToEnd(handle, saved.offset, signal);
        this.splitter.flush(end, (line) => this.opts.onLine(line, this.position!));
      } finally {
        await handle.close().catch(() => undefined);
      }
      this.opts.onEvent?.({ kind: 'resumed_rotated', file: this.opts.path, from: file });
      return;
    }
    this.opts.onEvent?.({ kind: 'lost_rotated', file: this.opts.path });
  }
}
