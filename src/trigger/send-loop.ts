// The send loop, apart from evaluation: firing episodes wait here and go to the coordinator with
// bounded concurrency, one request per target at a time, identical requests coalesced into one.
import type { TriggerRequest } from '../client/coordinator-client';

export interface Sendable {
  key: string;
  workflow: string;
  request?: TriggerRequest;
  activeSince: number;
  nextAttemptAt: number;
}

export interface SendLoopOptions<D extends Sendable> {
  /** Deliveries waiting to be sent (now or later). */
  waiting: () => Iterable<D>;
  /** Sends `leader`; `peers` are waiting deliveries with an identical request, answered by it. */
  send: (leader: D, peers: D[]) => Promise<void>;
  now: () => number;
  maxInFlight: () => number;
  /** Called after each pass with the number waiting and the number in flight. */
  onDepth?: (waiting: number, inFlight: number) => void;
}

const targetKey = (d: Sendable) => `${d.workflow}\0${JSON.stringify(d.request?.target ?? {})}`;
const requestKey = (d: Sendable) => `${targetKey(d)}\0${JSON.stringify(d.request?.params ?? {})}`;

export class SendLoop<D extends Sendable> {
  private readonly inFlight = new Set<string>();
  private readonly busyTargets = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private active = false;
  private stopped = false;

  constructor(private readonly opts: SendLoopOptions<D>) {}

  /** From now on a delivery waiting for a later time is sent when its time comes. */
  start(): void {
    this.active = true;
    this.pump();
  }

  /** No new sends from now on (shutdown); those in flight finish. */
  stop(): void {
    this.active = false;
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Starts every send that is due and fits; never waits for one. */
  pump(): void {
    if (this.stopped) return;
    const now = this.opts.now();
    const waiting = [...this.opts.waiting()].filter((d) => !this.inFlight.has(d.key));
    // Oldest due first; among equals the episode that began first, so replicas pick the same one.
    waiting.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.activeSince - b.activeSince || (a.key < b.key ? -1 : 1));
    const groups = new Map<string, D[]>();
    let nextWake = Infinity;
    for (const d of waiting) {
      if (d.nextAttemptAt > now) {
        nextWake = Math.min(nextWake, d.nextAttemptAt);
        continue;
      }
      const k = requestKey(d);
      const group = groups.get(k);
      if (group) group.push(d);
      else groups.set(k, [d]);
    }
    let started = 0;
    for (const [leader, ...peers] of groups.values()) {
      if (this.inFlight.size >= this.opts.maxInFlight()) break;
      const target = targetKey(leader!);
      if (this.busyTargets.has(target)) continue;
      const keys = [leader!, ...peers].map((d) => d.key);
      for (const k of keys) this.inFlight.add(k);
      this.busyTargets.add(target);
      started += keys.length;
      const p: Promise<void> = this.opts
        .send(leader!, peers)
        .catch(() => undefined)
        .finally(() => {
          for (const k of keys) this.inFlight.delete(k);
          this.busyTargets.delete(target);
          this.running.delete(p);
          this.pump();
        });
      this.running.add(p);
    }
    this.opts.onDepth?.(waiting.length - started, this.inFlight.size);
    clearTimeout(this.timer);
    if (this.active && nextWake < Infinity) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, nextWake - now) + 1);
      this.timer.unref();
    }
  }

  /** Sends everything due now and waits until no send is in flight (for `--once` and tests). */
  async flush(): Promise<void> {
    this.pump();
    while (this.running.size) {
      await Promise.all([...this.running]);
      this.pump();
    }
  }

  /** Waits for the sends in flight, starting no new ones (for shutdown). */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }
}
