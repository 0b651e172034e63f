// Structured logs: one JSON object per line on stderr (journald and log shippers read them
// as they are). Fields are data; secrets never go in them.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  component: string;
  level?: Level;
  write?: (line: string) => void;
  now?: () => Date;
}

export function levelFromEnv(fallback: Level = 'info'): Level {
  const v = process.env.MEDIC_LOG_LEVEL as Level | undefined;
  return v && v in ORDER ? v : fallback;
}

export function createLogger(opts: LoggerOptions, bound: Record<string, unknown> = {}): Logger {
  const min = ORDER[opts.level ?? levelFromEnv()];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const emit =
    (level: Level) =>
    (msg: string, fields: Record<string, unknown> = {}): void => {
      if (ORDER[level] < min) return;
      const record: Record<string, unknown> = { time: now().toISOString(), level, component: opts.component, msg, ...bound };
      for (const [k, v] of Object.entries(fields)) record[k] = v instanceof Error ? v.message : v;
      write(JSON.stringify(record));
    };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger(opts, { ...bound, ...fields }),
  };
}

/** A logger that keeps its lines, for tests. */
export function memoryLogger(component = 'test'): Logger & { lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ component, level: 'debug', write: (l) => lines.push(JSON.parse(l)) });
  return Object.assign(logger, { lines });
}
