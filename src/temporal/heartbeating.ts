// Activities that heartbeat every second while they run, so a heartbeat timeout finds a dead worker, not a slow call.
import { Context } from '@temporalio/activity';

const EVERY_MS = 1_000;

type Activities = Record<string, (...args: never[]) => Promise<unknown>>;

/** `activities`, each heartbeating while it runs (called outside an activity, e.g. directly by a test, it just runs). */
export function heartbeating<A extends Activities>(activities: A): A {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]): Promise<unknown> => {
      let context: Context | undefined;
      try {
        context = Context.current();
      } catch {
        return fn(...args);
      }
      const beat = setInterval(() => context.heartbeat(), EVERY_MS);
      try {
        return await fn(...args);
      } finally {
        clearInterval(beat);
      }
    };
  }
  return wrapped as A;
}
