// The admission ledger's two looks at Temporal visibility (activities in the coordinators' ledger workers).
//
// seedLedger: a new ledger (the first admission after an upgrade, or after the ledger was
// terminated) fills its windows with the executions visibility shows, so starts made before it
// existed still count. sweepLedger: admissions older than the orphan grace whose execution
// visibility does not show were abandoned by their coordinator; they free their place.
import type { Client } from '@temporalio/client';
import { queryValue } from '../naming/search-attributes';
import { windowKey, type Where } from './state';

/** Memo field of every execution admission starts: the nonce of its admission (the ledger's id for it). */
export const NONCE_MEMO = 'medic_admission';
/** Memo field: JSON of constraint key -> scope key, so a new ledger knows each execution's windows. */
export const SCOPES_MEMO = 'medic_scopes';

export interface SeedRequest {
  workflow: string;
  /** The ledger's orphan grace (tests shorten it); default ORPHAN_GRACE_MS. */
  orphanGraceMs?: number;
  /** The workflow's maxExecution constraints: key, the longest period to look back, and how each scopes. */
  constraints: Array<{ key: string; periodMs: number; scope: 'global' | 'node' | 'datacenter' | 'node_type' }>;
}

export interface SweepRequest {
  workflow: string;
  admissions: Array<{ id: string; at: number; where: Where }>;
}

export interface LedgerActivities {
  seedLedger(req: SeedRequest): Promise<Array<{ window: string; at: number; id: string }>>;
  sweepLedger(req: SweepRequest): Promise<{ seen: string[]; orphans: string[] }>;
}

export interface Listed {
  workflowId: string;
  startTime: Date;
  memo?: Record<string, unknown>;
  searchAttributes?: Record<string, unknown>;
}

const LIST_LIMIT = 100_000;

/** The scope of an execution for a constraint, from its memo, else from its search attributes. */
export function scopeOf(e: Listed, c: SeedRequest['constraints'][number]): string | undefined {
  const memo = e.memo?.[SCOPES_MEMO];
  if (typeof memo === 'string') {
    try {
      const scopes = JSON.parse(memo) as Record<string, unknown>;
      if (typeof scopes[c.key] === 'string') return scopes[c.key] as string;
    } catch {
      // not ours: fall back to the search attributes
    }
  }
  const attr = (name: string): string | undefined => {
    const v = e.searchAttributes?.[name];
    return Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
  };
  switch (c.scope) {
    case 'global':
      return 'global';
    case 'node':
      return attr('MedicNode') ? `node=${attr('MedicNode')}` : undefined;
    case 'datacenter':
      return attr('MedicDatacenter') ? `datacenter=${attr('MedicDatacenter')}` : undefined;
    case 'node_type':
      // Visibility has no node type: only executions whose memo names their scope are known.
      return undefined;
  }
}

export function createLedgerActivities(visibility: () => Client): LedgerActivities {
  async function list(query: string, each: (e: Listed) => void): Promise<void> {
    let n = 0;
    for await (const e of visibility().workflow.list({ query, pageSize: 1000 })) {
      each(e as unknown as Listed);
      if (++n >= LIST_LIMIT) break;
    }
  }
  return {
    async seedLedger(req) {
      const periodMs = Math.max(0, ...req.constraints.map((c) => c.periodMs));
      if (!periodMs) return [];
      const since = new Date(Date.now() - periodMs).toISOString();
      const entries: Array<{ window: string; at: number; id: string }> = [];
      await list(`MedicWorkflow = ${queryValue(req.workflow)} AND StartTime > ${queryValue(since)}`, (e) => {
        const id = typeof e.memo?.[NONCE_MEMO] === 'string' ? (e.memo[NONCE_MEMO] as string) : `seen:${e.workflowId}`;
        for (const c of req.constraints) {
          const scope = scopeOf(e, c);
          if (scope && e.startTime.getTime() > Date.now() - c.periodMs)
            entries.push({ window: windowKey(c.key, scope), at: e.startTime.getTime(), id });
        }
      });
      return entries;
    },

    async sweepLedger(req) {
      if (!req.admissions.length) return { seen: [], orphans: [] };
      // Only the executions started around these admissions (their starts follow within the call deadline).
      const at = req.admissions.map((a) => a.at);
      const since = new Date(Math.min(...at) - 5_000).toISOString();
      const until = new Date(Math.max(...at) + 60_000).toISOString();
      const nonces = new Set<string>();
      const query = `MedicWorkflow = ${queryValue(req.workflow)} AND StartTime >= ${queryValue(since)} AND StartTime <= ${queryValue(until)}`;
      await list(query, (e) => {
        const n = e.memo?.[NONCE_MEMO];
        if (typeof n === 'string') nonces.add(n);
      });
      const seen = req.admissions.filter((a) => nonces.has(a.id)).map((a) => a.id);
      const orphans = req.admissions.filter((a) => !nonces.has(a.id)).map((a) => a.id);
      return { seen, orphans };
    },
  };
}
