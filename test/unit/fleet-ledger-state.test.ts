// The fleet ledger's arithmetic: one holder per node, budgets never above their limit, releases, retries, hold_max.
import * as fc from 'fast-check';
import { restore as restoreFleet, FLEET_STATE_VERSION as V } from '../../src/ledger/fleet/state';
import {
  capacity,
  carry,
  check,
  claim,
  emptyFleetState,
  expired,
  govern,
  imported,
  HOLDERS_SHOWN,
  MAX_HOLD_BYTES,
  RECHECK_MS,
  release,
  restore,
  settle,
  sweepable,
  take,
  type Claim,
} from '../../src/ledger/fleet/state';

const HOUR = 3_600_000;
let n = 0;
function c(node: string | undefined, budgets: Array<[string, number]> = [], id = `wf-${++n}`): Claim {
  return {
    id,
    workflow: 'reboot',
    trigger: 'spiffe://t/x',
    ...(node ? { node } : {}),
    budgets: budgets.map(([key, limit]) => ({ key, budget: key.split('|')[0]!, scope: key.split('|')[1]!, limit })),
    holdMaxMs: HOUR,
  };
}

describe('fleet ledger state', () => {
  it('lets one claim hold a node and names it to the next', () => {
    const s = emptyFleetState();
    const first = c('n1');
    expect(check(s, first, 0)).toBeUndefined();
    claim(s, first, 1_000);
    const r = check(s, c('n1'), 0);
    expect(r).toEqual({
      kind: 'node',
      node: 'n1',
      holders: [{ execution: first.id, workflow: 'reboot', trigger: 'spiffe://t/x', since: new Date(1_000).toISOString() }],
    });
    expect(check(s, c('n2'), 0)).toBeUndefined();
    // A retry of the claim that holds it passes (a reply lost on the wire).
    expect(check(s, first, 0)).toBeUndefined();
  });

  it('fills a budget to its limit, names every holder, and frees a place on release', () => {
    const s = emptyFleetState();
    const a = c('a', [['dc|dc1', 2]]);
    const b = c('b', [['dc|dc1', 2]]);
    claim(s, a, 0);
    claim(s, b, 0);
    const r = check(s, c('x', [['dc|dc1', 2]]), 0);
    expect(r).toMatchObject({ kind: 'budget', budget: 'dc', scope: 'dc1', limit: 2, held: 2 });
    expect(r!.kind === 'budget' && r!.holders.map((h) => h.execution)).toEqual([a.id, b.id]);
    // Another scope of the same budget, and a higher limit (a percentage of a larger fleet), pass.
    expect(check(s, c('y', [['dc|dc2', 2]]), 0)).toBeUndefined();
    expect(check(s, c('y', [['dc|dc1', 3]]), 0)).toBeUndefined();
    expect(release(s, [a.id, 'unknown'])).toBe(1);
    expect(check(s, c('x', [['dc|dc1', 2]]), 0)).toBeUndefined();
    expect(check(s, c('a'), 0)).toBeUndefined();
  });

  it('ends holds at hold_max', () => {
    const s = emptyFleetState();
    const a = c('a');
    claim(s, a, 0);
    expect(expired(s, HOUR - 1)).toEqual([]);
    expect(expired(s, HOUR)).toEqual([a.id]);
  });

  it('never lets a node have two holders or a budget more than its limit, whatever the order of claims and releases', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('claim' as const),
        node: fc.constantFrom('a', 'b', 'c', undefined),
        dc: fc.constantFrom('dc1', 'dc2'),
        limit: fc.integer({ min: 1, max: 3 }),
      }),
      fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const s = emptyFleetState();
        const live: Array<{ id: string; node?: string; dc: string }> = [];
        for (const o of ops) {
          if (o.kind === 'release') {
            if (!live.length) continue;
            const [gone] = live.splice(o.pick % live.length, 1);
            release(s, [gone!.id]);
            continue;
          }
          const cl = c(o.node, [
            [`dc|${o.dc}`, o.limit],
            ['all|global', 4],
          ]);
          const refusal = check(s, cl, 0);
          const nodeBusy = o.node !== undefined && live.some((l) => l.node === o.node);
          const dcFull = live.filter((l) => l.dc === o.dc).length >= o.limit;
          expect(refusal !== undefined).toBe(nodeBusy || dcFull || live.length >= 4);
          if (!refusal) {
            claim(s, cl, 0);
            live.push({ id: cl.id, node: o.node, dc: o.dc });
          }
        }
        expect(Object.keys(s.holds).sort()).toEqual(live.map((l) => l.id).sort());
      }),
      { numRuns: 200 },
    );
  });
});

describe('fleet ledger size', () => {
  // Temporal refuses a continue-as-new input over 2 MiB by default: a ledger that cannot start
  // its next run refuses every claim until someone terminates it (bench:trigger hit it at ~4000 holds).
  const TEMPORAL_PAYLOAD_LIMIT = 2 * 1024 * 1024;
  const long = (prefix: string, n: number): string => prefix + 'x'.repeat(n - prefix.length);

  it('refuses claims once the holds would pass MAX_HOLD_BYTES, so the carried state always fits in one payload', () => {
    const s = emptyFleetState();
    const budgets: Array<[string, number]> = [
      [long('datacenter|', 64), 1e9],
      [long('node_type|', 64), 1e9],
      ['fleet|global', 1e9],
    ];
    let taken = 0;
    for (;;) {
      // The longest names the API accepts: a 253-character node, long ids and identities.
      const cl = {
        ...c(long(`node-${taken}-`, 253), budgets, long(`rebootNode:key-${taken}-`, 120)),
        trigger: long('spiffe://', 200),
      };
      const r = check(s, cl, 0);
      if (r) {
        expect(r).toMatchObject({ kind: 'full', holds: taken, limit: MAX_HOLD_BYTES });
        break;
      }
      claim(s, cl, 1_764_900_000_000 + taken);
      taken++;
    }
    expect(taken).toBeGreaterThan(1500);
    const carried = JSON.stringify(carry(s, 0));
    expect(carried.length).toBeLessThanOrEqual(MAX_HOLD_BYTES + 1024);
    expect(carried.length).toBeLessThan(TEMPORAL_PAYLOAD_LIMIT * 0.8);
    // A node held already is refused as held, not as full; a release makes room again.
    expect(release(s, [Object.keys(s.holds)[0]!])).toBe(1);
    expect(check(s, c('fresh', budgets), 0)).toBeUndefined();
  });

  it('with short names holds thousands, and the size it keeps matches what it carries', () => {
    const s = emptyFleetState();
    for (let i = 0; i < 4000; i++)
      claim(
        s,
        c(`host-${i}.ams1`, [
          [`dc|ams1`, 1e9],
          [`type|web`, 1e9],
          ['all|global', 1e9],
        ]),
        1_764_900_000_000 + i,
      );
    const ids = Object.keys(s.holds);
    settle(s, sweepable(s, 1_764_900_000_000 + 120_000, 30_000), { spent: ids.slice(0, 1000), running: ids.slice(1000) });
    expect(check(s, c('another', [['dc|ams1', 1e9]]), 0)).toBeUndefined();
    const size = JSON.stringify(carry(s, 0).holds).length;
    expect(Math.abs(s.bytes - size) / size).toBeLessThan(0.05);
  });

  it('carries the holds only, and the next run rebuilds nodes and budget places in claim order', () => {
    const s = emptyFleetState(5_000);
    const a = c('a', [['dc|dc1', 2]]);
    const b = c('b', [['dc|dc1', 2]]);
    claim(s, b, 20);
    claim(s, a, 10);
    take(s, 'seeded', { workflow: 'reboot', trigger: 't', node: 'z', budgets: [] }, 5, HOUR);
    const carried = JSON.parse(JSON.stringify(carry(s, 0)));
    expect(Object.keys(carried).sort()).toEqual(['holds', 'orphanGraceMs', 'seeded', 'version']);
    const next = restore(carried);
    expect(next.nodes).toEqual(s.nodes);
    expect(next.places['dc|dc1']).toEqual([a.id, b.id]);
    expect(next.bytes).toBe(s.bytes);
    expect(next.orphanGraceMs).toBe(5_000);
    expect(check(next, c('a'), 0)).toMatchObject({ kind: 'node', node: 'a' });
  });

  it('names the oldest HOLDERS_SHOWN holders of a full budget and counts them all', () => {
    const s = emptyFleetState();
    const first = c('n0', [['all|global', 50]]);
    claim(s, first, 0);
    for (let i = 1; i < 50; i++) claim(s, c(`n${i}`, [['all|global', 50]]), i);
    const r = check(s, c('late', [['all|global', 50]]), 0);
    expect(r).toMatchObject({ kind: 'budget', held: 50 });
    expect(r!.kind === 'budget' && r!.holders.length).toBe(HOLDERS_SHOWN);
    expect(r!.kind === 'budget' && r!.holders[0]!.execution).toBe(first.id);
  });
});

describe('fleet ledger sweep', () => {
  it('looks at new holds every sweep and at seen ones every RECHECK_MS; ends what it found spent', () => {
    const s = emptyFleetState(3_000);
    const a = c('a');
    const b = c('b');
    claim(s, a, 0);
    claim(s, b, 0);
    expect(sweepable(s, 1_000, 3_000)).toMatchObject({ unseen: [], seen: [] });
    const due = sweepable(s, 3_000, 3_000);
    expect(due.unseen.map((u) => u.id)).toEqual([a.id, b.id]);
    settle(s, due, { spent: [b.id], running: [a.id] });
    expect(Object.keys(s.holds)).toEqual([a.id]);
    expect(sweepable(s, 6_000, 3_000)).toMatchObject({ unseen: [], seen: [] });
    expect(sweepable(s, 3_000 + RECHECK_MS, 3_000).seen).toEqual([a.id]);
  });
});

describe('the carried fleet state across releases', () => {
  it('migrates holds carried by the release before versions, and refuses a newer state', () => {
    const hold = { workflow: 'w', trigger: 't', node: 'n', budgets: ['b|x'], at: 1, until: 2, checkedAt: 1 };
    const next = restoreFleet({ holds: { e: hold }, seeded: true, orphanGraceMs: 1 });
    expect([next.version, next.nodes, next.places]).toEqual([V, { n: 'e' }, { 'b|x': ['e'] }]);
    expect(() => restoreFleet({ holds: {}, seeded: true, orphanGraceMs: 1, version: V + 1 })).toThrow(`version ${V + 1}`);
  });
});

describe('fleet ledger state: a disruptive workflow with its own constraints (fleet_constraints)', () => {
  const MIN = 60_000;
  /** `reboot` with maxExecution 2/1h global and concurrency 1 per datacenter, claimed in `dc`. */
  function withAdmit(node: string, dc = 'dc1', id = `wf-${++n}`): Claim {
    return {
      ...c(node, [], id),
      admit: {
        request: {
          constraints: [
            { key: 'maxExecution#0', kind: 'maxExecution', value: 2, periodMs: HOUR },
            { key: 'concurrency#1', kind: 'concurrency', value: 1, periodMs: 15 * MIN },
          ],
          scopes: { 'maxExecution#0': 'global', 'concurrency#1': `datacenter=${dc}` },
          where: { execution: id },
          hold: { keys: ['concurrency#1'], forMs: HOUR },
        },
        places: [
          { key: 'maxExecution#0', kind: 'maxExecution', periodMs: HOUR, scope: 'global' },
          { key: 'concurrency#1', kind: 'concurrency', periodMs: 15 * MIN, scope: 'datacenter' },
        ],
      },
    };
  }
  const governed = (): ReturnType<typeof emptyFleetState> => {
    const s = emptyFleetState();
    const first = withAdmit('n0');
    expect(check(s, first, 0)).toEqual({ kind: 'seeding', workflow: 'reboot' });
    govern(s, 'reboot', first.admit!.places);
    expect(check(s, first, 0)).toEqual({ kind: 'seeding', workflow: 'reboot' });
    imported(s, 'reboot', { windows: [], holds: [] }, 0);
    return s;
  };

  it('admits the constraints with the node in one claim, and refuses a full one without recording anything', () => {
    const s = governed();
    const a = withAdmit('n1', 'dc1');
    expect(check(s, a, 1_000)).toBeUndefined();
    expect(claim(s, a, 1_000)).toMatchObject({ at: 1_000 });
    // The datacenter's concurrency place is held: a claim on another node there is refused by it.
    const before = JSON.stringify(s);
    expect(check(s, withAdmit('n2', 'dc1'), 2_000)).toMatchObject({
      kind: 'constraint',
      refusal: { kind: 'concurrency', key: 'concurrency#1', holders: [a.id] },
    });
    expect(JSON.stringify(s)).toBe(before);
    const b = withAdmit('n3', 'dc2');
    claim(s, b, 2_000);
    // The window (2 per hour, global) is full even in a third datacenter.
    expect(check(s, withAdmit('n4', 'dc3'), 3_000)).toMatchObject({ kind: 'constraint', refusal: { kind: 'maxExecution' } });
  });

  it('keeps a closed execution in its window and frees its hold; a start that never happened frees both', () => {
    const s = governed();
    const a = withAdmit('n1', 'dc1');
    claim(s, a, 1_000);
    const b = withAdmit('n2', 'dc2');
    claim(s, b, 1_000);
    release(s, [a.id]); // closed
    release(s, [b.id], true); // never started (given back)
    // dc1's place is free again; the window counts a (1 of 2), so one more passes and then it is full.
    const d = withAdmit('n3', 'dc1');
    expect(check(s, d, 2_000)).toBeUndefined();
    claim(s, d, 2_000);
    expect(check(s, withAdmit('n4', 'dc2'), 3_000)).toMatchObject({ kind: 'constraint', refusal: { kind: 'maxExecution' } });
  });

  it('the sweep: an orphan leaves its window, a closed execution stays in it', () => {
    const s = governed();
    const a = withAdmit('n1', 'dc1');
    const b = withAdmit('n2', 'dc2');
    claim(s, a, 1_000);
    claim(s, b, 1_000);
    const looked = sweepable(s, 10 * MIN, 30_000);
    settle(s, looked, { spent: [a.id, b.id], running: [], orphans: [b.id] });
    expect(s.workflows!.reboot!.windows['maxExecution#0|global']!.map(([, id]) => id)).toEqual([a.id]);
    expect(s.workflows!.reboot!.holds).toEqual({});
  });

  it('refuses claims without the constraints once it governs (or imports) the workflow, shaped as a budget refusal', () => {
    const s = emptyFleetState();
    expect(check(s, c('n1'), 0)).toBeUndefined();
    govern(s, 'reboot', []);
    expect(check(s, c('n1'), 0)).toMatchObject({ kind: 'budget', moved: 'reboot', holders: [] });
    imported(s, 'reboot', { windows: [], holds: [] }, 0);
    expect(check(s, c('n1'), 0)).toMatchObject({ kind: 'budget', moved: 'reboot' });
  });

  it('counts what it imported: executions in the window and running holders', () => {
    const s = emptyFleetState();
    const running = c('n9', [], 'old-1');
    claim(s, running, 0);
    govern(s, 'reboot', withAdmit('n0').admit!.places);
    imported(
      s,
      'reboot',
      {
        windows: [
          { window: 'maxExecution#0|global', at: 0, id: 'old-1' },
          { window: 'maxExecution#0|global', at: 10, id: 'old-2' },
        ],
        holds: [{ window: 'concurrency#1|datacenter=dc1', id: 'old-1' }],
      },
      100,
    );
    expect(check(s, withAdmit('n1', 'dc2'), 1_000)).toMatchObject({
      kind: 'constraint',
      refusal: { kind: 'maxExecution', count: 2 },
    });
    // The running holder keeps dc1's place until its fleet hold ends.
    expect(s.workflows!.reboot!.holds!['concurrency#1|datacenter=dc1']).toEqual([['old-1', running.holdMaxMs]]);
    release(s, ['old-1']);
    expect(s.workflows!.reboot!.holds).toEqual({});
  });

  it('ends the places of an imported execution that has no hold (it outlived its hold_max) when it is found closed', () => {
    const s = emptyFleetState();
    govern(s, 'reboot', withAdmit('n0').admit!.places);
    imported(s, 'reboot', { windows: [], holds: [{ window: 'concurrency#1|datacenter=dc1', id: 'no-hold' }] }, 100);
    expect(check(s, withAdmit('n1', 'dc1'), 1_000)).toMatchObject({ kind: 'constraint', refusal: { holders: ['no-hold'] } });
    expect(release(s, ['no-hold'])).toBe(0);
    expect(check(s, withAdmit('n1', 'dc1'), 1_000)).toBeUndefined();
  });

  it('counts the governed workflows in its size', () => {
    const s = governed();
    claim(s, withAdmit('n1'), 1_000);
    expect(capacity(s).bytes).toBe(s.bytes + JSON.stringify(s.workflows).length);
    expect(JSON.stringify(s.workflows)).toContain('maxExecution#0|global');
    expect(restore(carry(s, 2_000)).governedBytes).toBe(JSON.stringify(s.workflows).length);
  });

  it('carries the governed workflows to the next run', () => {
    const s = governed();
    claim(s, withAdmit('n1'), 1_000);
    const next = restore(JSON.parse(JSON.stringify(carry(s, 2_000))) as ReturnType<typeof carry>);
    expect(check(s, withAdmit('n2', 'dc1'), 3_000)).toMatchObject({ kind: 'constraint' });
    expect(check(next, withAdmit('n2', 'dc1'), 3_000)).toMatchObject({ kind: 'constraint' });
  });
});
