// Cuts a byte stream into lines with bounded memory: at most `maxLineBytes` of the line in
// progress are kept, and the rest of a longer line is dropped up to its newline (the line is
// reported cut), so a line of any length, or bytes with no newline at all, cost a fixed amount.

export interface Line {
  text: string;
  /** Byte offset of the line's first byte in the stream. */
  offset: number;
  /** Byte offset just past its newline: where reading resumes after this line. */
  end: number;
  /** The line was longer than `maxLineBytes`; `text` is its beginning. */
  cut: boolean;
}

export class LineSplitter {
  private readonly partial: Buffer;
  private kept = 0;
  private cut = false;
  /** Stream offset of the line in progress. */
  private lineStart: number;

  constructor(
    private readonly maxLineBytes: number,
    startOffset = 0,
  ) {
    this.partial = Buffer.allocUnsafe(maxLineBytes);
    this.lineStart = startOffset;
  }

  /** Where the line in progress began: the offset to resume from so that no line is lost. */
  get resumeOffset(): number {
    return this.lineStart;
  }

  /** Bytes of the line in progress held (at most maxLineBytes) and whether it was cut already. */
  get pending(): { bytes: number; cut: boolean } {
    return { bytes: this.kept, cut: this.cut };
  }

  /** Starts over at `offset` (a new file, or the same file truncated), dropping the line in progress. */
  reset(offset: number): void {
    this.kept = 0;
    this.cut = false;
    this.lineStart = offset;
  }

  /** Feeds `chunk` (bytes `chunkOffset`.. of the stream); calls `onLine` for each complete line. */
  push(chunk: Buffer, chunkOffset: number, onLine: (line: Line) => void): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl === -1) break;
      const end = chunkOffset + nl + 1;
      let text: string;
      if (this.kept === 0 && !this.cut) {
        const take = Math.min(nl - from, this.maxLineBytes);
        text = chunk.toString('utf8', from, from + take);
        this.cut = nl - from > this.maxLineBytes;
      } else {
        this.keep(chunk, from, nl);
        text = this.partial.toString('utf8', 0, this.kept);
      }
      onLine({ text: stripCr(text), offset: this.lineStart, end, cut: this.cut });
      this.kept = 0;
      this.cut = false;
      this.lineStart = end;
      from = nl + 1;
    }
    this.keep(chunk, from, chunk.length);
  }

  /** Hands out the line in progress as a line of its own (the stream ended without a newline). */
  flush(endOffset: number, onLine: (line: Line) => void): void {
    if (this.kept === 0 && !this.cut && endOffset === this.lineStart) return;
    onLine({ text: stripCr(this.partial.toString('utf8', 0, this.kept)), offset: this.lineStart, end: endOffset, cut: this.cut });
    this.reset(endOffset);
  }

  private keep(chunk: Buffer, from: number, to: number): void {
    const room = this.maxLineBytes - this.kept;
    const n = Math.min(room, to - from);
    if (n > 0) chunk.copy(this.partial, this.kept, from, from + n);
    this.kept += Math.max(0, n);
    if (to - from > room) this.cut = true;
  }
}

const stripCr = (s: string): string => (s.endsWith('\r') ? s.slice(0, -1) : s);
