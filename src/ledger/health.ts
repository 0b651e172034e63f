// What a coordinator knows of its ledgers' health: which cannot run (their workflow tasks keep
// failing) and why, and each ledger's size against its capacity. Exported as gauges, shown by
// /readyz, and named in the 503 a trigger of a failed ledger gets.
import { Gauge, type Registry } from 'prom-client';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { capacityQuery, type LedgerCapacity } from './messages';
import { settledWithin, STOP_WAIT_MS } from '../temporal/connect';

/**
 * A ledger's workflow tasks keep failing: updates to it are refused until it is fixed (a newer
 * release of the coordinators, or terminating it so the next admission seeds a new one).
 */
export class LedgerFailedError extends Error {
  override name = 'LedgerFailedError';
  constructor(
    readonly ledger: string,
    readonly reason: string,
  ) {
    super(`the ledger ${ledger} cannot run: ${reason}`);
  }
}

/** A new ledger still reads past executions from visibility after every retry of a call: nothing was recorded, ask again later. */
export class LedgerSeedingError extends Error {
  override name = 'LedgerSeedingError';
  constructor(readonly ledger: string) {
    super(`the ledger ${ledger} is still reading past executions from visibility: nothing was recorded`);
  }
}

/**
 * The ledger's workflow task ran on a ledger worker of an earlier release, which has no handler
 * for the update (a rolling upgrade): nothing was recorded, and the caller does it the earlier way.
 */
export class LedgerTooOldError extends Error {
  override name = 'LedgerTooOldError';
  constructor(
    readonly ledger: string,
    detail: string,
  ) {
    super(`the ledger ${ledger} is run by a coordinator of an earlier release (${detail})`);
  }
}

/** Whether an update was rejected for want of a handler (its workflow's task ran on an earlier release's worker). */
export function isUnknownUpdate(cause: unknown): boolean {
  return cause instanceof Error && cause.message.startsWith('No registered handler for update');
}

/** A workflow task that has failed this many times in a row means the ledger cannot run (one failure may be a worker restart). */
const FAILED_ATTEMPTS = 3;

/** The failure of the workflow's last failed workflow task, read from the end of its history. */
export async function lastTaskFailure(client: Client, workflowId: string): Promise<string> {
  try {
    const res = await client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: client.options.namespace,
      execution: { workflowId },
      maximumPageSize: 20,
    });
    for (const e of res.history?.events ?? []) {
      const failure = e.workflowTaskFailedEventAttributes?.failure;
      if (failure) return (failure.message ?? 'unknown failure').split('\n')[0]!.slice(0, 500);
    }
    return 'its workflow task keeps failing';
  } catch (err) {
    return `its workflow task keeps failing (its history cannot be read: ${(err as Error).message})`;
  }
}

export class LedgerHealth {
  private readonly failing = new Map<string, { reason: string; since: Date }>();
  readonly failed: Gauge<'ledger'>;
  readonly stateBytes: Gauge<'ledger'>;
  readonly capacityBytes: Gauge<'ledger'>;
  readonly holds: Gauge<'ledger'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.failed = new Gauge({
      name: 'medic_ledger_failed',
      help: 'Whether a ledger cannot run (its workflow tasks keep failing): 1, and the triggers it governs are answered 503 ledger_failed.',
      labelNames: ['ledger'],
      registers,
    });
    this.stateBytes = new Gauge({
      name: 'medic_ledger_state_bytes',
      help: 'Size of a ledger state as it is carried to its next run (JSON bytes).',
      labelNames: ['ledger'],
      registers,
    });
    this.capacityBytes = new Gauge({
      name: 'medic_ledger_capacity_bytes',
      help: 'Size past which a ledger refuses claims (fleet) or keeps less history (admission): alert at half of it.',
      labelNames: ['ledger'],
      registers,
    });
    this.holds = new Gauge({
      name: 'medic_ledger_holds',
      help: 'What a ledger holds: admissions kept in its windows, or node and budget holds (fleet).',
      labelNames: ['ledger'],
      registers,
    });
  }

  /** A call to the ledger succeeded: it runs. */
  ok(ledger: string): void {
    if (this.failing.delete(ledger)) this.failed.set({ ledger }, 0);
  }

  markFailed(ledger: string, reason: string): void {
    if (!this.failing.has(ledger)) this.failing.set(ledger, { reason, since: new Date() });
    this.failed.set({ ledger }, 1);
  }

  /** The ledgers known to be failing, for /readyz. */
  failures(): Array<{ ledger: string; reason: string; since: string }> {
    return [...this.failing].map(([ledger, f]) => ({ ledger, reason: f.reason, since: f.since.toISOString() }));
  }

  /**
   * Looks at one ledger: whether its workflow task keeps failing (then why), else its size. Not
   * running is not a failure: the next admission starts it.
   */
  async check(client: Client, ledger: string): Promise<void> {
    try {
      const raw = await client.workflowService.describeWorkflowExecution({
        namespace: client.options.namespace,
        execution: { workflowId: ledger },
      });
      if (raw.workflowExecutionInfo?.status !== 1 /* RUNNING */) return;
      if ((raw.pendingWorkflowTask?.attempt ?? 0) >= FAILED_ATTEMPTS) {
        this.markFailed(ledger, await lastTaskFailure(client, ledger));
        return;
      }
      const c: LedgerCapacity = await client.workflow.getHandle(ledger).query(capacityQuery);
      this.ok(ledger);
      this.stateBytes.set({ ledger }, c.bytes);
      this.capacityBytes.set({ ledger }, c.capacityBytes);
      this.holds.set({ ledger }, c.holds);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || (err as { code?: number }).code === 5 /* NOT_FOUND */) return;
      throw err;
    }
  }

  /**
   * Checks `ledgers()` every `intervalMs` until the returned function is called; it resolves once
   * no check is in flight (a call that outlived the coordinator's Temporal connection would fail
   * inside the gRPC library, out of any caller's reach).
   */
  start(client: () => Client, ledgers: () => string[], intervalMs: number, log: (m: string) => void): () => Promise<void> {
    let running: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      if (running) return;
      running = Promise.all(
        ledgers().map((l) =>
          this.check(client(), l).catch((err: unknown) => log(`ledger check of ${l} failed: ${(err as Error).message}`)),
        ),
      ).finally(() => (running = undefined));
    }, intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await settledWithin(running, STOP_WAIT_MS);
    };
  }
}
