// The `match` of a log rule: an RE2 regular expression (re2js), matched in time linear in the
// line's length whatever the pattern, so no pattern and no line can stall the daemon. Syntax
// that needs backtracking (backreferences, lookahead) is refused when the config is read.
import { RE2JS } from 're2js';

/** Thrown when a `match` is not an RE2 pattern; the message says what and where in the pattern. */
export class LogPatternError extends Error {
  override name = 'LogPatternError';
}

export interface LogPattern {
  source: string;
  /** Names of the named captures `(?P<name>...)` / `(?<name>...)`: the labels of a match. */
  captures: string[];
  /** The labels of a match (its named captures; "" for one that took no part), or undefined. */
  match(line: string): Record<string, string> | undefined;
}

/** Compiles `match`; throws LogPatternError with RE2's reason (e.g. "invalid escape sequence: `\1`"). */
export function compileLogPattern(source: string): LogPattern {
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (err) {
    const message = (err as Error).message.replace(/^error parsing regexp: /, '');
    const hint = /\\[1-9]|\(\?[=!]|\(\?<[=!]/.test(source)
      ? ' (backreferences and lookaround need backtracking, which RE2 does not do: match the plain text instead)'
      : '';
    throw new LogPatternError(`not an RE2 regular expression: ${message}${hint}`);
  }
  const captures = Object.keys(re.namedGroups());
  for (const name of captures) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new LogPatternError(`capture name ${JSON.stringify(name)} is not a label name ([A-Za-z_][A-Za-z0-9_]*)`);
  }
  return {
    source,
    captures,
    match(line) {
      const m = re.matcher(line);
      if (!m.find()) return undefined;
      const labels: Record<string, string> = {};
      for (const name of captures) labels[name] = m.group(name) ?? '';
      return labels;
    },
  };
}
