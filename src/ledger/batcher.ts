// What many callers ask of one ledger, sent as few updates: a batch per round trip, a few round trips in flight, each retried safely.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowNotFoundError, type QueryDefinition, type UpdateDefinition } from '@temporalio/common';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/workflow';
import { LEDGER_QUEUE } from '../naming/task-queues';
import { LEDGER_TASK_TIMEOUT } from './messages';
import { isUnknownOutcome, isWorkflowTaskFailed } from '../temporal/call-errors';
import {
  isUnknownUpdate,
  lastTaskFailure,
  LedgerFailedError,
  LedgerSeedingError,
  LedgerTooOldError,
  type LedgerHealth,
} from './health';

/** Updates kept in flight per ledger (Temporal allows 10 per workflow by default), and requests per update. */
const IN_FLIGHT = 2;
const BATCH = 200;
/** How often a new ledger is asked again while it reads past executions, and for how long at most. */
export const SEEDING_RETRY_MS = 100;
export const SEEDING_ATTEMPTS = 100;
/** Attempts of a batch whose reply was lost or whose ledger run just closed. */
const RETRIES = 3;

interface Waiting<R, A> {
  req: R;
  resolve(a: A): void;
  reject(err: unknown): void;
}

/**
 * Requests that arrive while this coordinator's updates to the same ledger are in flight are sent
 * together as one update (one round trip and one workflow task for all of them).
 */
export class Batcher<R, A> {
  private readonly queues = new Map<string, { waiting: Array<Waiting<R, A>>; inFlight: number }>();

  submit(ledger: string, req: R, send: (batch: R[]) => Promise<A[]>): Promise<A> {
    let queue = this.queues.get(ledger);
    if (!queue) this.queues.set(ledger, (queue = { waiting: [], inFlight: 0 }));
    const q = queue;
    return new Promise<A>((resolve, reject) => {
      q.waiting.push({ req, resolve, reject });
      this.pump(ledger, q, send);
    });
  }

  private pump(
    ledger: string,
    queue: { waiting: Array<Waiting<R, A>>; inFlight: number },
    send: (batch: R[]) => Promise<A[]>,
  ): void {
    while (queue.inFlight < IN_FLIGHT && queue.waiting.length) {
      const batch = queue.waiting.splice(0, BATCH);
      queue.inFlight++;
      send(batch.map((w) => w.req))
        .then(
          (answers) => batch.forEach((w, i) => w.resolve(answers[i]!)),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          queue.inFlight--;
          if (!queue.inFlight && !queue.waiting.length) this.queues.delete(ledger);
          else this.pump(ledger, queue, send);
        });
    }
  }
}

/**
 * When a start must be sent by, for a place a ledger took for it: the ledger's clock starts the
 * orphan grace at the admission (after `sentAt`) and its sweep may free the place only after it,
 * so the start's deadline (relative to this clock, so no clock skew) ends a margin before.
 */
export function startDeadline(sentAt: number, graceMs: number): number {
  return sentAt + graceMs - Math.min(graceMs / 10, 1_000);
}

/** Which ledger an update goes to, and who keeps track of the ledgers' health. */
export interface LedgerTarget {
  id: string;
  health?: LedgerHealth;
}

/** The error of a call to a ledger whose workflow tasks keep failing: it names the ledger and the failure. */
export async function ledgerFailure(client: Client, callTimeoutMs: number, ledger: LedgerTarget): Promise<LedgerFailedError> {
  const reason = await client.connection.withDeadline(Date.now() + callTimeoutMs, () => lastTaskFailure(client, ledger.id));
  ledger.health?.markFailed(ledger.id, reason);
  return new LedgerFailedError(ledger.id, reason);
}

/**
 * One update to a ledger, under a deadline of its own (the batch outlives the caller that happened
 * to send it). A batch the validator rejected as a whole answers `refused(details)`; a ledger
 * still seeding is asked again; a reply lost on the wire or a ledger run that just closed
 * (continue-as-new) is retried with the same update id, so it never counts twice. A ledger whose
 * workflow tasks keep failing is a LedgerFailedError naming it and the failure.
 */
export async function sendUpdate<T>(
  client: Client,
  callTimeoutMs: number,
  ledger: LedgerTarget,
  call: () => Promise<T>,
  types: { refusal: string; seeding: string },
  refused: (details: unknown) => T,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const answer = await client.connection.withDeadline(Date.now() + callTimeoutMs, call);
      ledger.health?.ok(ledger.id);
      return answer;
    } catch (err) {
      if (isWorkflowTaskFailed(err)) throw await ledgerFailure(client, callTimeoutMs, ledger);
      const failure = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (failure instanceof ApplicationFailure && failure.type === types.refusal) return refused(failure.details?.[0]);
      if (err instanceof WorkflowUpdateFailedError && isUnknownUpdate(failure))
        throw new LedgerTooOldError(ledger.id, failure!.message);
      if (failure instanceof ApplicationFailure && failure.type === types.seeding) {
        if (attempt >= SEEDING_ATTEMPTS) throw new LedgerSeedingError(ledger.id);
        await new Promise((r) => setTimeout(r, SEEDING_RETRY_MS));
        continue;
      }
      if ((err instanceof WorkflowNotFoundError || isUnknownOutcome(err)) && attempt < RETRIES) continue;
      throw err;
    }
  }
}

/** Which ledger an update goes to, how to start it if it is not running, and the failure types of its validator. */
export interface LedgerUpdateTarget extends LedgerTarget {
  workflowType: string;
  /** The ledger workflow's arguments (typed where they are made: Parameters<typeof the workflow>). */
  args: () => unknown[];
  types: { refusal: string; seeding: string };
}

/** An update to a ledger that starts it if needed (executeUpdateWithStart), sent and retried by sendUpdate under one update id. */
export function updateLedger<Ret, Arg>(
  client: Client,
  callTimeoutMs: number,
  ledger: LedgerUpdateTarget,
  def: UpdateDefinition<Ret, [Arg]>,
  arg: Arg,
  refused: (details: unknown) => Ret,
): Promise<Ret> {
  const updateId = randomUUID();
  // A start operation is used once: each attempt has its own.
  const start = (): WithStartWorkflowOperation<Workflow> =>
    new WithStartWorkflowOperation<Workflow>(ledger.workflowType, {
      workflowId: ledger.id,
      taskQueue: LEDGER_QUEUE,
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowTaskTimeout: LEDGER_TASK_TIMEOUT,
      args: ledger.args(),
    });
  const call = (): Promise<Ret> =>
    client.workflow.executeUpdateWithStart(def, { updateId, args: [arg], startWorkflowOperation: start() });
  return sendUpdate(client, callTimeoutMs, ledger, call, ledger.types, refused);
}

/** A query to a ledger; undefined when the ledger was never started. */
export async function queryLedger<Ret, Args extends unknown[]>(
  client: Client,
  ledgerId: string,
  def: QueryDefinition<Ret, Args>,
  ...args: Args
): Promise<Ret | undefined> {
  try {
    return await client.workflow.getHandle(ledgerId).query(def, ...args);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
