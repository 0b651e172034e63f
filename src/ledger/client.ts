// What a coordinator asks of a workflow's admission ledger: admit (one update, starting the ledger if needed), release, announce.
import type { Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import type { WorkflowConfig } from '../config/workflow';
import { constraintKey, type Constraint } from '../config/workflow';
import type { SeedRequest } from './activities';
import { Batcher, queryLedger, updateLedger } from './batcher';
import type { LedgerHealth } from './health';
import type { AdmitRequest, Enforced, LedgerConstraint, LedgerRefusal } from './state';
import type { FleetAdmit, PlaceSeed } from './fleet/state';
import {
  admitUpdate,
  announceUpdate,
  enforcedQuery,
  LEDGER_REFUSAL,
  LEDGER_SEEDING,
  releaseUpdate,
  type LedgerAnswer,
} from './messages';
import type { medicAdmissionLedger } from './workflow';

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

/**
 * A disruptive workflow's per-node concurrency is implied by its node lock at the fleet ledger
 * (one disruptive remediation per node, whatever the value): it takes no place of its own.
 */
export function nodeLockCovers(wf: WorkflowConfig, c: Constraint): boolean {
  return (
    wf.disruptive === true && wf.mode !== 'shadow' && c.kind === 'concurrency' && !c.isGlobal && wf.taskQueueTarget === 'node'
  );
}

/**
 * Whether the fleet ledger admits the workflow's own constraints with its claim, when a
 * coordinator has `admission.fleet_constraints` on: a disruptive workflow (not in shadow mode)
 * with a constraint its node lock does not cover.
 */
export function admitsAtFleet(wf: WorkflowConfig): boolean {
  return wf.disruptive === true && wf.mode !== 'shadow' && wf.constraints.some((c) => !nodeLockCovers(wf, c));
}

/** How a ledger finds the executions counted by each of the workflow's constraints (seeding, importing). */
export function placesOf(wf: WorkflowConfig): PlaceSeed[] {
  return wf.constraints.map((c) => ({
    key: constraintKey(c, wf.constraints),
    kind: c.kind,
    periodMs: c.periodMs,
    scope: c.isGlobal ? 'global' : SCOPE_KIND[wf.taskQueueTarget],
  }));
}

export type { LedgerAnswer };

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
    readonly inUseMs?: number,
    /** Told which ledgers answer and which cannot run (gauges, /readyz). */
    private readonly health?: LedgerHealth,
  ) {}

  constraints(wf: WorkflowConfig): LedgerConstraint[] {
    return wf.constraints.map((c) => ({
      key: constraintKey(c, wf.constraints),
      kind: c.kind,
      value: c.value,
      periodMs: c.periodMs,
    }));
  }

  /**
   * The admission of the workflow's constraints that a claim at the fleet ledger carries
   * (admitsAtFleet): those with a scope here (a disruptive workflow's per-node concurrency is its
   * node lock), the concurrency ones held until the execution closes, at most `forMs`.
   */
  fleetAdmit(wf: WorkflowConfig, scopes: Record<string, string>, forMs: number, execution: string): FleetAdmit {
    const constraints = this.constraints(wf).filter((c) => scopes[c.key] !== undefined);
    const held = constraints.filter((c) => c.kind === 'concurrency').map((c) => c.key);
    return {
      request: {
        constraints,
        scopes,
        where: { execution },
        ...(held.length && { hold: { keys: held, forMs } }),
        ...(this.inUseMs !== undefined && { inUseMs: this.inUseMs }),
      },
      places: placesOf(wf).filter((p) => scopes[p.key] !== undefined),
    };
  }

  /** What a ledger this coordinator starts is started with: how it finds past executions. */
  private seed(wf: WorkflowConfig): SeedRequest {
    return {
      workflow: wf.name,
      ...(this.orphanGraceMs !== undefined && { orphanGraceMs: this.orphanGraceMs }),
      constraints: placesOf(wf)
        .filter((p) => p.kind === 'maxExecution')
        .map(({ key, periodMs, scope }) => ({ key, periodMs, scope })),
    };
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
    return this.batcher.submit(wf.name, full, (batch) => this.send(client, wf, batch));
  }

  private readonly batcher = new Batcher<AdmitRequest, LedgerAnswer>();

  /**
   * One update for a batch. A retry after a lost reply uses the same update id and gets the first
   * answer (Temporal dedupes update ids; the ledger keeps each admission's answer by its id).
   */
  private send(client: Client, wf: WorkflowConfig, requests: AdmitRequest[]): Promise<LedgerAnswer[]> {
    return this.update(client, wf, admitUpdate, requests, (details) =>
      (details as LedgerRefusal[]).map((refusal) => ({ ok: false, refusal })),
    );
  }

  /** An update to the workflow's ledger, starting it if needed. */
  private update<Ret, Arg>(
    client: Client,
    wf: WorkflowConfig,
    def: UpdateDefinition<Ret, [Arg]>,
    arg: Arg,
    refused: (details: unknown) => Ret,
  ): Promise<Ret> {
    const ledger = {
      id: ledgerWorkflowId(wf.name),
      health: this.health,
      workflowType: 'medicAdmissionLedger',
      args: (): Parameters<typeof medicAdmissionLedger> => [this.seed(wf)],
      types: { refusal: LEDGER_REFUSAL, seeding: LEDGER_SEEDING },
    };
    return updateLedger(client, this.callTimeoutMs, ledger, def, arg, refused);
  }

  /** Gives back an admission whose execution was not started (best effort: the orphan sweep frees it otherwise). */
  async release(client: Client, wf: WorkflowConfig, id: string): Promise<void> {
    await client.workflow.getHandle(ledgerWorkflowId(wf.name)).executeUpdate(releaseUpdate, { args: [{ id }] });
  }

  /** The constraints as the ledger would enforce them for this config now, recording nothing (a query). */
  enforced(client: Client, wf: WorkflowConfig): Promise<Enforced[] | undefined> {
    return queryLedger(client, ledgerWorkflowId(wf.name), enforcedQuery, this.constraints(wf));
  }

  /**
   * Says which config this coordinator uses, so a stricter one governs the other replicas at once.
   * Sent as admissions are (a lost reply or a stalled ledger is asked again with the same update id).
   */
  announce(client: Client, wf: WorkflowConfig): Promise<Enforced[]> {
    this.ensureWorker();
    const args = { constraints: this.constraints(wf), ...(this.inUseMs !== undefined && { inUseMs: this.inUseMs }) };
    return this.update(client, wf, announceUpdate, args, () => {
      throw new Error('the admission ledger refused an announce, which it never refuses');
    });
  }
}
