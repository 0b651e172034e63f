// The fleet ledger's arithmetic: who holds each node and each budget's places, pure and deterministic (it runs in the ledger workflow and in unit tests).
//
// A disruptive execution holds its node (one disruptive remediation per node) and one place in
// each budget that covers it, from its admission until it closes. Every coordinator claims
// through the one fleet ledger, so the checks and the records of all replicas are ordered in one
// place, and a claim with budgets costs what a claim without them does: one update.
//
// With `admission.fleet_constraints`, a disruptive workflow's own constraints are admitted here
// too, in the same claim: the ledger keeps an admission ledger's state per such workflow (its
// windows, concurrency holds and configs in use, ../state.ts), keyed by execution id, so a
// refusal of any kind is one validator's answer and writes nothing. The first such claim or
// announce of a workflow makes the ledger govern it: it reads the workflow's executions from
// visibility (importing), and from then on refuses claims of that workflow that come without
// its constraints (a coordinator still admitting them at the workflow's own ledger).
import * as ledger from '../state';

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
  /** The workflow's own constraints, admitted with the node and budgets (coordinators with `fleet_constraints`). */
  admit?: FleetAdmit;
}

/** How the ledger finds the executions of a workflow's constraint admitted before it governed the workflow. */
export interface PlaceSeed {
  key: string;
  kind: 'concurrency' | 'maxExecution';
  periodMs: number;
  scope: 'global' | 'node' | 'datacenter' | 'node_type';
}

export interface FleetAdmit {
  /** The admission ledger's request, without its id: the claim's (the execution id) is used. */
  request: Omit<ledger.AdmitRequest, 'id' | 'running'>;
  places: PlaceSeed[];
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
  | {
      kind: 'budget';
      budget: string;
      scope: string;
      limit: number;
      held: number;
      holders: Holder[];
      /** The workflow's constraints are admitted here now and the claim came without them (shaped as a budget refusal, which every release words). */
      moved?: string;
    }
  /** The workflow's own constraint is full (a claim with `admit`). */
  | { kind: 'constraint'; workflow: string; refusal: ledger.LedgerRefusal }
  /** The ledger is reading the workflow's executions before it governs it: ask again in a moment. */
  | { kind: 'seeding'; workflow: string }
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
  /** Per governed workflow: its constraints' admission state (ids are execution ids). Version 2. */
  workflows?: Record<string, ledger.LedgerState>;
  /** Workflows whose executions are being read before the ledger governs them, with how to find their places. Version 2. */
  importing?: Record<string, PlaceSeed[]>;
}

export interface FleetLedgerState extends FleetLedgerCarried {
  /** Node -> the execution holding it. */
  nodes: Record<string, string>;
  /** Budget key -> executions holding a place, oldest first. */
  places: Record<string, string[]>;
  /** The holds' size as carried (JSON), kept as they come and go. */
  bytes: number;
  /** The governed workflows' states' size as this run started (pruned at each continue-as-new; a run adds little). */
  governedBytes: number;
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
export const FLEET_STATE_VERSION = 2;

/** The state of a run started with `carried` (of this release or an earlier one): nodes, places and the size rebuilt from the holds. */
export function restore(carried: FleetLedgerCarried): FleetLedgerState {
  const version = carried.version ?? 0;
  if (version > FLEET_STATE_VERSION)
    throw new Error(
      `the fleet ledger state is version ${version}, newer than this release's ${FLEET_STATE_VERSION}: upgrade this coordinator`,
    );
  // 0 -> 1: the shape is the same; the version field is new. 1 -> 2: `workflows` and `importing` are new (absent: none).
  const state: FleetLedgerState = {
    ...carried,
    version: FLEET_STATE_VERSION,
    holds: {},
    nodes: {},
    places: {},
    bytes: 0,
    governedBytes: carried.workflows ? JSON.stringify(carried.workflows).length : 0,
  };
  const byAge = Object.entries(carried.holds).sort(([, a], [, b]) => a.at - b.at);
  for (const [id, h] of byAge) record(state, id, h);
  return state;
}

/** What continue-as-new carries. */
export function carry(state: FleetLedgerState, now: number): FleetLedgerCarried {
  const { holds, seeded, orphanGraceMs, maxHoldBytes, workflows, importing } = state;
  for (const sub of Object.values(workflows ?? {})) ledger.prune(sub, now);
  return {
    version: FLEET_STATE_VERSION,
    holds,
    seeded,
    orphanGraceMs,
    ...(maxHoldBytes !== undefined && { maxHoldBytes }),
    ...(workflows && { workflows }),
    ...(importing && { importing }),
  };
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

/** The admission request of a claim with the workflow's constraints: the execution id is the admission's. */
const requestOf = (claim: Claim): ledger.AdmitRequest => ({ ...claim.admit!.request, id: claim.id });

/**
 * Why the claim may not be taken now, or undefined. The workflow's own constraints first (as a
 * coordinator without them checks them before fleet safety), then the node (a busy node fails
 * fast), the budgets, the capacity. Reads only (an update validator).
 */
export function check(state: FleetLedgerState, claim: Claim, now: number): ClaimRefusal | undefined {
  if (state.holds[claim.id]) return undefined; // a retry of a claim already taken
  const governed = state.workflows?.[claim.workflow];
  if (claim.admit) {
    if (!governed) return { kind: 'seeding', workflow: claim.workflow };
    const refusal = ledger.check(governed, requestOf(claim), now);
    if (refusal) return { kind: 'constraint', workflow: claim.workflow, refusal };
  } else if (governed || state.importing?.[claim.workflow]) {
    const budget = `${claim.workflow}'s constraints`;
    return { kind: 'budget', budget, scope: 'global', limit: 0, held: 0, holders: [], moved: claim.workflow };
  }
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
  const bytes = state.bytes + state.governedBytes + holdBytes(claim.id, holdOf(claim, SAMPLE_TIME));
  const limit = state.maxHoldBytes ?? MAX_HOLD_BYTES;
  if (bytes > limit) {
    const ids = Object.keys(state.holds);
    const holders = ids.slice(0, HOLDERS_SHOWN).map((id) => holderOf(state, id));
    return { kind: 'full', holds: ids.length, bytes: state.bytes, limit, holders };
  }
  return undefined;
}

/** A refusal in a few words (the message of a rejected batch; the coordinator words each answer itself). */
export function describeRefusal(r: ClaimRefusal): string {
  switch (r.kind) {
    case 'node':
      return `node ${r.node} is held`;
    case 'budget':
      return `budget ${r.budget} is full`;
    case 'constraint':
      return `${r.refusal.key} is full in ${r.refusal.scope}`;
    case 'seeding':
      return `reading the executions of ${r.workflow}`;
    case 'full':
      return 'the ledger is full';
  }
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

/** Takes a claim check() let pass; with the workflow's constraints, answers their admission. */
export function claim(state: FleetLedgerState, c: Claim, now: number): ledger.AdmitAnswer | undefined {
  if (!state.holds[c.id]) record(state, c.id, holdOf(c, now));
  const governed = state.workflows?.[c.workflow];
  return c.admit && governed ? ledger.admit(governed, requestOf(c), now) : undefined;
}

/** Starts governing a workflow's constraints: its executions are read first (importing). */
export function govern(state: FleetLedgerState, workflow: string, places: PlaceSeed[]): void {
  if (state.workflows?.[workflow] || state.importing?.[workflow]) return;
  (state.importing ??= {})[workflow] = places;
}

/** The workflow's executions as read from visibility: from now on the ledger admits its constraints. */
export function imported(
  state: FleetLedgerState,
  workflow: string,
  found: { windows: Array<{ window: string; at: number; id: string }>; holds: Array<{ window: string; id: string }> },
  now: number,
): void {
  const sub = ledger.emptyState(state.orphanGraceMs);
  ledger.seed(sub, found.windows);
  const holds: NonNullable<ledger.LedgerState['holds']> = {};
  // A running execution holds its places until its fleet hold ends (the sweep sees it close), at the latest at its hold_max.
  for (const h of found.holds) (holds[h.window] ??= []).push([h.id, state.holds[h.id]?.until ?? now + 86_400_000]);
  sub.holds = holds;
  (state.workflows ??= {})[workflow] = sub;
  delete state.importing![workflow];
  if (!Object.keys(state.importing!).length) delete state.importing;
}

/** A coordinator's config of a governed workflow (at start, on reload, every minute); undefined while the ledger does not govern it. */
export function announce(
  state: FleetLedgerState,
  workflow: string,
  constraints: readonly ledger.LedgerConstraint[],
  now: number,
  inUseMs?: number,
): ledger.Enforced[] | undefined {
  const governed = state.workflows?.[workflow];
  return governed && ledger.announce(governed, constraints, now, inUseMs);
}

/**
 * Ends holds: their executions closed (the default: what a claim's refusal found closed, the
 * sweep, hold_max), or never started (`unstarted`: given back after a failed start, or orphans),
 * which also takes back their places in their workflow's windows. Returns how many were held.
 */
export function release(state: FleetLedgerState, ids: readonly string[], unstarted = false): number {
  let n = 0;
  for (const id of ids) {
    const h = state.holds[id];
    // A running execution read by an import may have no hold (it outlived its hold_max): its places end too.
    const governed = h ? [state.workflows?.[h.workflow]] : Object.values(state.workflows ?? {});
    for (const sub of governed)
      if (sub && unstarted) ledger.release(sub, id);
      else if (sub) ledger.endHolds(sub, id);
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

/** What the sweep found: executions running, closed (spent), and (a subset of spent) never started past the grace. */
export interface SweepFound {
  spent: string[];
  running: string[];
  /** Absent from sweeps of releases before `fleet_constraints`: orphans were then only spent. */
  orphans?: string[];
}

/** Applies what the sweep found: spent holds end (orphans' window places too), running ones are marked seen. */
export function settle(state: FleetLedgerState, looked: SweepRequest, found: SweepFound): void {
  for (const id of [...looked.seen, ...looked.unseen.map((u) => u.id)]) {
    const h = state.holds[id];
    if (h) h.checkedAt = looked.now;
  }
  for (const id of found.running) {
    const h = state.holds[id];
    if (!h) continue;
    h.seen = true;
    const governed = state.workflows?.[h.workflow];
    if (governed) delete governed.unconfirmed[id];
  }
  const orphans = new Set(found.orphans ?? []);
  release(
    state,
    found.spent.filter((id) => !orphans.has(id)),
  );
  release(state, [...orphans], true);
}

/** The holds' size as carried, against the capacity past which claims are refused. */
export function capacity(state: FleetLedgerState): { bytes: number; capacityBytes: number; holds: number } {
  const governed = state.workflows ? JSON.stringify(state.workflows).length : 0;
  return {
    bytes: state.bytes + governed,
    capacityBytes: state.maxHoldBytes ?? MAX_HOLD_BYTES,
    holds: Object.keys(state.holds).length,
  };
}
