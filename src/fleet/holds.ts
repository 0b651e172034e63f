// Disruptive holds: the per-node lock and budget slots, as markers (markers.ts). A budget of N in
// a scope has N slot ids, so at most N holds exist at once on any number of coordinators. A hold
// lasts while its execution runs: the next caller that finds it held checks the execution and
// ends the hold when it has closed (or never appeared within ORPHAN_GRACE_MS).
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { claimMarker, endMarker, readMarker, type Marker } from './markers';

/** A hold whose execution cannot be found is stale after this long (its coordinator died before starting it). */
export const ORPHAN_GRACE_MS = 60_000;

export interface HoldSpec {
  /** The workflow id of the execution the hold is for. */
  execution: string;
  workflow: string;
  node?: string;
  trigger: string;
  /** Backstop: Temporal ends the hold after this long even if nobody looks. */
  holdMaxMs: number;
}

export interface Hold {
  id: string;
  runId: string;
}

export interface Holder {
  id: string;
  execution?: string;
  workflow?: string;
  trigger?: string;
  since: string;
}

export type HoldResult = { ok: true; hold: Hold } | { ok: false; holders: Holder[] };

export function nodeLockId(node: string): string {
  return `medic-fleet:node:${node}`;
}

/** Budget names are HCL labels and scope values target names: neither contains ':' ... */
export function budgetSlotId(budget: string, scopeValue: string, slot: number): string {
  return `medic-fleet:budget:${encodeURIComponent(budget)}:${scopeValue}:${slot}`;
}

function holderOf(m: Marker): Holder {
  const s = (k: string): string | undefined => (typeof m.memo[k] === 'string' ? (m.memo[k] as string) : undefined);
  return {
    id: m.id,
    execution: s('execution'),
    workflow: s('workflow'),
    trigger: s('trigger'),
    since: new Date(m.startTime).toISOString(),
  };
}

/** Whether the hold no longer protects anything: its execution closed, or never started. */
async function isSpent(client: Client, m: Marker, now: number): Promise<boolean> {
  const execution = typeof m.memo.execution === 'string' ? m.memo.execution : undefined;
  if (!execution) return now - m.startTime > ORPHAN_GRACE_MS;
  try {
    const d = await client.workflow.getHandle(execution).describe();
    return d.status.name !== 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return now - m.startTime > ORPHAN_GRACE_MS;
    throw err;
  }
}

/** The live holder of an id, ending a spent one on the way; undefined when the id is free. */
async function liveHolder(client: Client, id: string, now: number): Promise<Marker | undefined> {
  const m = await readMarker(client, id);
  if (!m) return undefined;
  if (await isSpent(client, m, now)) {
    await endMarker(client, id, m.runId, `execution ${String(m.memo.execution ?? '(none)')} is no longer running`);
    return undefined;
  }
  return m;
}

async function takeId(client: Client, id: string, spec: HoldSpec, now: () => number): Promise<HoldResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const claimed = await claimMarker(
      client,
      'hold',
      id,
      { execution: spec.execution, workflow: spec.workflow, node: spec.node ?? '', trigger: spec.trigger },
      spec.holdMaxMs,
    );
    if (claimed) return { ok: true, hold: { id, runId: claimed.runId } };
    const holder = await liveHolder(client, id, now());
    if (holder) return { ok: false, holders: [holderOf(holder)] };
  }
  return { ok: false, holders: [] };
}

/** The lock that lets one disruptive remediation at a time touch a node. */
export function takeNodeLock(client: Client, node: string, spec: HoldSpec, now: () => number): Promise<HoldResult> {
  return takeId(client, nodeLockId(node), spec, now);
}

/** One of `limit` slots of a budget in a scope, tried from a random start (spreads concurrent callers). */
export async function takeBudgetSlot(
  client: Client,
  budget: string,
  scopeValue: string,
  limit: number,
  spec: HoldSpec,
  now: () => number,
): Promise<HoldResult> {
  const holders: Holder[] = [];
  const first = Math.floor(Math.random() * Math.max(1, limit));
  for (let i = 0; i < limit; i++) {
    const r = await takeId(client, budgetSlotId(budget, scopeValue, (first + i) % limit), spec, now);
    if (r.ok) return r;
    holders.push(...r.holders);
  }
  return { ok: false, holders };
}

/** For shadow admissions: who holds the ids, without taking any. */
export async function inspectHolds(client: Client, ids: string[], now: number): Promise<Holder[]> {
  const found = await Promise.all(ids.map((id) => liveHolder(client, id, now)));
  return found.filter((m): m is Marker => m !== undefined).map(holderOf);
}

export async function releaseHolds(client: Client, holds: readonly Hold[], reason: string): Promise<void> {
  await Promise.all(holds.map((h) => endMarker(client, h.id, h.runId, reason)));
}
