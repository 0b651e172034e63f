// Capped exponential backoff with full jitter: the n-th retry waits a random time up to
// min(cap, base * 2^n), so many daemons retrying one coordinator do not synchronise.
export function backoffMs(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.max(baseMs / 2, Math.round(ceiling * random()));
}
