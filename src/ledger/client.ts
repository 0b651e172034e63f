// What a coordinator asks of a workflow's admission ledger: admit (one update, starting the ledger if needed), release, announce.
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { WithStartWorkflowOperation, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { WorkflowConfig } from '../config/workflow';
import { constraintKey } from '../coordinator/constraints';
import { isUnknownOutcome } from '../coordinator/leases';
import { LEDGER_QUEUE } from '../temporal/task-queues';
import type { SeedRequest } from './activities';
import type { AdmitAnswer, AdmitRequest, Enforced, LedgerConstraint, LedgerRefusal } from './state';
import { admitUpdate, announceUpdate, LEDGER_REFUSAL, LEDGER_SEEDING, medicAdmissionLedger, releaseUpdate } from './workflow';

/** The ledger of a workflow: one per name. Workflow names never contain ':'. */
export function ledgerWorkflowId(workflow: string): string {
  return `medic-ledger:${workflow}`;
}

/** Whether admission goes through a ledger: any maxExecution constraint (its windows live there). */
export function usesLedger(wf: WorkflowConfig): boolean {
  return wf.constraints.some((c) => c.kind === 'maxExecution');
}

const SCOPE_KIND = { general: 'datacenter', node_type: 'node_type', node: 'node' } as const;

export type LedgerAnswer = { ok: true; answer: AdmitAnswer } | { ok: false; refusal: LedgerRefusal };

/** How often a new ledger is asked again while it reads past executions, and for how long at most. */
const SEEDING_RETRY_MS = 100;
const SEEDING_ATTEMPTS = 100;
/** Attempts of an admission whose reply was lost or whose ledger run just closed. */
const RETRIES = 3;

export class LedgerClient {
  /**
   * `ensureWorker` makes sure this coordinator's ledger worker polls before the first call
   * (ledgers run there); `orphanGraceMs` is given to ledgers this coordinator starts (tests shorten it).
   */
  constructor(
    private readonly ensureWorker: () => void = () => {},
    private readonly orphanGraceMs?: number,
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
   * One admission: accepted with the constraints as enforced, or refused with why. A retry after
   * a lost reply uses the same id and gets the first answer (the ledger keeps them).
   */
  async admit(client: Client, wf: WorkflowConfig, req: Omit<AdmitRequest, 'constraints'>): Promise<LedgerAnswer> {
    this.ensureWorker();
    const full: AdmitRequest = { ...req, constraints: this.constraints(wf) };
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await client.workflow.executeUpdateWithStart(admitUpdate, {
          updateId: req.id,
          args: [full],
          startWorkflowOperation: this.start(wf),
        });
        return { ok: true, answer };
      } catch (err) {
        const failure = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
        if (failure instanceof ApplicationFailure && failure.type === LEDGER_REFUSAL)
          return { ok: false, refusal: failure.details?.[0] as LedgerRefusal };
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

  /** Says which config this coordinator uses, so a stricter one governs the other replicas at once. */
  async announce(client: Client, wf: WorkflowConfig): Promise<Enforced[]> {
    this.ensureWorker();
    return client.workflow.executeUpdateWithStart(announceUpdate, {
      args: [{ constraints: this.constraints(wf) }],
      startWorkflowOperation: this.start(wf),
    });
  }
}
