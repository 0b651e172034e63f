// Masks a run's secret values (sent by the workflow as `redact`) in what an activity answers and in
// its error, before the worker logs "Activity failed" or Temporal records the result.
import { maskValues } from '../src/params/resolve';

/** What the workflow adds to an activity's request when its run has secret params (workflows/activity-options.ts). */
export interface Redacting {
  /** Strings the activity must never print or return (the run's secret values); the mask replaces them. */
  redact?: string[];
}

function masked(err: unknown, secrets: readonly string[], depth = 0): unknown {
  if (!(err instanceof Error) || depth > 3) return err;
  err.message = maskValues(err.message, secrets);
  if (err.stack) err.stack = maskValues(err.stack, secrets);
  if (err.cause !== undefined) err.cause = masked(err.cause, secrets, depth + 1);
  return err;
}

/** Runs `work`, masking the `redact` list of `req` in its result or its error. */
export async function redacting<T>(req: unknown, work: () => Promise<T>): Promise<T> {
  const list = req && typeof req === 'object' ? (req as Redacting).redact : undefined;
  const secrets = Array.isArray(list) ? list.filter((s): s is string => typeof s === 'string' && s !== '') : [];
  if (secrets.length === 0) return work();
  try {
    return maskValues(await work(), secrets);
  } catch (err) {
    throw masked(err, secrets);
  }
}

/** `acts` with every activity redacting: each masks its request's `redact` list in its answer and error. */
export function withRedaction<T extends Record<string, (...args: never[]) => Promise<unknown>>>(acts: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    wrapped[name] = (...args: never[]) => redacting(args[0], () => fn(...args));
  }
  return wrapped as T;
}
