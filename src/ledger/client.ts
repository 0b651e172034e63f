// What a coordinator asks of a workflow's admission ledger: admit (one update, starting the ledger if needed), release, announce.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { WorkflowConfig } from '../config/workflow';
import { constraintKey } from '../coordinator/constraints';
import { isUnknownOutcome } from '../coordinator/leases';
import { LEDGER_QUEUE } from '../temporal/task-queues';
import type { SeedRequest } from './activities';
import type { AdmitRequest, Enforced, LedgerConstraint, LedgerRefusal } from './state';
import {
  admitUpdate,
  announceUpdate,
  enforcedQuery,
  LEDGER_REFUSAL,
  LEDGER_SEEDING,
  medicAdmissionLedger,
  releaseUpdate,
  type LedgerAnswer,
} from './workflow';

/** The ledger of a workflow: one per name. Workflow names never contain ':'. */
export function ledgerWorkflowId(workflow: string): string {
  return `medic-ledger:${workflow}`;
}

/**
 * Whether admission goes through the workflow's ledger: any maxExecution constraint (its windows
 * live there), or a concurrency value above 1 (another replica may have lowered it: the ledger
 * knows at once). A workflow with concurrency 1 alone needs none: no config allows less than one
 * running, and a replica raising it reads the others' markers before its first decision.
 */
export function usesLedger(wf: WorkflowConfig): boolean {
  return wf.constraints.some((c) => c.kind === 'maxExecution' || c.value > 1);
}

const SCOPE_KIND = { general: 'datacenter', node_type: 'node_type', node: 'node' } as const;

export type { LedgerAnswer };

/** How often a new ledger is asked again while it reads past executions, and for how long at most. */
const SEEDING_RETRY_MS = 100;
const SEEDING_ATTEMPTS = 100;
/** Attempts of an admission whose reply was lost or whose ledger run just closed. */
const RETRIES = 3;
/** Updates a coordinator keeps in flight per ledger (Temporal allows 10 per workflow by default), and admissions per update. */
const IN_FLIGHT = 2;
const BATCH = 200;

interface Waiting {
  req: AdmitRequest;
  resolve(a: LedgerAnswer): void;
  reject(err: unknown): void;
}

interface Queue {
  waiting: Waiting[];
  inFlight: number;
}

export class LedgerClient {
  /**
   * `ensureWorker` makes sure this coordinator's ledger worker polls before the first call
   * (ledgers run there); `orphanGraceMs` is given to ledgers this coordinator starts (tests shorten it).
   */
  constructor(
    private readonly ensureWorker: () => void = () => {},
    private readonly orphanGraceMs?: number,
    private readonly callTimeoutMs = 10_000,
    /** How long this coordinator's config stays in use at the ledger after each call (it announces at least this often / 2.5). */
    private readonly inUseMs?: number,
  ) {}

  constraints(wf: WorkflowConfig): LedgerConstraint[] {
    return wf.constraints.map((c) => ({
      key: constraintKey(c, wf.constraints),
      kind: c.kind,
      value: c.value,
      periodMs: c.periodMs,
    }));
  }

  private start(wf: WorkflowConfig): WithStartWorkflowOperation<typeof medicAdmissionLedger> {
    const seed: SeedRequest = {
      workflow: wf.name,
      ...(this.orphanGraceMs !== undefined && { orphanGraceMs: this.orphanGraceMs }),
      constraints: wf.constraints
        .filter((c) => c.kind === 'maxExecution')
        .map((c) => ({
          key: constraintKey(c, wf.constraints),
          periodMs: c.periodMs,
          scope: c.isGlobal ? 'global' : SCOPE_KIND[wf.taskQueueTarget],
        })),
    };
    return new WithStartWorkflowOperation(medicAdmissionLedger, {
      workflowId: ledgerWorkflowId(wf.name),
      taskQueue: LEDGER_QUEUE,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [seed],
    });
  }

  /**
   * One admission: accepted with the constraints as enforced, or refused with why. Admissions
   * that arrive while this coordinator's updates to the same ledger are in flight are sent
   * together as one update (Temporal allows few updates in flight per workflow, and one batch
   * is one round trip and one workflow task for all of them).
   */
  admit(client: Client, wf: WorkflowConfig, req: Omit<AdmitRequest, 'constraints'>): Promise<LedgerAnswer> {
    this.ensureWorker();
    const full: AdmitRequest = {
      ...req,
      constraints: this.constraints(wf),
      ...(this.inUseMs !== undefined && { inUseMs: this.inUseMs }),
    };
    let queue = this.queues.get(wf.name);
    if (!queue) this.queues.set(wf.name, (queue = { waiting: [], inFlight: 0 }));
    return new Promise<LedgerAnswer>((resolve, reject) => {
      queue.waiting.push({ req: full, resolve, reject });
      this.pump(client, wf, queue);
    });
  }

  private readonly queues = new Map<string, Queue>();

  private pump(client: Client, wf: WorkflowConfig, queue: Queue): void {
    while (queue.inFlight < IN_FLIGHT && queue.waiting.length) {
      const batch = queue.waiting.splice(0, BATCH);
      queue.inFlight++;
      this.send(client, wf, batch)
        .then(
          (answers) => batch.forEach((w, i) => w.resolve(answers[i]!)),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          queue.inFlight--;
          if (!queue.inFlight && !queue.waiting.length) this.queues.delete(wf.name);
          else this.pump(client, wf, queue);
        });
    }
  }

  /**
   * One update for a batch. A retry after a lost reply uses the same update id and gets the first
   * answer (Temporal dedupes update ids; the ledger keeps each admission's answer by its id).
   */
  private async send(client: Client, wf: WorkflowConfig, batch: Waiting[]): Promise<LedgerAnswer[]> {
    const updateId = randomUUID();
    const requests = batch.map((w) => w.req);
    for (let attempt = 1; ; attempt++) {
      try {
        // A deadline of its own: the batch outlives the trigger that happened to send it.
        return await client.connection.withDeadline(Date.now() + this.callTimeoutMs, () =>
          client.workflow.executeUpdateWithStart(admitUpdate, {
            updateId,
            args: [requests],
            startWorkflowOperation: this.start(wf),
          }),
        );
      } catch (err) {
        const failure = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (failure instanceof ApplicationFailure && failure.type === LEDGER_REFUSAL)
          return (failure.details?.[0] as LedgerRefusal[]).map((refusal) => ({ ok: false, refusal }));
        if (failure instanceof ApplicationFailure && failure.type === LEDGER_SEEDING && attempt < SEEDING_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, SEEDING_RETRY_MS));
          continue;
        }
        // The ledger run closed (continue-as-new) between the start and the update: its next run
        // answers. A reply lost on the wire: the same id again gets the first answer, never a second admission.
        if ((err instanceof WorkflowNotFoundError || isUnknownOutcome(err)) && attempt < RETRIES) continue;
        throw err;
      }
    }
  }

  /** Gives back an admission whose execution was not started (best effort: the orphan sweep frees it otherwise). */
  async release(client: Client, wf: WorkflowConfig, id: string): Promise<void> {
    await client.workflow.getHandle(ledgerWorkflowId(wf.name)).executeUpdate(releaseUpdate, { args: [{ id }] });
  }

  /** The constraints as the ledger would enforce them for this config now, recording nothing (a query). */
  async enforced(client: Client, wf: WorkflowConfig): Promise<Enforced[] | undefined> {
    try {
      return await client.workflow.getHandle(ledgerWorkflowId(wf.name)).query(enforcedQuery, this.constraints(wf));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** Says which config this coordinator uses, so a stricter one governs the other replicas at once. */
  async announce(client: Client, wf: WorkflowConfig): Promise<Enforced[]> {
    this.ensureWorker();
    return client.workflow.executeUpdateWithStart(announceUpdate, {
      args: [{ constraints: this.constraints(wf), ...(this.inUseMs !== undefined && { inUseMs: this.inUseMs }) }],
      startWorkflowOperation: this.start(wf),
    });
  }
}
