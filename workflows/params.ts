// Workflow params arrive as strings (from HCL `params`, a trigger, a chat command). These
// readers parse and check them, and fail the workflow at once with every problem named.
import { ApplicationFailure } from '@temporalio/workflow';
import { parseDuration } from '../src/duration';
import type { WorkflowInput } from './shared/input';

/** Failure type of a workflow that was started with input it cannot act on. */
export const INVALID_INPUT = 'InvalidInput';

export class ParamReader {
  private readonly problems: string[] = [];

  constructor(private readonly input: WorkflowInput) {
    if (typeof input !== 'object' || input === null) this.problems.push('the workflow input must be an object');
  }

  private raw(name: string): string | undefined {
    const params = this.input?.params ?? {};
    const v = Object.hasOwn(params, name) ? params[name] : undefined;
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  string(name: string, opts: { required?: boolean; pattern?: RegExp; patternHelp?: string } = {}): string | undefined {
    const v = this.raw(name);
    if (v === undefined) {
      if (opts.required) this.problems.push(`params.${name} is required`);
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.problems.push(`params.${name} = ${JSON.stringify(v)} ${opts.patternHelp ?? 'is not valid'}`);
      return undefined;
    }
    return v;
  }

  /** A duration like "30s", "15m", "7d"; returns milliseconds. */
  duration(name: string, fallback: string, opts: { min?: number; max?: number } = {}): number {
    const text = this.raw(name) ?? fallback;
    const ms = parseDuration(text);
    if (ms === undefined)
      return (this.problems.push(`params.${name} = ${JSON.stringify(text)} is not a duration (e.g. "30s", "15m", "7d")`), 0);
    if (opts.min !== undefined && ms < opts.min) this.problems.push(`params.${name} = ${JSON.stringify(text)} is too short`);
    if (opts.max !== undefined && ms > opts.max) this.problems.push(`params.${name} = ${JSON.stringify(text)} is too long`);
    return ms;
  }

  integer(name: string, fallback: number, opts: { min: number; max: number }): number {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < opts.min || n > opts.max) {
      this.problems.push(`params.${name} = ${JSON.stringify(text)} must be a whole number from ${opts.min} to ${opts.max}`);
      return fallback;
    }
    return n;
  }

  /** A comma-separated list: "a, b,c" -> ["a", "b", "c"]. */
  list(name: string, opts: { required?: boolean; fallback?: string[] } = {}): string[] {
    const v = this.raw(name);
    if (v === undefined) {
      if (opts.required) this.problems.push(`params.${name} is required (a comma-separated list)`);
      return opts.fallback ?? [];
    }
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  /** A target field the workflow cannot do without. */
  target(field: 'node' | 'datacenter' | 'node_type'): string {
    const v = this.input?.target?.[field];
    if (!v) this.problems.push(`target.${field} is required`);
    return v ?? '';
  }

  /** Fails the workflow (not retried) when anything was wrong, naming every problem. */
  done(): void {
    if (this.problems.length) {
      throw ApplicationFailure.nonRetryable(`invalid input: ${this.problems.join('; ')}`, INVALID_INPUT, this.problems);
    }
  }
}
