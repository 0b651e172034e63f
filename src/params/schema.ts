// The parameter schema of a workflow: each param's type, default, constraints, and whether callers may set it.
// Pure data and no Node APIs: the coordinator, the worker and the workflow bundle all import it.

export const PARAM_TYPES = ['string', 'int', 'duration', 'enum', 'path', 'unit', 'host_port', 'url'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamSpec {
  type: ParamType;
  /** Used when the caller does not set the param (or may not). */
  default?: string;
  /** Callers (API, Alertmanager, chat, trigger rules) may set it; off unless the config says so. */
  settable: boolean;
  /** Never printed: masked in audit lines, logs, API answers; encrypted in Temporal history. */
  secret: boolean;
  /** Comma-separated list; every item is checked by the type. */
  list: boolean;
  /** A regular expression the whole value (each item of a list) must match. */
  pattern?: string;
  /** enum: the values allowed. */
  values?: string[];
  /** int: the number; duration: milliseconds; string: length. */
  min?: number;
  max?: number;
  /** path: the value must be one of these directories or lie below one. */
  prefixes?: string[];
  /** url, host_port: the hosts allowed (a name, an IP address, or host:port). */
  hosts?: string[];
  description?: string;
}

/** Param name -> spec. */
export type ParamSchema = Record<string, ParamSpec>;

export const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** What a secret value is shown as, everywhere. */
export const MASK = '********';

/**
 * The schema of a config that declares none (plain `params = { ... }`, configs built in code):
 * every param is a locked string with its default, so callers can set nothing.
 */
export function lockedDefaults(params: Record<string, string>): ParamSchema {
  const out: ParamSchema = {};
  for (const [name, value] of Object.entries(params)) {
    out[name] = { type: 'string', default: value, settable: false, secret: false, list: false };
  }
  return out;
}

/** The defaults of a schema, as the workflow receives them when no caller sets anything. */
export function defaultsOf(schema: ParamSchema): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, spec] of Object.entries(schema)) if (spec.default !== undefined) out[name] = spec.default;
  return out;
}

/** True when a settable param can take any value of its type: what `medic validate` warns about. */
export function unconstrained(spec: ParamSpec): boolean {
  switch (spec.type) {
    case 'enum':
    case 'int':
    case 'duration':
      return spec.type === 'enum' ? false : spec.min === undefined && spec.max === undefined;
    case 'path':
      return spec.prefixes === undefined && spec.pattern === undefined;
    case 'url':
    case 'host_port':
      return spec.hosts === undefined && spec.pattern === undefined;
    default:
      return spec.pattern === undefined && spec.max === undefined;
  }
}

/** The schema as the API shows it (GET /v1/workflows): secret defaults masked. */
export function publicSchema(schema: ParamSchema): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, spec] of Object.entries(schema)) {
    out[name] = {
      type: spec.type,
      settable: spec.settable,
      secret: spec.secret,
      list: spec.list,
      ...(spec.default !== undefined && { default: spec.secret ? MASK : spec.default }),
      ...(spec.pattern !== undefined && { pattern: spec.pattern }),
      ...(spec.values !== undefined && { values: spec.values }),
      ...(spec.min !== undefined && { min: spec.min }),
      ...(spec.max !== undefined && { max: spec.max }),
      ...(spec.prefixes !== undefined && { prefixes: spec.prefixes }),
      ...(spec.hosts !== undefined && { hosts: spec.hosts }),
      ...(spec.description !== undefined && { description: spec.description }),
    };
  }
  return out;
}
