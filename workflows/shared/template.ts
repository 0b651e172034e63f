// Placeholders in runbook step strings: {{node}}, {{datacenter}}, {{node_type}},
// {{params.NAME}}. Plain substitution, no expressions, escaped for where the value lands: one
// argv element, a part of a URL (percent-encoded), a PromQL string literal; never a shell string.
import type { WorkflowInput } from './input';

const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;
const KNOWN = /^(node|datacenter|node_type|params\.[A-Za-z_][A-Za-z0-9_]*)$/;

/**
 * What a template becomes, and so how its values are escaped: `argv` one argument of a command,
 * `url` an http(s) URL, `promql` a PromQL query, `text` a message for people (no escaping).
 */
export type TemplateContext = 'argv' | 'url' | 'promql' | 'text';

/** The placeholders in `text` that no input can fill (for `medic validate`). */
export function unknownPlaceholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !KNOWN.test(name));
}

/** Thrown when a step names a placeholder that the workflow's input does not provide. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** The value of one placeholder; a missing value is an error, not "". */
function lookUp(name: string, input: Pick<WorkflowInput, 'target' | 'params'>): string {
  if (!KNOWN.test(name)) throw new TemplateError(`unknown placeholder {{${name}}}`);
  const [source, key] = name.startsWith('params.')
    ? [input.params ?? {}, name.slice('params.'.length)]
    : [(input.target ?? {}) as Record<string, string | undefined>, name];
  // Own properties only: {{params.constructor}} must not reach Object.prototype.
  const value = Object.hasOwn(source, key) ? source[key] : undefined;
  if (typeof value !== 'string' || value === '') throw new TemplateError(`placeholder {{${name}}} has no value in this run`);
  return value;
}

/**
 * Fills the placeholders of `text` from the input, each value escaped for `context` where it
 * stands (see escapeValue). A value that no escaping can make safe there is a TemplateError
 * naming the placeholder, never quoting the value (it may be a secret).
 */
export function fillTemplate(
  text: string,
  input: Pick<WorkflowInput, 'target' | 'params'>,
  context: TemplateContext = 'text',
): string {
  let out = '';
  // The template's own text so far, placeholders as a neutral "x": values never move the
  // position (they are escaped for it), so the template alone says where each one stands.
  let literal = '';
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    const before = text.slice(last, m.index);
    out += before;
    literal += before;
    out += escapeValue(context, literal, lookUp(m[1]!, input), m[0]);
    literal += 'x';
    last = m.index + m[0].length;
  }
  return out + text.slice(last);
}

/**
 * What `medic validate` says about where the placeholders of a `context` template stand:
 * errors (no value could ever fill it) and warnings (only plain tokens will).
 */
export function placementProblems(text: string, context: TemplateContext): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  let literal = '';
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    literal += text.slice(last, m.index);
    if (context === 'url' && urlPart(literal) === 'scheme')
      errors.push(`placeholder ${m[0]} stands before "://"; write the scheme (http or https) in the template`);
    if (context === 'promql' && promqlQuote(literal) === undefined)
      warnings.push(
        `placeholder ${m[0]} stands outside a string literal: only plain tokens (letters, digits, "_", ":", ".") can fill it; quote it ("${m[0]}") for label values`,
      );
    literal += 'x';
    last = m.index + m[0].length;
  }
  return { errors, warnings };
}

/** Where in a URL the end of `prefix` is. */
export function urlPart(prefix: string): 'scheme' | 'authority' | 'path' | 'query' | 'fragment' {
  const start = prefix.indexOf('://');
  if (start < 0) return 'scheme';
  const rest = prefix.slice(start + 3);
  if (rest.includes('#')) return 'fragment';
  if (rest.includes('?')) return 'query';
  return rest.includes('/') ? 'path' : 'authority';
}

/** Inside which PromQL string literal (its quote) the end of `prefix` is, or undefined outside one. */
export function promqlQuote(prefix: string): '"' | "'" | '`' | undefined {
  let quote: '"' | "'" | '`' | undefined;
  let comment = false;
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix[i]!;
    if (comment) comment = c !== '\n';
    else if (quote === undefined) {
      if (c === '"' || c === "'" || c === '`') quote = c;
      else if (c === '#') comment = true;
    } else if (c === '\\' && quote !== '`') i++;
    else if (c === quote) quote = undefined;
  }
  return quote;
}

// A host name or IP address, optionally with a port: what may stand in a URL's authority.
const AUTHORITY_VALUE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(:[0-9]{1,5})?$/;
// Outside a PromQL string: a number, a duration, a metric or label name; nothing that adds syntax.
const PROMQL_TOKEN = /^[A-Za-z0-9_:.]+$/;

/** A PromQL (Go) string literal's body for `value`, between `quote`s. */
export function promqlString(value: string, quote: '"' | "'"): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\\"'\u0000-\u001f\u007f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '"' || c === "'") return c === quote ? `\\${c}` : c;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** `value` escaped for where it stands in a `context` template whose own text before it is `prefix`. */
export function escapeValue(context: TemplateContext, prefix: string, value: string, placeholder: string): string {
  const refuse = (why: string): never => {
    throw new TemplateError(`placeholder ${placeholder} ${why}`);
  };
  switch (context) {
    case 'text':
      return value;
    case 'argv':
      if (value.includes('\0')) refuse('has a NUL character, which no argument can hold');
      // At the start of an argument, a leading "-" would make the value an option.
      if (prefix.length === 0 && value.startsWith('-')) refuse('starts an argument and its value starts with "-"');
      return value;
    case 'url':
      switch (urlPart(prefix)) {
        case 'scheme':
          return refuse('stands before "://" in a URL; the scheme must be written in the template');
        case 'authority': {
          // After "host:" only a port; before it, a host name or address (and maybe its port).
          const inPort = /^[^[]*:[0-9]*$/.test(prefix.slice(prefix.indexOf('://') + 3));
          if (inPort ? !/^[0-9]{1,5}$/.test(value) : !AUTHORITY_VALUE.test(value))
            refuse(
              `stands in the ${inPort ? 'port' : 'host'} of a URL and its value is not a ${inPort ? 'port' : 'host name or host:port'}`,
            );
          return value;
        }
        case 'path': {
          // "." and ".." segments are resolved away by URL parsers, percent-encoded or not.
          if (/^\.+$/.test(prefix.slice(prefix.lastIndexOf('/') + 1) + value)) refuse('would make a "." or ".." path segment');
          return encodeURIComponent(value);
        }
        default:
          return encodeURIComponent(value);
      }
    case 'promql': {
      const quote = promqlQuote(prefix);
      if (quote === '"' || quote === "'") return promqlString(value, quote);
      if (quote === '`') {
        // eslint-disable-next-line no-control-regex
        if (/[`\u0000]/.test(value)) refuse('stands in a raw (`...`) PromQL string and its value has a backquote');
        return value;
      }
      if (!PROMQL_TOKEN.test(value))
        refuse(
          'stands outside a string literal in a PromQL query, where only letters, digits, "_", ":" and "." may go; quote it',
        );
      return value;
    }
  }
}
