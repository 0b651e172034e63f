// The worker's log: one line per event, `level=... msg="..." key=value`, to stderr (journald
// adds the time). Small on purpose: a daemon on every server should not need a logging stack.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Log {
  (level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : v instanceof Error ? v.message : JSON.stringify(v);
  return /^[\w.:/@-]+$/.test(s) ? s : JSON.stringify(s);
}

export function lineLog(out: NodeJS.WritableStream): Log {
  return (level, message, fields = {}) => {
    const kv = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => ` ${k}=${value(v)}`)
      .join('');
    out.write(`level=${level} msg=${JSON.stringify(message)}${kv}\n`);
  };
}
