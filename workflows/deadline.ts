// A run's own deadline. The workflow ends by its configured `timeout`, escalated, with a reserve
// at the end of it for the page; Temporal's execution timeout is set a backstop later and kills
// only a run that could not page (no worker ran it), which the close watcher (src/watcher/) pages.

/** How much later than `timeout` the coordinator sets Temporal's workflow execution timeout. */
export const TIMEOUT_BACKSTOP_MS = 5 * 60_000;

/** The end of `timeout` kept for the escalation: a quarter of it, at most a minute. */
export function escalationReserveMs(timeoutMs: number): number {
  return Math.min(60_000, Math.floor(timeoutMs / 4));
}

export interface RunDeadline {
  /** The configured timeout the run enforces (input.timeoutMs, else Temporal's execution timeout). */
  timeoutMs: number;
  /** When the timeout ends (epoch ms): start + timeout. */
  endsAt: number;
  /** When the body is cancelled (epoch ms): start + timeout - reserve. */
  bodyEndsAt: number;
  /** When Temporal ends the run whatever it does (epoch ms), if it will. */
  killedAt?: number;
}

/**
 * The deadline of a run that started at `startMs`: from the configured timeout the coordinator
 * put in its input, else (starts from elsewhere) from Temporal's execution timeout; none without either.
 */
export function runDeadline(
  startMs: number,
  configuredTimeoutMs: number | undefined,
  executionTimeoutMs: number | undefined,
): RunDeadline | undefined {
  const timeoutMs = configuredTimeoutMs ?? executionTimeoutMs;
  if (timeoutMs === undefined || !(timeoutMs > 0)) return undefined;
  return {
    timeoutMs,
    endsAt: startMs + timeoutMs,
    bodyEndsAt: startMs + timeoutMs - escalationReserveMs(timeoutMs),
    ...(executionTimeoutMs !== undefined && { killedAt: startMs + executionTimeoutMs }),
  };
}

/** How long the page after a timeout may take: until shortly before Temporal's kill, at most 30 minutes. */
export function pageBoundMs(deadline: RunDeadline, nowMs: number): number {
  const left = deadline.killedAt === undefined ? Infinity : deadline.killedAt - nowMs - 2_000;
  return Math.max(1_000, Math.min(30 * 60_000, left));
}

/** How long an escalation's diagnostics may take: 30 s, or half of what is left of the timeout (at least 1 s). */
export function diagnoseBoundMs(deadline: RunDeadline | undefined, nowMs: number): number {
  if (!deadline) return 30_000;
  return Math.max(1_000, Math.min(30_000, Math.floor((deadline.endsAt - nowMs) / 2)));
}
