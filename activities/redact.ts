// Masks a run's secret values (sent by the workflow as `redact`) in what an activity answers and in
// its error, before the worker logs "Activity failed" or Temporal records the result.
import { maskValues } from '../src/params/resolve';

/** Part of every request whose rendered text may hold a secret param's value. */
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

/** Runs `work`, masking `req.redact` in its result or its error. */
export async function redacting<T>(req: Redacting | undefined, work: () => Promise<T>): Promise<T> {
  const secrets = Array.isArray(req?.redact) ? req.redact.filter((s): s is string => typeof s === 'string' && s !== '') : [];
  if (secrets.length === 0) return work();
  try {
    return maskValues(await work(), secrets);
  } catch (err) {
    throw masked(err, secrets);
  }
}
