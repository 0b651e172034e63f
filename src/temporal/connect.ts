// Connecting to Temporal at start: a worker whose Temporal is down (network blip, cluster
// upgrade, a server booting before the frontend) keeps retrying with capped exponential backoff
// and says so, instead of exiting and being restarted in a crash loop by systemd.
import type { Log } from '../telemetry/line-log';

export interface RetryPolicy {
  initialDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** 0..1: each delay is cut by up to this share at random, so a fleet does not reconnect in lockstep. */
  jitter?: number;
}

export const CONNECT_RETRY: RetryPolicy = { initialDelayMs: 1000, maxDelayMs: 30_000, factor: 2, jitter: 0.5 };

/** Thrown when the stop signal fires before a connection was made. */
export class ConnectAbortedError extends Error {
  override name = 'ConnectAbortedError';
}

/**
 * The delay before retry number `attempt` (1-based): initial * factor^(attempt-1), capped, less
 * up to `jitter` of it at random (`random` in [0, 1)): thousands of workers that lost Temporal at
 * the same moment come back spread out instead of all at once.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy = CONNECT_RETRY, random: () => number = Math.random): number {
  const capped = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1));
  return Math.round(capped * (1 - (policy.jitter ?? 0) * random()));
}

/** Resolves after `ms`, or at once when `signal` fires. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Calls `connect` until it succeeds or `signal` fires (then throws ConnectAbortedError). */
export async function connectWithRetry<T>(
  connect: () => Promise<T>,
  opts: {
    address: string;
    signal: AbortSignal;
    log: Log;
    policy?: RetryPolicy;
    /** After a failure: an error to stop with (a certificate problem), or undefined to retry. */
    permanent?: () => Promise<Error | undefined>;
    /** A failure the server answered (refused credentials), in words; undefined for "cannot reach". */
    refused?: (err: unknown) => string | undefined;
  },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (opts.signal.aborted) throw new ConnectAbortedError(`stopped before Temporal at ${opts.address} answered`);
    try {
      const conn = await connect();
      if (attempt > 1) opts.log('info', 'connected to Temporal', { address: opts.address, attempt });
      return conn;
    } catch (err) {
      const stop = await opts.permanent?.();
      if (stop) throw stop;
      const delay = backoffDelay(attempt, opts.policy);
      const refused = opts.refused?.(err);
      opts.log('warn', refused ? `${refused}; retrying (a rotated key file is re-read)` : 'cannot reach Temporal; retrying', {
        address: opts.address,
        attempt,
        retry_in: `${delay / 1000}s`,
        error: (err as Error).message.split('\n')[0],
      });
      await pause(delay, opts.signal);
    }
  }
}

/** How long a stopping coordinator waits for a call in flight (a Temporal call's own deadline is longer only in tests). */
export const STOP_WAIT_MS = 5_000;

/**
 * Waits for `p` to settle, but at most `ms`: a coordinator stopping waits for its calls in flight
 * (no call may outlive its connection), and never hangs on one that does not end.
 */
export async function settledWithin(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
