// What a failed Temporal call means for its caller: the outcome may be unknown, or the workflow it
// addressed cannot run its workflow tasks. Shared by admission and the ledger clients.

/** gRPC statuses after which a start may or may not have happened: CANCELLED 1, DEADLINE_EXCEEDED 4, INTERNAL 13, UNKNOWN 2. */
const UNKNOWN_OUTCOME = new Set<number>([1, 2, 4, 13]);

/** The errors of a call, the error itself first, then its causes. */
function* chain(err: unknown): Generator<unknown> {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

export function isUnknownOutcome(err: unknown): boolean {
  for (const e of chain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number' && UNKNOWN_OUTCOME.has(code)) return true;
  }
  return false;
}

/**
 * Whether Temporal refused an update because the workflow's tasks keep failing (a bug, or code
 * that cannot replay the workflow's history): asking again does not help until it is fixed.
 */
export function isWorkflowTaskFailed(err: unknown): boolean {
  for (const e of chain(err)) if (/Workflow Task in failed state/i.test(String((e as Error).message))) return true;
  return false;
}
