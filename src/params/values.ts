// Per-type checks of one param value: what is wrong with it, in words that never repeat a secret value.
// Pure (no Node APIs): the coordinator checks requests with it and the worker re-checks before any command runs.
import { parseDuration } from '../duration';
import type { ParamSpec, ParamType } from './schema';

/** Longest value of any param, and of a path (PATH_MAX). */
const MAX_LENGTH = 1024;
const MAX_PATH = 4096;

// Control characters (NUL, newline, escape...) never belong in a param.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

// systemd's unit name rules (unit-name.c): letters, digits and ":-_.\" plus one "@" before the
// instance, at most 255 characters; the type suffix is optional for systemctl ("nginx" is nginx.service).
const UNIT_CHARS = /^[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?$/;
const UNIT_SUFFIX = /\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;
const UNIT_MAX = 255;

const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;

/** A host name (DNS labels), an IPv4 address, or an IPv6 address in brackets; lower-cased. */
function parseHost(text: string): string | undefined {
  if (text.startsWith('[') && text.endsWith(']')) {
    const inner = text.slice(1, -1);
    return IPV6.test(inner) && inner.includes(':') ? `[${inner.toLowerCase()}]` : undefined;
  }
  if (IPV4.test(text)) return text;
  if (text.length > 253) return undefined;
  const labels = text.split('.');
  if (labels.every((l) => DNS_LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!)) return text.toLowerCase();
  return undefined;
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** "host:port" -> its parts; undefined when it is not exactly that. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]+):([^:]+)$/.exec(text);
  if (!m) return undefined;
  const host = parseHost(m[1]!);
  const port = parsePort(m[2]!);
  return host === undefined || port === undefined ? undefined : { host, port };
}

/** An http(s) URL without user info: scheme, host, port and the rest. */
export function parseHttpUrl(text: string): { scheme: string; host: string; port?: number } | undefined {
  const m = /^(https?):\/\/([^/?#]*)([/?#].*)?$/i.exec(text);
  if (!m) return undefined;
  const authority = m[2]!;
  if (authority.includes('@') || authority.includes('\\') || /\s/.test(text)) return undefined;
  const hp = /^(\[[^\]]*\]|[^:[\]]+)(?::([^:]*))?$/.exec(authority);
  if (!hp) return undefined;
  const host = parseHost(hp[1]!);
  if (host === undefined) return undefined;
  if (hp[2] === undefined) return { scheme: m[1]!.toLowerCase(), host };
  const port = parsePort(hp[2]);
  return port === undefined ? undefined : { scheme: m[1]!.toLowerCase(), host, port };
}

/** True when `host[:port]` is in the allow list (an entry without a port allows every port). */
export function hostAllowed(hosts: readonly string[], host: string, port?: number): boolean {
  return hosts.some((entry) => {
    const e = entry.toLowerCase();
    if (e === host) return true;
    return port !== undefined && e === `${host}:${port}`;
  });
}

function pathProblem(value: string, prefixes: readonly string[] | undefined): string | undefined {
  if (value.length > MAX_PATH) return `is longer than ${MAX_PATH} characters`;
  if (!value.startsWith('/')) return 'must be an absolute path';
  const segments = value.split('/').slice(1);
  if (segments.some((s) => s === '..' || s === '.')) return 'must not have "." or ".." segments';
  if (value.length > 1 && segments.some((s) => s === '')) return 'must not have empty segments ("//" or a trailing "/")';
  if (prefixes && !prefixes.some((p) => underPrefix(value, p)))
    return `must be one of, or lie below, ${prefixes.map((p) => JSON.stringify(p)).join(', ')}`;
  return undefined;
}

/** True when `path` is `prefix` or below it, at a segment boundary ("/var/log" does not cover "/var/logs"). */
export function underPrefix(path: string, prefix: string): boolean {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === p || path.startsWith(p === '/' ? '/' : `${p}/`);
}

/** What is wrong with `value` for its type alone (no pattern, no list); undefined when nothing. */
function typeProblem(spec: ParamSpec, value: string): string | undefined {
  switch (spec.type as ParamType) {
    case 'string':
      if (spec.min !== undefined && value.length < spec.min) return `must have at least ${spec.min} characters`;
      if (spec.max !== undefined && value.length > spec.max) return `must have at most ${spec.max} characters`;
      return undefined;
    case 'int': {
      if (!/^\d{1,15}$/.test(value)) return 'must be a whole number (digits only)';
      const n = Number(value);
      if (spec.min !== undefined && n < spec.min) return `must be at least ${spec.min}`;
      if (spec.max !== undefined && n > spec.max) return `must be at most ${spec.max}`;
      return undefined;
    }
    case 'duration': {
      const ms = parseDuration(value);
      if (ms === undefined) return 'must be a duration (e.g. "30s", "15m", "7d")';
      if (spec.min !== undefined && ms < spec.min) return `must be at least ${spec.min} ms`;
      if (spec.max !== undefined && ms > spec.max) return `must be at most ${spec.max} ms`;
      return undefined;
    }
    case 'enum':
      return (spec.values ?? []).includes(value)
        ? undefined
        : `must be one of ${(spec.values ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'path':
      return pathProblem(value, spec.prefixes);
    case 'unit':
      if (value.length > UNIT_MAX) return `must be a systemd unit name of at most ${UNIT_MAX} characters`;
      if (!UNIT_CHARS.test(value) || value.startsWith('.') || value.startsWith('@'))
        return 'must be a systemd unit name (letters, digits, ":", "-", "_", ".", "\\" and one "@"; e.g. nginx or nginx.service)';
      if (value.includes('@') && !UNIT_SUFFIX.test(value) && value.endsWith('@'))
        return 'a template unit needs an instance or a type suffix';
      return undefined;
    case 'host_port': {
      const hp = parseHostPort(value);
      if (!hp) return 'must be host:port (a host name or IP address, and a port from 1 to 65535)';
      if (spec.hosts && !hostAllowed(spec.hosts, hp.host, hp.port)) return 'names a host this workflow does not allow';
      return undefined;
    }
    case 'url': {
      const u = parseHttpUrl(value);
      if (!u) return 'must be an http:// or https:// URL with a host name or IP address and no user info';
      if (!spec.hosts || !hostAllowed(spec.hosts, u.host, u.port)) return 'names a host this workflow does not allow';
      return undefined;
    }
    default:
      return `has an unknown type ${JSON.stringify(spec.type)}`;
  }
}

/** Checks every value rule (common, then by type, then pattern) on one item. */
function itemProblem(spec: ParamSpec, item: string): string | undefined {
  if (item === '') return 'must not be empty';
  if (item.length > MAX_LENGTH && spec.type !== 'path') return `is longer than ${MAX_LENGTH} characters`;
  if (CONTROL.test(item)) return 'must not contain control characters (NUL, newline, ...)';
  // Values often become argv elements: a leading "-" would be read as an option.
  if (item.startsWith('-')) return 'must not start with "-"';
  const problem = typeProblem(spec, item);
  if (problem) return problem;
  if (spec.pattern !== undefined && !fullMatch(spec.pattern, item)) return `must match ${JSON.stringify(spec.pattern)}`;
  return undefined;
}

/** `pattern` must match the whole value. An invalid pattern matches nothing (the config loader refuses those). */
function fullMatch(pattern: string, value: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u').test(value);
  } catch {
    return false;
  }
}

/** What is wrong with `value` for `spec`, or undefined. Never quotes the value (it may be a secret). */
export function valueProblem(spec: ParamSpec, value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (!spec.list) return itemProblem(spec, value);
  if (value.length > MAX_PATH * 4) return `is longer than ${MAX_PATH * 4} characters`;
  const items = value.split(',').map((s) => s.trim());
  for (const [i, item] of items.entries()) {
    const problem = itemProblem(spec, item);
    if (problem) return `item ${i + 1} ${problem}`;
  }
  return undefined;
}
