// From a caller's params to the params a workflow runs with: defaults, then the settable params the caller set,
// every value checked by the schema. Also the worker's re-check and the masking of secret values. Pure.
import { MASK, defaultsOf, type ParamSchema } from './schema';
import { valueProblem } from './values';

export interface ParamProblem {
  /** `params.<name>`, as API errors name fields. */
  field: string;
  message: string;
}

export type Resolution = { ok: true; params: Record<string, string> } | { ok: false; problems: ParamProblem[] };

function shownName(name: string): string {
  return name.slice(0, 64);
}

/**
 * The params of one start: the schema's defaults with the caller's settable params over them.
 * Unknown params, locked params and bad values are problems naming `params.<name>` and why.
 */
export function resolveParams(schema: ParamSchema, requested: Record<string, unknown> | undefined): Resolution {
  const problems: ParamProblem[] = [];
  const params = defaultsOf(schema);
  const known = Object.keys(schema).sort();
  for (const [name, value] of Object.entries(requested ?? {})) {
    const field = `params.${shownName(name)}`;
    const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!spec) {
      const settable = known.filter((k) => schema[k]!.settable);
      problems.push({
        field,
        message: `${field}: unknown parameter (${settable.length ? `callers may set: ${settable.join(', ')}` : 'callers may set none'})`,
      });
      continue;
    }
    if (!spec.settable) {
      problems.push({ field, message: `${field}: locked by the workflow's config; callers may not set it` });
      continue;
    }
    const problem = valueProblem(spec, value);
    if (problem) problems.push({ field, message: `${field} ${problem}` });
    else params[name] = value as string;
  }
  return problems.length ? { ok: false, problems } : { ok: true, params };
}

/**
 * The worker's re-check before anything runs: every value against the schema, and no param the
 * schema does not declare. Locked-ness is the coordinator's to enforce (it merged the defaults).
 */
export function checkParams(schema: ParamSchema, params: Record<string, unknown>): ParamProblem[] {
  const problems: ParamProblem[] = [];
  for (const [name, value] of Object.entries(params)) {
    const field = `params.${shownName(name)}`;
    const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (!spec) problems.push({ field, message: `${field}: not declared by the workflow's schema` });
    else {
      const problem = valueProblem(spec, value);
      if (problem) problems.push({ field, message: `${field} ${problem}` });
    }
  }
  return problems;
}

/** `params` with every secret value replaced by the mask: for audit lines, logs and API answers. */
export function maskParams(schema: ParamSchema | undefined, params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    out[name] = schema && Object.hasOwn(schema, name) && schema[name]!.secret ? MASK : value;
  }
  return out;
}

/** The names of the secret params of a schema. */
export function secretNames(schema: ParamSchema): string[] {
  return Object.keys(schema).filter((n) => schema[n]!.secret);
}

/**
 * Secrets shorter than this are masked only where they stand as a whole token (no letter, digit
 * or "_" right before or after): a 2-character secret must not turn every "ab" of a command's
 * output into the mask. Longer ones are masked wherever they occur.
 */
export const SHORT_SECRET = 6;

/**
 * The strings that reveal a run's secrets: each secret param's value, each item of a secret list,
 * and the forms templates put them in (URL-encoded, escaped in a string literal). Longest first.
 */
export function secretValues(schema: ParamSchema | undefined, params: Record<string, unknown> | undefined): string[] {
  const secrets = new Set<string>();
  for (const name of schema ? secretNames(schema) : []) {
    const v = params && Object.hasOwn(params, name) ? params[name] : undefined;
    if (typeof v !== 'string') continue;
    for (const s of schema![name]!.list ? [v, ...v.split(',')] : [v]) {
      const plain = s.trim();
      if (plain === '') continue;
      secrets.add(plain);
      secrets.add(encodeURIComponent(plain));
      secrets.add(JSON.stringify(plain).slice(1, -1));
    }
  }
  return [...secrets].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

const REGEXP_SPECIAL = /[.*+?^${}()|[\]\\]/g;

/**
 * `value` (any JSON: a result, a progress report, a failure message) with every one of `secrets`
 * replaced by the mask wherever it occurs in a string (see SHORT_SECRET), in one pass.
 */
export function maskValues<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const alternatives = [...secrets]
    .sort((a, b) => b.length - a.length)
    .map((s) => {
      const literal = s.replace(REGEXP_SPECIAL, '\\$&');
      return s.length < SHORT_SECRET ? `(?<![A-Za-z0-9_])${literal}(?![A-Za-z0-9_])` : literal;
    });
  const pattern = new RegExp(alternatives.join('|'), 'g');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(pattern, MASK);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * `value` with every secret value of `params` masked (maskValues of secretValues): for what a run
 * produced from its params (command output, rendered URLs and messages).
 */
export function maskSecretValues<T>(value: T, schema: ParamSchema | undefined, params: Record<string, unknown>): T {
  return maskValues(value, secretValues(schema, params));
}
