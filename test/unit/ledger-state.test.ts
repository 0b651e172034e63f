// The admission ledger's arithmetic: windows in ledger time, the strictest config in use, high water, dedupe, orphans, pruning.
import * as fc from 'fast-check';
import { emptyState as empty, restore as restoreState, LEDGER_STATE_VERSION as V } from '../../src/ledger/state';
import {
  admit,
  announce,
  check,
  emptyState,
  enforced,
  HIGH_WATER_MS,
  IN_USE_MS,
  ORPHAN_GRACE_MS,
  prune,
  PRUNE_BYTES,
  release,
  seed,
  settle,
  sweepable,
  windowKey,
  type AdmitRequest,
  type LedgerConstraint,
  type LedgerState,
} from '../../src/ledger/state';

const HOUR = 3_600_000;
const max = (value: number, periodMs = HOUR): LedgerConstraint => ({
  key: 'maxExecution.0',
  kind: 'maxExecution',
  value,
  periodMs,
});
const conc = (value: number): LedgerConstraint => ({ key: 'concurrency.0', kind: 'concurrency', value, periodMs: HOUR });

let n = 0;
function req(constraints: LedgerConstraint[], scope = 'node=n1'): AdmitRequest {
  return {
    id: `adm-${++n}`,
    constraints,
    scopes: Object.fromEntries(constraints.map((c) => [c.key, scope])),
    where: {},
  };
}

function seeded(): LedgerState {
  const s = emptyState();
  seed(s, []);
  return s;
}

/** Admits if check() lets it pass, as the workflow's validator and handler do. */
function tryAdmit(s: LedgerState, r: AdmitRequest, now: number): boolean {
  if (check(s, r, now)) return false;
  admit(s, r, now);
  return true;
}

describe('admission ledger state', () => {
  describe('concurrency holds (a mirror of the slots)', () => {
    const held = (r: AdmitRequest, running?: string[]): AdmitRequest => ({
      ...r,
      hold: { keys: ['concurrency.0'], forMs: HOUR },
      ...(running && { running: { 'concurrency.0': running } }),
    });

    test('a full scope is refused by its holders; another scope and a request without a hold are not', () => {
      const s = seeded();
      const first = held(req([conc(1), max(5)]));
      expect(tryAdmit(s, first, 1_000)).toBe(true);
      const refusal = check(s, held(req([conc(1), max(5)])), 2_000);
      expect(refusal).toEqual({
        kind: 'concurrency',
        holders: [first.id],
        key: 'concurrency.0',
        scope: 'node=n1',
        value: 1,
        periodMs: HOUR,
        count: 1,
        retryAt: 1_000 + HOUR,
        now: 2_000,
        settled: false,
      });
      expect(check(s, held(req([conc(1), max(5)], 'node=n2')), 2_000)).toBeUndefined();
      // A v0.1.0 coordinator's request holds nothing and is not refused by holds: its slots decide.
      expect(check(s, req([conc(1), max(5)]), 2_000)).toBeUndefined();
    });

    test('holders the coordinator did not find running are spent: the admission takes their place, once', () => {
      const s = seeded();
      const first = held(req([conc(2), max(9)]));
      const second = held(req([conc(2), max(9)]));
      tryAdmit(s, first, 1_000);
      tryAdmit(s, second, 1_100);
      expect(check(s, held(req([conc(2), max(9)])), 1_200)?.count).toBe(2);
      // first's execution closed: only second runs.
      const third = held(req([conc(2), max(9)]), [second.id]);
      expect(tryAdmit(s, third, 1_300)).toBe(true);
      expect(s.holds![windowKey('concurrency.0', 'node=n1')]!.map(([id]) => id)).toEqual([second.id, third.id]);
      expect(check(s, held(req([conc(2), max(9)])), 1_400)?.holders).toEqual([second.id, third.id]);
      // Its maxExecution place is taken as usual.
      expect(s.windows[windowKey('maxExecution.0', 'node=n1')]!.length).toBe(3);
    });

    test('a hold ends when given back and at its end; pruning drops the ended', () => {
      const s = seeded();
      const first = held(req([conc(1), max(5)]));
      tryAdmit(s, first, 1_000);
      expect(release(s, first.id)).toBe(true);
      expect(check(s, held(req([conc(1), max(5)])), 2_000)).toBeUndefined();
      const second = held(req([conc(1), max(5)]));
      tryAdmit(s, second, 3_000);
      expect(check(s, held(req([conc(1), max(5)])), 3_000 + HOUR + 1)).toBeUndefined();
      prune(s, 3_000 + HOUR + 1);
      expect(s.holds).toEqual({});
    });

    test('every concurrency constraint is held in its own scope; a running list speaks for its constraint only', () => {
      const s = seeded();
      const perNode = conc(2);
      const global: LedgerConstraint = { key: 'concurrency.1', kind: 'concurrency', value: 1, periodMs: HOUR };
      const both = (node: string, running?: Record<string, string[]>): AdmitRequest => ({
        ...req([perNode, global]),
        scopes: { 'concurrency.0': node, 'concurrency.1': 'global' },
        hold: { keys: ['concurrency.0', 'concurrency.1'], forMs: HOUR },
        ...(running && { running }),
      });
      const first = both('node=n1');
      expect(tryAdmit(s, first, 1_000)).toBe(true);
      // Another node has room in its own scope, but the global place is held.
      expect(check(s, both('node=n2'), 2_000)).toMatchObject({ kind: 'concurrency', key: 'concurrency.1', holders: [first.id] });
      // The first's execution closed (no lease of the global constraint runs): the place is taken over.
      const second = both('node=n2', { 'concurrency.1': [] });
      expect(tryAdmit(s, second, 3_000)).toBe(true);
      expect(s.holds![windowKey('concurrency.1', 'global')]!.map(([id]) => id)).toEqual([second.id]);
      // The per-node holds were not touched by the global running list.
      expect(s.holds![windowKey('concurrency.0', 'node=n1')]!.map(([id]) => id)).toEqual([first.id]);
      expect(s.holds![windowKey('concurrency.0', 'node=n2')]!.map(([id]) => id)).toEqual([second.id]);
    });

    test('a lowered value in use is enforced on the holds at once', () => {
      const s = seeded();
      tryAdmit(s, held(req([conc(3), max(9)])), 1_000);
      tryAdmit(s, held(req([conc(3), max(9)])), 1_100);
      announce(s, [conc(1), max(9)], 1_200);
      expect(check(s, held(req([conc(3), max(9)])), 1_300)).toMatchObject({ kind: 'concurrency', value: 1, count: 2 });
    });
  });

  test('a maxExecution window admits value per period and says when it has room again', () => {
    const s = seeded();
    expect(tryAdmit(s, req([max(2)]), 1_000)).toBe(true);
    expect(tryAdmit(s, req([max(2)]), 2_000)).toBe(true);
    const refusal = check(s, req([max(2)]), 3_000);
    expect(refusal).toMatchObject({ key: 'maxExecution.0', scope: 'node=n1', value: 2, count: 2, retryAt: 1_000 + HOUR });
    // Another scope has its own window.
    expect(tryAdmit(s, req([max(2)], 'node=n2'), 3_000)).toBe(true);
    // The oldest leaves the window: one more fits.
    expect(tryAdmit(s, req([max(2)]), 1_000 + HOUR + 1)).toBe(true);
    expect(check(s, req([max(2)]), 1_000 + HOUR + 2)).toBeDefined();
  });

  test('a stricter config in use governs, until it is no longer announced', () => {
    const s = seeded();
    announce(s, [max(1, 2 * HOUR)], 0);
    expect(enforced(s, [max(3)], 10)).toEqual([
      { key: 'maxExecution.0', kind: 'maxExecution', value: 1, periodMs: 2 * HOUR, highWater: 3 },
    ]);
    expect(tryAdmit(s, req([max(3)]), 10)).toBe(true);
    expect(check(s, req([max(3)]), 20)).toMatchObject({ value: 1, periodMs: 2 * HOUR, count: 1 });
    // Nobody announced the strict config for IN_USE_MS (a reload raised it, or its replica stopped).
    expect(check(s, req([max(3)]), IN_USE_MS + 1)).toBeUndefined();
  });

  test('high water: slots of a higher value admitted under lately still count', () => {
    const s = seeded();
    announce(s, [conc(5)], 0);
    expect(enforced(s, [conc(2)], 10)[0]).toMatchObject({ value: 2, highWater: 5 });
    expect(enforced(s, [conc(2)], HIGH_WATER_MS + 1)[0]).toMatchObject({ value: 2, highWater: 2 });
  });

  test('the same admission id returns the first answer and is recorded once', () => {
    const s = seeded();
    const r = req([max(2)]);
    const first = admit(s, r, 100);
    expect(check(s, r, 200)).toBeUndefined();
    expect(admit(s, r, 200)).toEqual(first);
    expect(s.windows[windowKey('maxExecution.0', 'node=n1')]).toHaveLength(1);
  });

  test('release and the orphan sweep free a place; settled admissions stay', () => {
    const s = seeded();
    const kept = req([max(2)]);
    const orphan = req([max(2)]);
    const given = req([max(2)]);
    admit(s, kept, 0);
    admit(s, orphan, 1);
    expect(check(s, given, 2)).toMatchObject({ settled: false });
    expect(sweepable(s, ORPHAN_GRACE_MS)).toEqual([]);
    expect(sweepable(s, ORPHAN_GRACE_MS + 2).map((a) => a.id)).toEqual([kept.id, orphan.id]);
    settle(s, [kept.id], [orphan.id]);
    expect(s.unconfirmed).toEqual({});
    expect(tryAdmit(s, given, ORPHAN_GRACE_MS + 3)).toBe(true);
    expect(check(s, req([max(2)]), ORPHAN_GRACE_MS + 4)).toMatchObject({ settled: false, count: 2 });
    expect(release(s, given.id)).toBe(true);
    expect(check(s, req([max(2)]), ORPHAN_GRACE_MS + 5)).toBeUndefined();
  });

  test('seeding counts executions admitted before the ledger existed', () => {
    const s = emptyState();
    seed(s, [
      { window: windowKey('maxExecution.0', 'node=n1'), at: 500, id: 'seen:x' },
      { window: windowKey('maxExecution.0', 'node=n1'), at: 100, id: 'seen:y' },
    ]);
    expect(s.seeded).toBe(true);
    expect(check(s, req([max(2)]), 1_000)).toMatchObject({ count: 2, retryAt: 100 + HOUR, settled: true });
  });

  test('pruning keeps every admission a decision can still need', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: HOUR / 4 }), value: fc.integer({ min: 1, max: 4 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 3 * HOUR }),
        (steps, later) => {
          const pruned = seeded();
          const whole = seeded();
          let now = 0;
          for (const { gap, value } of steps) {
            now += gap;
            const r = req([max(value)]);
            const a = check(pruned, r, now);
            const b = check(whole, r, now);
            expect(a === undefined).toBe(b === undefined);
            if (!a) {
              admit(pruned, r, now);
              admit(whole, r, now);
            }
            prune(pruned, now);
          }
          const probe = req([max(steps[steps.length - 1]!.value)]);
          expect(check(pruned, probe, now + later)?.count).toBe(check(whole, probe, now + later)?.count);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ledger pruning keeps the state small without losing a decision', () => {
  it('keeps the newest admissions up to the highest value plus the unconfirmed, and drops confirmed ids', () => {
    const s = emptyState();
    const reqs = Array.from({ length: 6 }, () => req([max(3)]));
    reqs.forEach((r, i) => admit(s, r, 1_000 + i));
    // All but the newest were seen running; the newest is still unconfirmed.
    settle(
      s,
      reqs.slice(0, 5).map((r) => r.id),
      [],
    );
    prune(s, 2_000);
    const w = s.windows[windowKey('maxExecution.0', 'node=n1')]!;
    expect(w).toEqual([
      [1_002, ''],
      [1_003, ''],
      [1_004, ''],
      [1_005, reqs[5]!.id],
    ]);
    // The unconfirmed one turns out an orphan: three confirmed still fill the window.
    settle(s, [], [reqs[5]!.id]);
    expect(check(s, req([max(3)]), 2_000)).toMatchObject({ count: 3, value: 3 });
    expect(release(s, '')).toBe(false);
    expect(s.windows[windowKey('maxExecution.0', 'node=n1')]).toHaveLength(3);
  });

  it('past PRUNE_BYTES keeps confirmed admissions for the longest period in use only, so the next run always fits', () => {
    // A fleet-wide disk event: cleanDisk (3 per node per hour) admitted once on each of 40,000
    // nodes over two days. Kept for the week-long horizon that is ~2.4 MB, over Temporal's 2 MiB
    // payload limit: the ledger could not continue-as-new.
    const s = seeded();
    const start = 1_764_900_000_000;
    const nodes = 40_000;
    const reqs = Array.from({ length: nodes }, (_, i) => req([max(3)], `node=host-${i}.ams1.example.net`));
    reqs.forEach((r, i) => admit(s, r, start + Math.floor((i * 48 * HOUR) / nodes)));
    settle(
      s,
      reqs.map((r) => r.id),
      [],
    );
    const now = start + 48 * HOUR;
    prune(s, now);
    expect(JSON.stringify(s).length).toBeLessThan(PRUNE_BYTES);
    // Every decision within the period in use is the same: the last hour's nodes are still counted.
    const recent = reqs[nodes - 1]!;
    const w = s.windows[windowKey('maxExecution.0', recent.scopes['maxExecution.0']!)];
    expect(w).toHaveLength(1);
    expect(s.windows[windowKey('maxExecution.0', reqs[0]!.scopes['maxExecution.0']!)]).toBeUndefined();
    // A small ledger keeps the whole horizon (a raised period still finds the older starts).
    const small = seeded();
    const one = req([max(3)]);
    admit(small, one, start);
    settle(small, [one.id], []);
    prune(small, now);
    expect(small.windows[windowKey('maxExecution.0', 'node=n1')]).toHaveLength(1);
  });
});

describe('the carried state across releases', () => {
  it('migrates a state of the release before versions (no version field) to this version, unchanged otherwise', () => {
    const { version: _, ...old } = {
      ...empty(),
      windows: { 'maxExecution.0|node=a': [[5, 'x']] as Array<[number, string]> },
      seeded: true,
    };
    const next = restoreState(old);
    expect(next.version).toBe(V);
    expect(next.windows).toEqual({ 'maxExecution.0|node=a': [[5, 'x']] });
  });
  it('refuses a state of a newer release (its workflow task fails until a newer coordinator takes it)', () => {
    expect(() => restoreState({ ...empty(), version: V + 1 })).toThrow(`version ${V + 1}, newer than this release's ${V}`);
  });
});
