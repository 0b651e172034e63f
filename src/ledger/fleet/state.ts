// The fleet ledger's arithmetic: who holds each node and each budget's places, pure and deterministic (it runs in the ledger workflow and in unit tests).
//
// A disruptive execution holds its node (one disruptive remediation per node) and one place in
// each budget that covers it, from its admission until it closes. Every coordinator claims
// through the one fleet ledger, so the checks and the records of all replicas are ordered in one
// place, and a claim with budgets costs what a claim without them does: one update.

/** A place in a budget: the budget's name and the scope value it counts in ("dc1", "global"). */
export interface BudgetPlace {
  /** `${budget}|${scopeValue}`: a budget renamed or rescoped counts afresh. */
  key: string;
  budget: string;
  /** "datacenter=dc1", "global": for messages. */
  scope: string;
  /** The budget's limit for this claim (a percentage is resolved by the coordinator). */
  limit: number;
}

export interface Claim {
  /** The workflow id of the execution the claim is for (unique per admission). */
  id: string;
  workflow: string;
  trigger: string;
  node?: string;
  budgets: BudgetPlace[];
  /** Backstop: the hold ends after this long even if its execution is never seen to close. */
  holdMaxMs: number;
}

export interface Hold {
  workflow: string;
  trigger: string;
  node?: string;
  /** Budget keys the hold counts in. */
  budgets: string[];
  /** Ledger time of the claim. */
  at: number;
  until: number;
  /** Whether the sweep has seen its execution running (then it looks again only every RECHECK_MS). */
  seen?: boolean;
  /** Ledger time of the sweep's last look (the claim's time before the first). */
  checkedAt: number;
}

export interface Holder {
  execution: string;
  workflow: string;
  trigger: string;
  since: string;
}

export type ClaimRefusal =
  | { kind: 'node'; node: string; holders: Holder[] }
  /** `holders`: the oldest HOLDERS_SHOWN of the `held` places. */
  | { kind: 'budget'; budget: string; scope: string; limit: number; held: number; holders: Holder[] }
  /** The ledger holds MAX_HOLD_BYTES of holds: more would not fit in one continue-as-new input. `holders`: the oldest HOLDERS_SHOWN. */
  | { kind: 'full'; holds: number; bytes: number; limit: number; holders: Holder[] };

/** What a run hands the next one at continue-as-new: the holds and settings, not what is derived from them. */
export interface FleetLedgerCarried {
  /** The shape of this state (FLEET_STATE_VERSION); an earlier release carried none (version 0). */
  version?: number;
  /** Execution id -> its hold. */
  holds: Record<string, Hold>;
  /** Whether the holds of executions already running were read from visibility when this ledger was first started. */
  seeded: boolean;
  /** A hold whose execution is not found after this was abandoned by its coordinator. */
  orphanGraceMs: number;
  /** Claims are refused past this size of holds (MAX_HOLD_BYTES unless a test sets it). */
  maxHoldBytes?: number;
}

export interface FleetLedgerState extends FleetLedgerCarried {
  /** Node -> the execution holding it. */
  nodes: Record<string, string>;
  /** Budget key -> executions holding a place, oldest first. */
  places: Record<string, string[]>;
  /** The holds' size as carried (JSON), kept as they come and go. */
  bytes: number;
}

/** A hold whose execution is not found after this long was abandoned before its start (far beyond visibility's lag). */
export const ORPHAN_GRACE_MS = 60_000;
/**
 * Claims are refused (fail safe) once the holds would pass this size: the state is carried to
 * the next run as one payload, and Temporal refuses payloads over 2 MiB by default (a ledger
 * that cannot continue-as-new would refuse every claim until someone terminated it). About
 * 5000 holds of a workflow with three budgets and short names; 2000 with the longest names the
 * API accepts.
 */
export const MAX_HOLD_BYTES = 1.5 * 1024 * 1024;
/** A budget refusal names this many of its holders (the oldest); `held` counts them all. */
export const HOLDERS_SHOWN = 20;

export function emptyFleetState(orphanGraceMs = ORPHAN_GRACE_MS, maxHoldBytes?: number): FleetLedgerState {
  return restore({ holds: {}, seeded: false, orphanGraceMs, ...(maxHoldBytes !== undefined && { maxHoldBytes }) });
}

/** One hold's share of the carried state (as if seen: the size does not change when the sweep sees it). */
function holdBytes(id: string, hold: Hold): number {
  return id.length + JSON.stringify({ ...hold, seen: true }).length + 4;
}

/** The shape of the carried state. Raise it with every change of shape, and migrate in restore(). */
export const FLEET_STATE_VERSION = 1;

/** The state of a run started with `carried` (of this release or an earlier one): nodes, places and the size rebuilt from the holds. */
export function restore(carried: FleetLedgerCarried): FleetLedgerState {
  const version = carried.version ?? 0;
  if (version > FLEET_STATE_VERSION)
    throw new Error(
      `the fleet ledger state is version ${version}, newer than this release's ${FLEET_STATE_VERSION}: upgrade this coordinator`,
    );
  // 0 -> 1: the shape is the same; the version field is new.
  const state: FleetLedgerState = { ...carried, version: FLEET_STATE_VERSION, holds: {}, nodes: {}, places: {}, bytes: 0 };
  const byAge = Object.entries(carried.holds).sort(([, a], [, b]) => a.at - b.at);
  for (const [id, h] of byAge) record(state, id, h);
  return state;
}

/** What continue-as-new carries. */
export function carry(state: FleetLedgerState): FleetLedgerCarried {
  const { holds, seeded, orphanGraceMs, maxHoldBytes } = state;
  return { version: FLEET_STATE_VERSION, holds, seeded, orphanGraceMs, ...(maxHoldBytes !== undefined && { maxHoldBytes }) };
}

function record(state: FleetLedgerState, id: string, hold: Hold): void {
  state.holds[id] = hold;
  state.bytes += holdBytes(id, hold);
  if (hold.node) state.nodes[hold.node] = id;
  for (const key of hold.budgets) (state.places[key] ??= []).push(id);
}

function holderOf(state: FleetLedgerState, id: string): Holder {
  const h = state.holds[id]!;
  return { execution: id, workflow: h.workflow, trigger: h.trigger, since: new Date(h.at).toISOString() };
}

/** Why the claim may not be taken now (node first: a busy node fails fast), or undefined. Reads only (an update validator). */
export function check(state: FleetLedgerState, claim: Claim): ClaimRefusal | undefined {
  if (state.holds[claim.id]) return undefined; // a retry of a claim already taken
  if (claim.node) {
    const holder = state.nodes[claim.node];
    if (holder) return { kind: 'node', node: claim.node, holders: [holderOf(state, holder)] };
  }
  for (const b of claim.budgets) {
    const held = state.places[b.key] ?? [];
    if (held.length >= b.limit)
      return {
        kind: 'budget',
        budget: b.budget,
        scope: b.scope,
        limit: b.limit,
        held: held.length,
        holders: held.slice(0, HOLDERS_SHOWN).map((id) => holderOf(state, id)),
      };
  }
  const bytes = state.bytes + holdBytes(claim.id, holdOf(claim, SAMPLE_TIME));
  const limit = state.maxHoldBytes ?? MAX_HOLD_BYTES;
  if (bytes > limit) {
    const ids = Object.keys(state.holds);
    const holders = ids.slice(0, HOLDERS_SHOWN).map((id) => holderOf(state, id));
    return { kind: 'full', holds: ids.length, bytes: state.bytes, limit, holders };
  }
  return undefined;
}

/** A time with as many digits as the ledger's: the size check measures the hold as it would be stored. */
const SAMPLE_TIME = 1_700_000_000_000;

type HoldFields = Pick<Hold, 'workflow' | 'trigger' | 'node' | 'budgets'>;

/** A hold taken at ledger time `now`. */
function stamped(hold: HoldFields, now: number, holdMaxMs: number): Hold {
  return { ...hold, at: now, until: now + holdMaxMs, checkedAt: now };
}

/** The hold a claim becomes at ledger time `now`. */
function holdOf(c: Claim, now: number): Hold {
  const fields: HoldFields = { workflow: c.workflow, trigger: c.trigger, node: c.node, budgets: c.budgets.map((b) => b.key) };
  return stamped(fields, now, c.holdMaxMs);
}

/** Records a hold (check() let it pass, or it is an execution found running when seeding). */
export function take(state: FleetLedgerState, id: string, hold: HoldFields, now: number, holdMaxMs: number): void {
  if (!state.holds[id]) record(state, id, stamped(hold, now, holdMaxMs));
}

export function claim(state: FleetLedgerState, c: Claim, now: number): void {
  if (!state.holds[c.id]) record(state, c.id, holdOf(c, now));
}

/** Ends holds: their executions closed, never started, or were refused after the claim. Returns how many were held. */
export function release(state: FleetLedgerState, ids: readonly string[]): number {
  let n = 0;
  for (const id of ids) {
    const h = state.holds[id];
    if (!h) continue;
    n++;
    delete state.holds[id];
    state.bytes -= holdBytes(id, h);
    if (h.node && state.nodes[h.node] === id) delete state.nodes[h.node];
    for (const key of h.budgets) {
      const kept = (state.places[key] ?? []).filter((x) => x !== id);
      if (kept.length) state.places[key] = kept;
      else delete state.places[key];
    }
  }
  return n;
}

/** Holds past their backstop (hold_max). */
export function expired(state: FleetLedgerState, now: number): string[] {
  return Object.entries(state.holds)
    .filter(([, h]) => h.until <= now)
    .map(([id]) => id);
}

/** A hold whose execution was seen running is looked at again this often (a refusal by it looks at once). */
export const RECHECK_MS = 5 * 60_000;

export interface SweepRequest {
  /** Holds whose execution has not been seen yet: found in visibility by their start time, or orphans past the grace. */
  unseen: Array<{ id: string; at: number; workflow: string }>;
  /** Holds seen running before: described again. */
  seen: string[];
  now: number;
  orphanGraceMs: number;
}

/** What the sweep should look at now: unseen holds every `sweepMs`, seen ones every RECHECK_MS. */
export function sweepable(state: FleetLedgerState, now: number, sweepMs: number): SweepRequest {
  const unseen: SweepRequest['unseen'] = [];
  const seen: string[] = [];
  for (const [id, h] of Object.entries(state.holds)) {
    if (now - h.checkedAt < (h.seen ? RECHECK_MS : sweepMs)) continue;
    if (h.seen) seen.push(id);
    else unseen.push({ id, at: h.at, workflow: h.workflow });
  }
  return { unseen, seen, now, orphanGraceMs: state.orphanGraceMs };
}

/** Applies what the sweep found: spent holds end, running ones are marked seen. */
export function settle(state: FleetLedgerState, looked: SweepRequest, found: { spent: string[]; running: string[] }): void {
  for (const id of [...looked.seen, ...looked.unseen.map((u) => u.id)]) {
    const h = state.holds[id];
    if (h) h.checkedAt = looked.now;
  }
  for (const id of found.running) {
    const h = state.holds[id];
    if (h) h.seen = true;
  }
  release(state, found.spent);
}

/** The holds' size as carried, against the capacity past which claims are refused. */
export function capacity(state: FleetLedgerState): { bytes: number; capacityBytes: number; holds: number } {
  return { bytes: state.bytes, capacityBytes: state.maxHoldBytes ?? MAX_HOLD_BYTES, holds: Object.keys(state.holds).length };
}
