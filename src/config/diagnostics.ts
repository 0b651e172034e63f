// Problems found in configuration: every loader collects them instead of stopping at the
// first, so `medic validate` can show them all at once.

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  severity: Severity;
  /** File as the operator named it (relative to the working directory where possible). */
  file: string;
  /** 1-based position, known for syntax errors. */
  line?: number;
  column?: number;
  /** Dotted attribute path, e.g. `constraint[1].period`, known for semantic errors. */
  path?: string;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line !== undefined ? `${d.file}:${d.line},${d.column ?? 1}` : d.path ? `${d.file}: ${d.path}` : d.file;
  const tag = d.severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${tag}${d.message}`;
}

/** Collects diagnostics for one load; `errors` and `warnings` split them for callers. */
export class Diagnostics {
  readonly all: Diagnostic[] = [];

  error(file: string, path: string | undefined, message: string): void {
    this.all.push({ severity: 'error', file, path, message });
  }

  warning(file: string, path: string | undefined, message: string): void {
    this.all.push({ severity: 'warning', file, path, message });
  }

  add(d: Diagnostic): void {
    this.all.push(d);
  }

  get errors(): Diagnostic[] {
    return this.all.filter((d) => d.severity === 'error');
  }

  get warnings(): Diagnostic[] {
    return this.all.filter((d) => d.severity === 'warning');
  }

  get hasErrors(): boolean {
    return this.all.some((d) => d.severity === 'error');
  }
}

/** Thrown by loaders that must not go on with a config that has errors (daemons at start or reload). */
export class ConfigError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    super(
      `configuration has ${errors.length} error${errors.length === 1 ? '' : 's'}:\n` +
        errors.map((d) => '  ' + formatDiagnostic(d)).join('\n'),
    );
    this.name = 'ConfigError';
  }
}
