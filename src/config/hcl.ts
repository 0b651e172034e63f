// The one place that parses HCL. Everything else sees a plain JSON body and a Diagnostics sink,
// so the parser can be swapped without touching the schema code.
import type { Diagnostics } from './diagnostics';

export type HclBody = Record<string, unknown>;

/**
 * Parses one HCL file into its JSON form (blocks become arrays of objects, labelled blocks
 * objects keyed by label). Syntax errors are recorded with file:line,col and yield undefined.
 */
export async function parseHcl(file: string, text: string, diag: Diagnostics): Promise<HclBody | undefined> {
  try {
    // Loaded on first use: the parser is a Go WebAssembly module, and processes that never
    // parse HCL (the worker reads its config in a child process) should not carry it.
    const { parse } = await import('@cdktn/hcl2json');
    return (await parse(file, text)) as HclBody;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const d = syntaxDiagnostic(file, message);
    diag.add({ severity: 'error', file, line: d.line, column: d.column, message: d.message });
    return undefined;
  }
}

/**
 * Reads the parser's error text, e.g.
 * `parse config: [x.hcl:2,5-3,1: Invalid expression; Expected the start of an expression...]`
 * (HCL reports the first diagnostic and a count of the others).
 */
export function syntaxDiagnostic(file: string, raw: string): { line?: number; column?: number; message: string } {
  const inner = raw.replace(/^parse config: \[/, '').replace(/\]$/, '');
  const prefix = file + ':';
  if (inner.startsWith(prefix)) {
    const m = /^(\d+),(\d+)(?:-(?:\d+,)?\d+)?: ([\s\S]*)$/.exec(inner.slice(prefix.length));
    if (m) {
      return { line: Number(m[1]), column: Number(m[2]), message: m[3]!.replace(/; /, ': ') };
    }
  }
  return { message: inner || 'could not parse file' };
}
