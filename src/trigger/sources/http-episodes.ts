// Episodes of an HTTP health-check rule: checks happen on a grid aligned to `every` (multiples of
// it since the epoch), so daemons on one node probe at the same instants; `failures` consecutive
// failed checks open an episode named after the grid point of the first of them, and successes
// for `keep_firing_for` (0: one success) end it. Pure: check results and their grid times come in.

export interface HttpTiming {
  failures: number;
  everyMs: number;
  keepFiringForMs: number;
}

export interface CheckResult {
  ok: boolean;
  /** "HTTP 200", "HTTP 503", "timed out after 2s", "connection refused", ... */
  detail: string;
}

export interface HttpState {
  /** The grid point of the latest check. */
  lastCheckAt?: number;
  /** Consecutive failed checks up to the latest. */
  failing: number;
  /** The grid point of the first of them. */
  failingSince?: number;
  lastDetail?: string;
  firing?: {
    /** The first failed check of the episode: its identity. */
    since: number;
    detail: string;
  };
  /** While firing: the first of the current run of successful checks. */
  okSince?: number;
}

export const initialHttpState = (): HttpState => ({ failing: 0 });

/** The first check grid point strictly after `t`. */
export function nextCheckAt(t: number, everyMs: number): number {
  return (Math.floor(t / everyMs) + 1) * everyMs;
}

/** One check at grid point `at`: whether it opened or resolved the episode. */
export function onCheck(
  s: HttpState,
  at: number,
  result: CheckResult,
  timing: HttpTiming,
): { opened: boolean; resolved: boolean } {
  s.lastCheckAt = at;
  s.lastDetail = result.detail;
  if (!result.ok) {
    s.failing += 1;
    s.failingSince ??= at;
    s.okSince = undefined;
    if (!s.firing && s.failing >= timing.failures) {
      s.firing = { since: s.failingSince, detail: result.detail };
      return { opened: true, resolved: false };
    }
    return { opened: false, resolved: false };
  }
  s.failing = 0;
  s.failingSince = undefined;
  if (!s.firing) return { opened: false, resolved: false };
  s.okSince ??= at;
  if (at - s.okSince < timing.keepFiringForMs) return { opened: false, resolved: false };
  s.firing = undefined;
  s.okSince = undefined;
  return { opened: false, resolved: true };
}

/** How long a daemon may be away (a restart, an upgrade) and still continue its saved episode. */
export const RESTART_GRACE_MS = 30_000;

/**
 * Whether state saved at its last check still holds `now` after a restart. Another episode
 * could have opened and ended unseen only after `keep_firing_for` of successes and `failures`
 * failed checks; a restart that took less (plus RESTART_GRACE_MS, as a restart is short and a
 * second start for one episode is the worse mistake) continues the saved episode, as a daemon
 * that ran on throughout would have, so both name it alike.
 */
export function resumable(saved: HttpState, now: number, timing: HttpTiming): boolean {
  if (saved.lastCheckAt === undefined) return false;
  return now - saved.lastCheckAt <= timing.keepFiringForMs + timing.failures * timing.everyMs + RESTART_GRACE_MS;
}
