// How the CLI verbs print: aligned tables for people, colours and a spinner only on a terminal
// (and never with NO_COLOR), plain lines otherwise so logs and pipes stay readable.
type Stream = NodeJS.WritableStream & { isTTY?: boolean };

export function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as Stream).isTTY === true;
}

export interface Colours {
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

export function colours(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Colours {
  const on = isTerminal(stream) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
  const wrap =
    (open: number, close: number) =>
    (s: string): string =>
      on ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return { red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

/** Colour for an execution status word. */
export function statusColour(c: Colours, status: string): string {
  const s = status.toUpperCase();
  if (s === 'COMPLETED' || s === 'SUCCEEDED') return c.green(status);
  if (s === 'RUNNING') return c.yellow(status);
  return c.red(status);
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Columns padded to their widest cell (ignoring colour codes). */
export function table(headers: string[], rows: string[][]): string {
  const width = (s: string): number => s.replace(ANSI, '').length;
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Shows what a running thing is doing. On a terminal: one line redrawn with a spinner.
 * Elsewhere: a plain line each time the text changes.
 */
export class ProgressLine {
  private text = '';
  private frame = 0;
  private timer?: NodeJS.Timeout;
  private readonly tty: boolean;

  constructor(private readonly stream: NodeJS.WritableStream) {
    this.tty = isTerminal(stream);
  }

  update(text: string): void {
    if (text === this.text) return;
    this.text = text;
    if (!this.tty) {
      this.stream.write(text + '\n');
      return;
    }
    this.timer ??= setInterval(() => this.draw(), 100);
    this.draw();
  }

  private draw(): void {
    this.frame = (this.frame + 1) % FRAMES.length;
    this.stream.write(`\r\x1b[2K${FRAMES[this.frame]} ${this.text}`);
  }

  /** Stops the spinner and leaves `final` (if any) on its own line. */
  done(final?: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.text) this.stream.write('\r\x1b[2K');
    if (final) this.stream.write(final + '\n');
  }
}
