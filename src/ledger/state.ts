// The admission ledger's arithmetic: pure and deterministic (it runs inside the ledger workflow, and in unit tests).
//
// One ledger per workflow name holds what admission needs to be exact across coordinators:
// - the constraint configs in use (each admission and each announce carries its coordinator's
//   config), so the strictest config in use governs every replica at once, and slots of a
//   higher value that may still run stay counted;
// - the admission times of each maxExecution window, in the ledger's (Temporal's) time;
// - admissions not yet seen as started executions, so one whose coordinator died before
//   starting it frees its place (the orphan sweep) instead of burning it for a period;
// - the admissions holding each of the workflow's concurrency constraints (holds), a mirror of the
//   concurrency slots and leases (Temporal's id policy stays the arbiter), so a full scope is refused in the
//   validator, without writing anything. A coordinator that finds a hold's execution closed
//   says which holders still run when it asks again.

/** A coordinator's constraint, as the ledger knows it: `key` is stable across period and value changes. */
export interface LedgerConstraint {
  key: string;
  kind: 'concurrency' | 'maxExecution';
  value: number;
  periodMs: number;
}

/** What a constraint is enforced as, all configs in use taken into account. */
export interface Enforced {
  key: string;
  kind: 'concurrency' | 'maxExecution';
  /** The lowest value in use. */
  value: number;
  /** The longest period in use. */
  periodMs: number;
  /** The highest value admitted under lately: executions of its slots may still run. */
  highWater: number;
}

/** Where an admission's execution will be, so the orphan sweep can look for it. */
export interface Where {
  /** Its workflow id, when known before the start. */
  execution?: string;
  /** The common prefix of its concurrency slots' ids, when it takes one. */
  slots?: string;
}

export interface AdmitRequest {
  /** The admission's nonce: the update id, the memo of the execution it starts. */
  id: string;
  /** This coordinator's constraints of the workflow. */
  constraints: LedgerConstraint[];
  /** Scope key per constraint key ("datacenter=dc1", "global", ...). */
  scopes: Record<string, string>;
  /** How long this config stays in use after this admission (default IN_USE_MS). */
  inUseMs?: number;
  where: Where;
  /**
   * The concurrency constraints this admission holds a place of, and for how long at most (its
   * execution's timeout). Requests of v0.1.0 have none: they neither hold nor are refused by holds.
   */
  hold?: { keys: string[]; forMs: number };
  /** Per constraint key: the admissions whose executions a coordinator found running in its scope (holds of the others there are spent). */
  running?: Record<string, string[]>;
}

export interface AdmitAnswer {
  /** Ledger time of the admission. */
  at: number;
  enforced: Enforced[];
  /**
   * The ledger's orphan grace (absent from ledgers before this field): an admission whose
   * execution is not found after it may be freed, so the coordinator must start before it passes.
   */
  graceMs?: number;
}

export interface LedgerRefusal {
  /** What is full: a maxExecution window (absent from v0.1.0 ledgers) or the held concurrency places. */
  kind?: 'maxExecution' | 'concurrency';
  /** The admissions holding the places (concurrency). */
  holders?: string[];
  key: string;
  scope: string;
  /** The enforced constraint. */
  value: number;
  periodMs: number;
  /** Admissions in the window. */
  count: number;
  /** Ledger time when the window has room again. */
  retryAt: number;
  /** Ledger time of the refusal. */
  now: number;
  /** Whether every counted admission is settled (its execution seen by the orphan sweep). Coordinators of v0.1.0 remembered such a refusal until retryAt; later ones ask again after their refusal cache (a given-back place frees sooner). */
  settled: boolean;
}

export interface LedgerState {
  /** The shape of this state (LEDGER_STATE_VERSION); a run started with an older one migrates it (restore). */
  version: number;
  /**
   * Per config (its JSON): its constraints, when a coordinator last admitted or announced with
   * it, and how long it stays in use after that (the announcing coordinator's pace).
   */
  configs: Record<string, { constraints: LedgerConstraint[]; seenAt: number; inUseMs: number }>;
  /** Per constraint key: value -> when last in use (high water). */
  values: Record<string, Record<string, number>>;
  /** `${key}|${scope}` -> [admission time, admission id], oldest first. */
  windows: Record<string, Array<[number, string]>>;
  /** Admissions whose execution has not been seen yet. */
  unconfirmed: Record<string, { at: number; where: Where }>;
  /**
   * When each admission was answered, for a retry after a lost reply (also across
   * continue-as-new): the retry gets the same time and the constraints as enforced at the retry.
   */
  answers: Record<string, number>;
  /** Whether the windows were filled from visibility when this ledger was first started. */
  seeded: boolean;
  /** `${key}|${scope}` -> [admission id, ledger time its hold ends at the latest]: the concurrency places held. Absent in v0.1.0 state. */
  holds?: Record<string, Array<[string, number]>>;
  /** An admission whose execution is not seen after this was abandoned by its coordinator. */
  orphanGraceMs: number;
}

/** By default a coordinator's config is in use while it announced or admitted within this (they announce every minute). */
export const IN_USE_MS = 150_000;
/** A value admitted under within this may still have executions running in its slots. */
export const HIGH_WATER_MS = 24 * 3_600_000;
/** Admissions are kept this long, so a period raised up to it still finds them. */
export const HORIZON_MS = 7 * 24 * 3_600_000;
/** Answers are kept this long for retries of a lost reply (a coordinator retries within its call deadlines). */
export const ANSWER_MS = 5 * 60_000;
/** An admission whose execution is not seen after this was abandoned by its coordinator (far beyond visibility's lag). */
export const ORPHAN_GRACE_MS = 60_000;

/** The shape of the state carried to the next run. Raise it with every change of shape, and migrate in restore(). */
export const LEDGER_STATE_VERSION = 1;

export function emptyState(orphanGraceMs = ORPHAN_GRACE_MS): LedgerState {
  return {
    version: LEDGER_STATE_VERSION,
    configs: {},
    values: {},
    windows: {},
    unconfirmed: {},
    answers: {},
    seeded: false,
    orphanGraceMs,
  };
}

/** A state as an earlier release carried it: version 0 had no version field. */
export type CarriedLedgerState = Omit<LedgerState, 'version'> & { version?: number };

/** The state a run starts with, from what the previous run carried (of this release or an earlier one). */
export function restore(carried: CarriedLedgerState): LedgerState {
  const version = carried.version ?? 0;
  if (version > LEDGER_STATE_VERSION)
    throw new Error(
      `the ledger state is version ${version}, newer than this release's ${LEDGER_STATE_VERSION}: upgrade this coordinator`,
    );
  // 0 -> 1: the shape is the same; the version field is new.
  return { ...carried, version: LEDGER_STATE_VERSION };
}

export const windowKey = (key: string, scope: string): string => `${key}|${scope}`;

/**
 * The constraints as enforced for a coordinator with `own`, given every config in use: another
 * replica's, and this one's before a reload (a raise takes effect once the old config is no
 * longer announced anywhere, once per minute).
 */
export function enforced(state: LedgerState, own: readonly LedgerConstraint[], now: number): Enforced[] {
  return own.map((c) => {
    let value = c.value;
    let periodMs = c.periodMs;
    let highWater = c.value;
    for (const other of Object.values(state.configs)) {
      if (now - other.seenAt > other.inUseMs) continue;
      const o = other.constraints.find((x) => x.key === c.key && x.kind === c.kind);
      if (!o) continue;
      value = Math.min(value, o.value);
      periodMs = Math.max(periodMs, o.periodMs);
    }
    for (const [v, at] of Object.entries(state.values[c.key] ?? {}))
      if (now - at <= HIGH_WATER_MS) highWater = Math.max(highWater, Number(v));
    return { key: c.key, kind: c.kind, value, periodMs, highWater };
  });
}

/** The admissions of a window within `periodMs` of `now`, oldest first. */
function inWindow(state: LedgerState, window: string, periodMs: number, now: number): Array<[number, string]> {
  return (state.windows[window] ?? []).filter(([at]) => at > now - periodMs);
}

/** The holds of a window that still hold: not past their end, and (when the request says which run) running. */
function liveHolds(state: LedgerState, window: string, now: number, running?: readonly string[]): Array<[string, number]> {
  return (state.holds?.[window] ?? []).filter(([id, until]) => until > now && (!running || running.includes(id)));
}

/** Why the request may not be admitted now, or undefined when it may. Reads only (an update validator). */
export function check(state: LedgerState, req: AdmitRequest, now: number): LedgerRefusal | undefined {
  if (state.answers[req.id] !== undefined) return undefined;
  for (const e of enforced(state, req.constraints, now)) {
    const scope = req.scopes[e.key] ?? 'global';
    if (e.kind === 'concurrency') {
      if (!req.hold?.keys.includes(e.key)) continue;
      const held = liveHolds(state, windowKey(e.key, scope), now, req.running?.[e.key]);
      if (held.length < e.value) continue;
      return {
        kind: 'concurrency',
        holders: held.map(([id]) => id),
        key: e.key,
        scope,
        value: e.value,
        periodMs: e.periodMs,
        count: held.length,
        retryAt: Math.min(...held.map(([, until]) => until)),
        now,
        settled: false,
      };
    }
    const counted = inWindow(state, windowKey(e.key, scope), e.periodMs, now);
    if (counted.length < e.value) continue;
    const leaving = counted[counted.length - e.value]!;
    return {
      kind: 'maxExecution',
      key: e.key,
      scope,
      value: e.value,
      periodMs: e.periodMs,
      count: counted.length,
      retryAt: leaving[0] + e.periodMs,
      now,
      settled: counted.every(([, id]) => !state.unconfirmed[id]),
    };
  }
  return undefined;
}

function noteConfig(state: LedgerState, constraints: readonly LedgerConstraint[], now: number, inUseMs = IN_USE_MS): void {
  state.configs[JSON.stringify(constraints)] = { constraints: [...constraints], seenAt: now, inUseMs };
  for (const c of constraints) (state.values[c.key] ??= {})[String(c.value)] = now;
}

/** Records an admission that check() let pass; the same id again returns the first answer. */
export function admit(state: LedgerState, req: AdmitRequest, now: number): AdmitAnswer {
  const earlier = state.answers[req.id];
  const graceMs = state.orphanGraceMs;
  if (earlier !== undefined) return { at: earlier, enforced: enforced(state, req.constraints, now), graceMs };
  const answer: AdmitAnswer = { at: now, enforced: enforced(state, req.constraints, now), graceMs };
  noteConfig(state, req.constraints, now, req.inUseMs);
  for (const e of answer.enforced) {
    const window = windowKey(e.key, req.scopes[e.key] ?? 'global');
    if (e.kind === 'maxExecution') (state.windows[window] ??= []).push([now, req.id]);
    else if (req.hold?.keys.includes(e.key)) {
      // The holds the coordinator found spent (their executions closed) end here.
      const holds = (state.holds ??= {});
      holds[window] = [...liveHolds(state, window, now, req.running?.[e.key]), [req.id, now + req.hold.forMs]];
    }
  }
  if (answer.enforced.some((e) => e.kind === 'maxExecution')) state.unconfirmed[req.id] = { at: now, where: req.where };
  state.answers[req.id] = now;
  return answer;
}

/** A coordinator says which config it uses (at start, on reload, every minute while it runs). */
export function announce(
  state: LedgerState,
  constraints: readonly LedgerConstraint[],
  now: number,
  inUseMs = IN_USE_MS,
): Enforced[] {
  noteConfig(state, constraints, now, inUseMs);
  return enforced(state, constraints, now);
}

/** Removes an admission whose execution was not started (it was refused later, or is an orphan). */
export function release(state: LedgerState, id: string): boolean {
  if (!id) return false; // confirmed admissions lose their id at pruning: nothing releases them
  let found = false;
  for (const [w, entries] of Object.entries(state.windows)) {
    const kept = entries.filter(([, e]) => e !== id);
    if (kept.length !== entries.length) found = true;
    if (kept.length) state.windows[w] = kept;
    else delete state.windows[w];
  }
  delete state.unconfirmed[id];
  for (const [w, held] of Object.entries(state.holds ?? {})) {
    const kept = held.filter(([h]) => h !== id);
    if (kept.length !== held.length) found = true;
    if (kept.length) state.holds![w] = kept;
    else delete state.holds![w];
  }
  return found;
}

/** Ends an admission's concurrency holds and settles it (its execution ran and closed); its window entries stay until their period passes. */
export function endHolds(state: LedgerState, id: string): void {
  delete state.unconfirmed[id];
  for (const [w, held] of Object.entries(state.holds ?? {})) {
    const kept = held.filter(([h]) => h !== id);
    if (kept.length) state.holds![w] = kept;
    else delete state.holds![w];
  }
}

/** Admissions old enough for the orphan sweep to judge, oldest first. */
export function sweepable(state: LedgerState, now: number): Array<{ id: string; at: number; where: Where }> {
  return Object.entries(state.unconfirmed)
    .filter(([, u]) => now - u.at > state.orphanGraceMs)
    .map(([id, u]) => ({ id, ...u }))
    .sort((a, b) => a.at - b.at);
}

/** Applies the sweep's findings: seen executions are settled, the others removed. */
export function settle(state: LedgerState, seen: readonly string[], orphans: readonly string[]): void {
  for (const id of seen) delete state.unconfirmed[id];
  for (const id of orphans) release(state, id);
}

/** Fills the windows from visibility, once, when the ledger is new (executions admitted before it existed). */
export function seed(state: LedgerState, entries: ReadonlyArray<{ window: string; at: number; id: string }>): void {
  for (const e of entries) (state.windows[e.window] ??= []).push([e.at, e.id]);
  for (const list of Object.values(state.windows)) list.sort((a, b) => a[0] - b[0]);
  state.seeded = true;
}

/** Drops what no decision needs any more: old configs, admissions past the horizon, old answers. */
export function prune(state: LedgerState, now: number): void {
  for (const [id, c] of Object.entries(state.configs)) if (now - c.seenAt > HIGH_WATER_MS) delete state.configs[id];
  for (const [key, values] of Object.entries(state.values)) {
    for (const [v, at] of Object.entries(values)) if (now - at > HIGH_WATER_MS) delete values[v];
    if (!Object.keys(values).length) delete state.values[key];
  }
  // A window never needs more than the highest value in use: older admissions cannot decide.
  // Unconfirmed ones come on top (the sweep may remove them, and the older must count then);
  // confirmed ones lose their id (nothing removes them but time), which keeps the state small.
  const keep = (key: string): number => Math.max(1, ...Object.keys(state.values[key] ?? {}).map(Number));
  for (const [w, entries] of Object.entries(state.windows)) {
    const key = w.slice(0, w.indexOf('|'));
    const live = entries.filter(([at]) => now - at <= HORIZON_MS);
    const open = live.filter(([, id]) => state.unconfirmed[id]).length;
    const kept = live.slice(-(keep(key) + open)).map(([at, id]): [number, string] => [at, state.unconfirmed[id] ? id : '']);
    if (kept.length) state.windows[w] = kept;
    else delete state.windows[w];
  }
  for (const [w, held] of Object.entries(state.holds ?? {})) {
    const kept = held.filter(([, until]) => until > now);
    if (kept.length) state.holds![w] = kept;
    else delete state.holds![w];
  }
  for (const [id, at] of Object.entries(state.answers)) if (now - at > ANSWER_MS) delete state.answers[id];
  for (const [id, u] of Object.entries(state.unconfirmed)) if (now - u.at > HORIZON_MS) delete state.unconfirmed[id];
  if (JSON.stringify(state).length > PRUNE_BYTES) pruneToPeriods(state, now);
}

/**
 * The state goes to the next run as one payload (Temporal refuses payloads over 2 MiB by
 * default): past this size, confirmed admissions are kept only for the longest period in use of
 * their constraint instead of HORIZON_MS (a period raised later then counts only what is left).
 */
export const PRUNE_BYTES = 1024 * 1024;

function pruneToPeriods(state: LedgerState, now: number): void {
  const longest = new Map<string, number>();
  for (const c of Object.values(state.configs))
    for (const k of c.constraints) longest.set(k.key, Math.max(longest.get(k.key) ?? 0, k.periodMs));
  for (const [w, entries] of Object.entries(state.windows)) {
    const periodMs = longest.get(w.slice(0, w.indexOf('|')));
    if (periodMs === undefined) continue;
    const kept = entries.filter(([at, id]) => id !== '' || now - at < periodMs);
    if (kept.length) state.windows[w] = kept;
    else delete state.windows[w];
  }
}

/** The state's size as carried, against PRUNE_BYTES (past it, confirmed admissions are kept only for their period). */
export function capacity(state: LedgerState): { bytes: number; capacityBytes: number; holds: number } {
  let holds = 0;
  for (const entries of [...Object.values(state.windows), ...Object.values(state.holds ?? {})]) holds += entries.length;
  return { bytes: JSON.stringify(state).length, capacityBytes: PRUNE_BYTES, holds };
}
