// What a coordinator asks of the fleet ledger: claim a node and budget places (one update, starting the ledger if needed), give them back, check.
import type { Client } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { Batcher, queryLedger, SEEDING_ATTEMPTS, SEEDING_RETRY_MS, updateLedger } from '../batcher';
import { LedgerSeedingError, type LedgerHealth } from '../health';
import type { Enforced, LedgerConstraint } from '../state';
import { spentHolds, type FleetSeedRequest } from './activities';
import { ORPHAN_GRACE_MS, type Claim, type ClaimRefusal, type PlaceSeed } from './state';
import {
  announceWorkflowUpdate,
  checkQuery,
  claimUpdate,
  claimWithConstraintsUpdate,
  FLEET_REFUSAL,
  FLEET_SEEDING,
  releaseHoldsUpdate,
  type ClaimAnswer,
} from '../messages';
import type { medicFleetLedger } from './workflow';

/** The one fleet ledger of a namespace. */
export const FLEET_LEDGER_ID = 'medic-fleet-ledger';

/** The executions holding what a refusal found full: the node, a budget, or the workflow's own concurrency. */
function holdersOf(r: ClaimRefusal): string[] {
  if (r.kind === 'node' || r.kind === 'budget' || r.kind === 'full') return r.holders.map((h) => h.execution);
  if (r.kind === 'constraint') return r.refusal.holders ?? [];
  return [];
}

export class FleetLedgerClient {
  private readonly batcher = new Batcher<Claim, ClaimAnswer>();
  /** Describes in flight, shared: a storm of refusals by the same holders looks at each once. */
  private readonly looking = new Map<string, Promise<boolean>>();

  /** Whether the execution has closed (a describe; any doubt, or not found yet, says no). */
  private isClosed(client: Client, execution: string): Promise<boolean> {
    let look = this.looking.get(execution);
    if (!look) {
      look = spentHolds(client, [{ id: execution, at: 0 }], 0, Infinity)
        .then((r) => r.spent.length > 0)
        .finally(() => this.looking.delete(execution));
      this.looking.set(execution, look);
    }
    return look;
  }

  /**
   * `ensureWorker` makes sure this coordinator's ledger worker polls before the first call;
   * `disruptive` names the disruptive workflows of the current config (a new ledger seeds from their running executions).
   */
  constructor(
    private readonly ensureWorker: () => void,
    private readonly disruptive: () => string[],
    private readonly callTimeoutMs = 10_000,
    /** The ledger's workflow id (tests give each its own). */
    readonly ledgerId = FLEET_LEDGER_ID,
    /** Settings of a ledger this client starts (tests shorten the grace and shrink the capacity). */
    private readonly settings: Omit<FleetSeedRequest, 'workflows'> = {},
    /** Told whether the ledger answers or cannot run (gauges, /readyz). */
    private readonly health?: LedgerHealth,
  ) {}

  /** The orphan grace of a ledger whose answer does not say (v0.1.0): the one this client starts ledgers with. */
  get graceMs(): number {
    return this.settings.orphanGraceMs ?? ORPHAN_GRACE_MS;
  }

  /**
   * Takes the claim's node and budget places, or says who holds them. A refusal by holders whose
   * executions have closed (nobody has looked since) ends those holds and asks once more, so a
   * node is free as soon as its remediation is over.
   */
  async claim(client: Client, claim: Claim): Promise<ClaimAnswer> {
    this.ensureWorker();
    const first = await this.ask(client, claim);
    if (first.ok) return first;
    // Orphans (never started) are the sweep's: only it measures their age in the ledger's time.
    const holders = holdersOf(first.refusal);
    const looks = await Promise.all(holders.map((h) => this.isClosed(client, h)));
    const spent = holders.filter((_, i) => looks[i]);
    if (!spent.length) return first;
    await this.release(client, spent);
    return this.ask(client, claim);
  }

  /** One claim, asked again while the ledger reads the executions of the workflow it starts to govern. */
  private async ask(client: Client, claim: Claim): Promise<ClaimAnswer> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.batcher.submit(this.ledgerId, claim, (batch) => this.send(client, batch));
      if (answer.ok || answer.refusal.kind !== 'seeding') return answer;
      if (attempt >= SEEDING_ATTEMPTS) throw new LedgerSeedingError(this.ledgerId);
      await new Promise((r) => setTimeout(r, SEEDING_RETRY_MS));
    }
  }

  private send(client: Client, claims: Claim[]): Promise<ClaimAnswer[]> {
    const def = claims.some((c) => c.admit) ? claimWithConstraintsUpdate : claimUpdate;
    return this.update(client, def, claims, (details) => (details as ClaimRefusal[]).map((refusal) => ({ ok: false, refusal })));
  }

  /** An update to the ledger, starting it if needed (seeded from the running executions of the disruptive workflows). */
  private update<Ret, Arg>(
    client: Client,
    def: UpdateDefinition<Ret, [Arg]>,
    arg: Arg,
    refused: (details: unknown) => Ret,
  ): Promise<Ret> {
    const ledger = {
      id: this.ledgerId,
      health: this.health,
      workflowType: 'medicFleetLedger',
      args: (): Parameters<typeof medicFleetLedger> => [{ workflows: this.disruptive(), ...this.settings }],
      types: { refusal: FLEET_REFUSAL, seeding: FLEET_SEEDING },
    };
    return updateLedger(client, this.callTimeoutMs, ledger, def, arg, refused);
  }

  /** Ends holds whose executions closed, or (`unstarted`) whose starts did not happen (best effort: the sweep ends them otherwise). */
  async release(client: Client, ids: string[], unstarted = false): Promise<void> {
    const args = { ids, ...(unstarted && { unstarted }) };
    await client.workflow.getHandle(this.ledgerId).executeUpdate(releaseHoldsUpdate, { args: [args] });
  }

  /** Says which config of a workflow this coordinator uses, where the fleet ledger admits its constraints (configs-in-use.ts). */
  announce(
    client: Client,
    workflow: string,
    constraints: LedgerConstraint[],
    places: PlaceSeed[],
    inUseMs?: number,
  ): Promise<Enforced[]> {
    this.ensureWorker();
    const args = { workflow, constraints, places, ...(inUseMs !== undefined && { inUseMs }) };
    return this.update(client, announceWorkflowUpdate, args, () => {
      throw new Error('the fleet ledger refused an announce, which it never refuses');
    });
  }

  /** Why the claim would be refused now, recording nothing (shadow mode); undefined when it would pass or no ledger exists yet. */
  check(client: Client, claim: Claim): Promise<ClaimRefusal | undefined> {
    return queryLedger(client, this.ledgerId, checkQuery, claim);
  }
}
