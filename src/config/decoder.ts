// Reads a parsed HCL body against the schema a loader asks for, one key at a time, and
// reports every problem with the attribute path. Keys never asked for are unknown keys.
import type { HclBody } from './hcl';
import type { Diagnostics } from './diagnostics';
import { parseDuration } from '../duration';

type Json = unknown;

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a block or map';
  return JSON.stringify(v);
}

export class Decoder {
  private readonly used = new Set<string>();

  constructor(
    readonly body: HclBody,
    readonly file: string,
    readonly path: string,
    readonly diag: Diagnostics,
  ) {}

  /** The attribute path of a key below this body, for messages. */
  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  error(key: string | undefined, message: string): void {
    this.diag.error(this.file, key === undefined ? this.path || undefined : this.at(key), message);
  }

  warning(key: string | undefined, message: string): void {
    this.diag.warning(this.file, key === undefined ? this.path || undefined : this.at(key), message);
  }

  has(key: string): boolean {
    return this.body[key] !== undefined && this.body[key] !== null;
  }

  private take(key: string): Json {
    this.used.add(key);
    return this.body[key];
  }

  private missing(key: string, required: boolean): void {
    if (required) this.error(key, 'is required');
  }

  /** A literal string; HCL expressions (`${...}`) are not evaluated, so they are refused. */
  string(key: string, opts: { required?: boolean; oneOf?: readonly string[]; nonEmpty?: boolean } = {}): string | undefined {
    const v = this.take(key);
    if (v === undefined || v === null) return (this.missing(key, opts.required ?? false), undefined);
    if (typeof v !== 'string') return (this.error(key, `expected a string, got ${describe(v)}`), undefined);
    if (v.includes('${')) return (this.error(key, 'expressions are not supported; write a literal value'), undefined);
    if (opts.nonEmpty && v.trim() === '') return (this.error(key, 'must not be empty'), undefined);
    if (opts.oneOf && !opts.oneOf.includes(v)) {
      this.error(key, `${JSON.stringify(v)} is not one of ${opts.oneOf.map((o) => JSON.stringify(o)).join(', ')}`);
      return undefined;
    }
    return v;
  }

  /** A number, also accepted as a numeric string (the seed writes `value = "1"`). */
  number(key: string, opts: { required?: boolean; positive?: boolean; integer?: boolean } = {}): number | undefined {
    const v = this.take(key);
    if (v === undefined || v === null) return (this.missing(key, opts.required ?? false), undefined);
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n)) return (this.error(key, `${describe(v)} is not a number`), undefined);
    if (opts.integer && !Number.isInteger(n)) return (this.error(key, `${describe(v)} is not a whole number`), undefined);
    if (opts.positive && n <= 0) return (this.error(key, `must be greater than 0, got ${describe(v)}`), undefined);
    return n;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.take(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') return (this.error(key, `expected true or false, got ${describe(v)}`), fallback);
    return v;
  }

  /** A duration in milliseconds. */
  duration(key: string, opts: { required?: boolean; positive?: boolean } = {}): number | undefined {
    const v = this.take(key);
    if (v === undefined || v === null) return (this.missing(key, opts.required ?? false), undefined);
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) return (this.error(key, `${describe(v)} is not a duration (e.g. "30s", "15m", "1h30m")`), undefined);
    if (opts.positive && ms <= 0) return (this.error(key, `must be longer than 0, got ${describe(v)}`), undefined);
    return ms;
  }

  strings(key: string, opts: { required?: boolean } = {}): string[] | undefined {
    const v = this.take(key);
    if (v === undefined || v === null) return (this.missing(key, opts.required ?? false), undefined);
    if (!Array.isArray(v)) return (this.error(key, `expected a list of strings, got ${describe(v)}`), undefined);
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string')
        this.diag.error(this.file, `${this.at(key)}[${i}]`, `expected a string, got ${describe(item)}`);
      else out.push(item);
    });
    return out;
  }

  /** A map attribute of strings: `params = { mountpoint = "/" }`. */
  stringMap(key: string): Record<string, string> | undefined {
    const v = this.take(key);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) return (this.error(key, `expected a map, got ${describe(v)}`), undefined);
    const out: Record<string, string> = {};
    for (const [k, item] of Object.entries(v as Record<string, Json>)) {
      if (typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean') out[k] = String(item);
      else this.diag.error(this.file, `${this.at(key)}.${k}`, `expected a string, got ${describe(item)}`);
    }
    return out;
  }

  /** Repeated unlabelled blocks: `constraint { ... }` any number of times. */
  blocks(key: string): Decoder[] {
    const v = this.take(key);
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    const out: Decoder[] = [];
    list.forEach((item, i) => {
      const path = `${this.at(key)}[${i}]`;
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        this.diag.error(this.file, path, `expected a block, got ${describe(item)}`);
      } else out.push(new Decoder(item as HclBody, this.file, path, this.diag));
    });
    return out;
  }

  /** A block that may appear at most once. */
  block(key: string, opts: { required?: boolean } = {}): Decoder | undefined {
    const v = this.body[key];
    if (v === undefined || v === null) return (this.take(key), this.missing(key, opts.required ?? false), undefined);
    if (Array.isArray(v) && v.length > 1) {
      this.take(key);
      this.error(key, `block may appear only once, found ${v.length}`);
      return undefined;
    }
    const [only] = this.blocks(key);
    return only ? new Decoder(only.body, this.file, this.at(key), this.diag) : undefined;
  }

  /** Labelled blocks: `rule "name" { ... }`; a label used twice is an error. */
  labeled(key: string): Array<{ label: string; body: Decoder }> {
    const v = this.take(key);
    if (v === undefined || v === null) return [];
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.error(key, `expected labelled blocks like ${key} "name" { ... }`);
      return [];
    }
    const out: Array<{ label: string; body: Decoder }> = [];
    for (const [label, bodies] of Object.entries(v as Record<string, Json>)) {
      const path = `${this.at(key)}.${label}`;
      const list = Array.isArray(bodies) ? bodies : [bodies];
      if (list.length > 1) this.diag.error(this.file, path, `${key} "${label}" is defined ${list.length} times`);
      const first = list[0];
      if (typeof first !== 'object' || first === null || Array.isArray(first)) {
        this.diag.error(this.file, path, `expected a block`);
        continue;
      }
      out.push({ label, body: new Decoder(first as HclBody, this.file, path, this.diag) });
    }
    return out;
  }

  /** Reports keys that no reader asked for. Call after reading every known key. */
  finish(): void {
    const known = [...this.used].sort();
    for (const key of Object.keys(this.body)) {
      if (!this.used.has(key)) {
        this.error(key, `unknown key${known.length ? ` (known here: ${known.join(', ')})` : ''}`);
      }
    }
  }
}
