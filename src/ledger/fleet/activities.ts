// The fleet ledger's looks at Temporal (activities in the coordinators' ledger workers; the coordinator's refusal path uses spentHolds too).
//
// seedFleetLedger: a new fleet ledger (the first disruptive admission after an upgrade, or after
// the ledger was terminated) takes the holds of the disruptive executions visibility shows
// running, from the memo each was started with. sweepHolds: which holds' executions closed, or
// never started (past the orphan grace); new holds are found with one visibility list, and
// describe (exact, where visibility may lag) settles the rest. importPlaces: before the ledger
// admits a workflow's constraints, the workflow's executions in their windows and running.
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { queryValue } from '../../naming/search-attributes';
import { scopeOf, type Listed } from '../activities';
import { windowKey } from '../state';
import type { PlaceSeed, SweepFound, SweepRequest } from './state';

/** Memo field of a disruptive execution: JSON of what it holds ({node, budgets}), so a new fleet ledger knows. */
export const FLEET_MEMO = 'medic_fleet';

export interface FleetSeedRequest {
  /** The disruptive workflows of the coordinator that starts the ledger. */
  workflows: string[];
  /** The orphan grace of the ledger (tests shorten it). */
  orphanGraceMs?: number;
  /** The ledger's capacity in bytes of holds (tests shrink it; MAX_HOLD_BYTES otherwise). */
  maxHoldBytes?: number;
}

export interface SeededHold {
  id: string;
  workflow: string;
  trigger: string;
  node?: string;
  budgets: string[];
  at: number;
  holdMaxMs: number;
}

export interface ImportRequest {
  workflow: string;
  places: PlaceSeed[];
  /** The ledger's holds of the workflow: each must be found started (or be gone) before the import ends. */
  pending: string[];
}

export interface ImportFound {
  /** Executions started within a maxExecution period, per window. */
  windows: Array<{ window: string; at: number; id: string }>;
  /** Running executions, per concurrency place. */
  holds: Array<{ window: string; id: string }>;
  /** Pending holds not started yet, and running executions whose scope is unknown: the ledger looks again in a moment. */
  missing: string[];
}

export interface FleetLedgerActivities {
  seedFleetLedger(req: FleetSeedRequest): Promise<SeededHold[]>;
  sweepHolds(req: SweepRequest): Promise<SweepFound>;
}

/** The fleet ledger's activities that came after v0.1.0's: on LEDGER_ACTIVITY_QUEUE. */
export interface AddedFleetLedgerActivities {
  importPlaces(req: ImportRequest): Promise<ImportFound>;
}

/** Describes at most this many executions at once. */
const DESCRIBE_PARALLEL = 16;

/**
 * The holds that protect nothing any more: their execution is not running, or (past the grace,
 * measured against `now`) was never started. Anything unclear (an error) keeps its hold.
 */
export async function spentHolds(
  client: Client,
  holds: ReadonlyArray<{ id: string; at: number }>,
  now: number,
  orphanGraceMs: number,
): Promise<SweepFound & { orphans: string[] }> {
  const spent: string[] = [];
  const running: string[] = [];
  const orphans: string[] = [];
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < holds.length) {
      const h = holds[next++]!;
      try {
        const d = await client.workflow.getHandle(h.id).describe();
        (d.status.name === 'RUNNING' ? running : spent).push(h.id);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError && now - h.at > orphanGraceMs) {
          spent.push(h.id);
          orphans.push(h.id);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DESCRIBE_PARALLEL, holds.length) }, one));
  return { spent, running, orphans };
}

export function createFleetLedgerActivities(visibility: () => Client): FleetLedgerActivities {
  return {
    async seedFleetLedger(req) {
      if (!req.workflows.length) return [];
      const names = req.workflows.map((w) => `MedicWorkflow = ${queryValue(w)}`).join(' OR ');
      const seeded: SeededHold[] = [];
      for await (const e of visibility().workflow.list({ query: `ExecutionStatus = 'Running' AND (${names})`, pageSize: 1000 })) {
        const attr = (name: string): string => {
          const v = e.searchAttributes?.[name];
          return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '';
        };
        // Started before the fleet ledger (no memo): it holds at least its node.
        let held: { node?: unknown; budgets?: unknown } = { node: attr('MedicNode') };
        const memo = e.memo?.[FLEET_MEMO];
        if (typeof memo === 'string') {
          try {
            held = JSON.parse(memo) as typeof held;
          } catch {
            // not ours: the node alone
          }
        }
        seeded.push({
          id: e.workflowId,
          workflow: attr('MedicWorkflow'),
          trigger: attr('MedicTrigger'),
          ...(typeof held.node === 'string' && held.node ? { node: held.node } : {}),
          budgets: Array.isArray(held.budgets) ? held.budgets.filter((b): b is string => typeof b === 'string') : [],
          at: e.startTime.getTime(),
          // A backstop only: the sweep ends the hold when the execution closes.
          holdMaxMs: 24 * 3_600_000,
        });
      }
      return seeded;
    },
    async sweepHolds(req) {
      const client = visibility();
      const spent: string[] = [];
      const running: string[] = [];
      // New holds: one list of the executions of their workflows started since the first claim.
      const unseen = new Map(req.unseen.map((u) => [u.id, u]));
      if (unseen.size) {
        const since = new Date(Math.min(...req.unseen.map((u) => u.at)) - 5_000).toISOString();
        const names = [...new Set(req.unseen.map((u) => u.workflow))].map((w) => `MedicWorkflow = ${queryValue(w)}`).join(' OR ');
        for await (const e of client.workflow.list({
          query: `StartTime >= ${queryValue(since)} AND (${names})`,
          pageSize: 1000,
        })) {
          if (!unseen.has(e.workflowId)) continue;
          unseen.delete(e.workflowId);
          (e.status.name === 'RUNNING' ? running : spent).push(e.workflowId);
        }
      }
      // Not listed (not started, or visibility lags) past the grace, and seen ones: describe says.
      const old = [...unseen.values()].filter((u) => req.now - u.at > req.orphanGraceMs);
      const described = await spentHolds(
        client,
        [...old, ...req.seen.map((id) => ({ id, at: -Infinity }))],
        req.now,
        req.orphanGraceMs,
      );
      return { spent: [...spent, ...described.spent], running: [...running, ...described.running], orphans: described.orphans };
    },
  };
}

export function addedFleetLedgerActivities(visibility: () => Client): AddedFleetLedgerActivities {
  return {
    async importPlaces(req) {
      const found: ImportFound = { windows: [], holds: [], missing: [] };
      const now = Date.now();
      const since = new Date(now - Math.max(0, ...req.places.map((p) => p.periodMs))).toISOString();
      const pending = new Set(req.pending);
      const query = `MedicWorkflow = ${queryValue(req.workflow)} AND (ExecutionStatus = 'Running' OR StartTime > ${queryValue(since)})`;
      for await (const e of visibility().workflow.list({ query, pageSize: 1000 })) {
        pending.delete(e.workflowId);
        const at = e.startTime.getTime();
        for (const p of req.places) {
          const scope = scopeOf(e as unknown as Listed, p);
          if (p.kind === 'maxExecution') {
            if (scope && at > now - p.periodMs) found.windows.push({ window: windowKey(p.key, scope), at, id: e.workflowId });
          } else if (e.status.name === 'RUNNING') {
            if (scope) found.holds.push({ window: windowKey(p.key, scope), id: e.workflowId });
            else found.missing.push(e.workflowId); // counted nowhere would let one more in: wait until it closes
          }
        }
      }
      found.missing.push(...pending);
      return found;
    },
  };
}
