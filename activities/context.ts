// What activities need from Temporal's activity context, tolerant of being called outside one
// (unit tests call activity functions directly too).
import { Context } from '@temporalio/activity';

export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** The abort signal of the current activity: fires on cancellation and on worker shutdown. */
export function cancellation(): AbortSignal | undefined {
  return activityContext()?.cancellationSignal;
}

/** Records progress (also the proof of life that lets Temporal retry an activity whose worker died). */
export function heartbeat(details?: unknown): void {
  const ctx = activityContext();
  if (!ctx) return;
  lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

// The details an activity last recorded: the periodic heartbeat repeats them, so a retry still
// finds them (the reboot activity's boot id) after any number of proof-of-life beats.
const lastDetails = new WeakMap<Context, unknown>();

/**
 * Heartbeats every `everyMs` while `work` runs, so every medic activity heartbeats even while it
 * waits on a child process or a socket: a worker killed mid-activity is noticed after the
 * heartbeat timeout instead of after the whole start-to-close timeout.
 */
export async function whileHeartbeating<T>(work: () => Promise<T>, everyMs = 1000): Promise<T> {
  const ctx = activityContext();
  if (!ctx) return work();
  ctx.heartbeat(lastDetails.get(ctx));
  const timer = setInterval(() => ctx.heartbeat(lastDetails.get(ctx)), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
