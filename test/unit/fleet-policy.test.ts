// Fleet-safety policy and config as tables: budget limits that fail safe, freeze windows in
// time zones, the circuit breaker's window, pause scopes, stats, and the HCL blocks.
import type { BudgetConfig, FreezeConfig } from '../../src/config/fleet-safety';
import { readFleetSafety, WEEKDAYS } from '../../src/config/fleet-safety';
import { readWorkflow } from '../../src/config/workflow';
import { FleetSize, sumSeries } from '../../src/fleet/fleet-size';
import {
  breakerState,
  budgetLimit,
  budgetScopeValue,
  coveringPauseScopes,
  executionOutcome,
  freezeActive,
  mayForce,
  pauseId,
  type Outcome,
} from '../../src/fleet/policy';
import { computeStats } from '../../src/fleet/stats';
import { decode } from '../helpers/hcl';

const budget = (over: Partial<BudgetConfig>): BudgetConfig => ({ name: 'b', per: 'global', ...over });

describe('budget limits', () => {
  it.each([
    [budget({ max: 3 }), { size: 1000 }, { limit: 3 }],
    [budget({ maxPercent: 10 }), { size: 1000 }, { limit: 100 }],
    [budget({ maxPercent: 10 }), { size: 19 }, { limit: 1 }],
    [budget({ maxPercent: 10 }), { size: 9 }, { limit: 0 }],
    [budget({ maxPercent: 2.5 }), { size: 400 }, { limit: 10 }],
  ])('%j of a fleet %j admits %j', (b, size, expected) => {
    expect(budgetLimit(b, 'global', size)).toEqual(expected);
  });

  it('refuses a percentage of an unknown fleet and says why (fail safe)', () => {
    const r = budgetLimit(budget({ name: 'dc', per: 'datacenter', maxPercent: 5 }), 'dc1', { unknown: 'stale' });
    expect(r).toEqual({ refuse: 'budget "dc" is 5% of datacenter dc1, whose size is unknown: stale' });
  });

  it('a count budget needs no fleet size', () => {
    expect(budgetLimit(budget({ max: 2 }), 'global', { unknown: 'no source' })).toEqual({ limit: 2 });
  });

  it.each([
    ['global', {}, { value: 'global' }],
    ['datacenter', { datacenter: 'dc1' }, { value: 'dc1' }],
    ['node_type', { node_type: 'web' }, { value: 'web' }],
  ] as const)('scopes a %s budget by the target', (per, target, expected) => {
    expect(budgetScopeValue(budget({ per, max: 1 }), target)).toEqual(expected);
  });

  it('refuses when the target lacks the field a budget counts by', () => {
    expect(budgetScopeValue(budget({ per: 'datacenter', max: 1 }), { node: 'n1' })).toEqual({
      refuse: expect.stringContaining('target.datacenter is required'),
    });
  });
});

describe('fleet size', () => {
  const cfg = {
    staticDatacenters: { dc1: 40 },
    staticNodeTypes: {},
    datacenterLabel: 'dc',
    nodeTypeLabel: 'role',
    refreshMs: 1000,
    maxAgeMs: 5000,
  };

  it('sums a count by (dc, role) answer per datacenter and node type', () => {
    const m = sumSeries(
      [
        { labels: { dc: 'a', role: 'web' }, value: '10' },
        { labels: { dc: 'a', role: 'db' }, value: '5' },
        { labels: { dc: 'b', role: 'web' }, value: '7' },
      ],
      'dc',
      'role',
    );
    expect(m.total).toBe(22);
    expect(Object.fromEntries(m.datacenters)).toEqual({ a: 15, b: 7 });
    expect(Object.fromEntries(m.nodeTypes)).toEqual({ web: 17, db: 5 });
  });

  it('static sizes answer what is configured and nothing else', () => {
    const s = new FleetSize({ ...cfg, static: 100 });
    expect(s.reading('global', 'global')).toEqual({ size: 100 });
    expect(s.reading('datacenter', 'dc1')).toEqual({ size: 40 });
    expect(s.reading('datacenter', 'dc2')).toEqual({ unknown: expect.stringContaining('no static size for datacenter dc2') });
  });

  it('a measured size is unknown before the first answer and once older than max_age', async () => {
    let now = 1_000_000;
    const body = { status: 'success', data: { resultType: 'vector', result: [{ metric: { dc: 'a' }, value: [0, '10'] }] } };
    const server = await import('node:http').then(
      (http) =>
        new Promise<import('node:http').Server>((resolve) => {
          const s = http.createServer((_req, res) => res.end(JSON.stringify(body)));
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    );
    const port = (server.address() as { port: number }).port;
    try {
      const s = new FleetSize({ ...cfg, prometheus: `http://127.0.0.1:${port}`, query: 'up' }, () => now);
      expect(s.reading('global', 'global')).toEqual({ unknown: expect.stringContaining('has not answered yet') });
      await s.refresh();
      expect(s.reading('datacenter', 'a')).toEqual({ size: 10 });
      expect(s.reading('datacenter', 'b')).toEqual({ unknown: expect.stringContaining('no series for datacenter b') });
      now += 6000;
      expect(s.reading('global', 'global')).toEqual({ unknown: expect.stringContaining('older than max_age 5s') });
    } finally {
      server.close();
    }
  });
});

const freeze = (over: Partial<FreezeConfig>): FreezeConfig => ({
  name: 'f',
  from: '18:00',
  to: '08:00',
  weekdays: [...WEEKDAYS],
  timezone: 'UTC',
  workflows: ['*'],
  forceUris: [],
  ...over,
});

describe('freeze windows', () => {
  it.each([
    // 2026-11-27 is a Friday.
    ['daily overnight, in the evening', freeze({}), '2026-11-27T19:00:00Z', true],
    ['daily overnight, the next morning', freeze({}), '2026-11-28T07:59:00Z', true],
    ['daily overnight, at its end', freeze({}), '2026-11-28T08:00:00Z', false],
    ['daily overnight, at noon', freeze({}), '2026-11-27T12:00:00Z', false],
    ['friday evening only, on friday', freeze({ weekdays: ['fri'] }), '2026-11-27T22:00:00Z', true],
    ['friday evening only, saturday morning (started friday)', freeze({ weekdays: ['fri'] }), '2026-11-28T06:00:00Z', true],
    ['friday evening only, saturday evening', freeze({ weekdays: ['fri'] }), '2026-11-28T22:00:00Z', false],
    ['daytime window', freeze({ from: '09:00', to: '17:00' }), '2026-11-27T10:00:00Z', true],
    ['in Berlin (UTC+1): 18:30 local is 17:30Z', freeze({ timezone: 'Europe/Berlin' }), '2026-11-27T17:30:00Z', true],
    ['in Berlin: 17:30 local is 16:30Z', freeze({ timezone: 'Europe/Berlin' }), '2026-11-27T16:30:00Z', false],
    ['absolute window, inside', freeze({ from: '2026-12-20T00:00', to: '2027-01-02T00:00' }), '2026-12-24T12:00:00Z', true],
    ['absolute window, after', freeze({ from: '2026-12-20T00:00', to: '2027-01-02T00:00' }), '2027-01-02T00:00:00Z', false],
    [
      'absolute window in New York, before local start',
      freeze({ from: '2026-12-20T00:00', to: '2027-01-02T00:00', timezone: 'America/New_York' }),
      '2026-12-20T03:00:00Z',
      false,
    ],
  ])('%s', (_what, f, at, active) => {
    expect(freezeActive(f, new Date(at))).toBe(active);
  });

  it('only listed identities may force, and nobody when none are listed', () => {
    const f = freeze({ forceUris: ['spiffe://x/sre/*'] });
    expect(mayForce(f, 'spiffe://x/sre/alice')).toBe(true);
    expect(mayForce(f, 'spiffe://x/trigger/dc1')).toBe(false);
    expect(mayForce(f, null)).toBe(false);
    expect(mayForce(freeze({}), 'spiffe://x/sre/alice')).toBe(false);
  });
});

describe('circuit breaker', () => {
  const o = (s: string): Outcome[] =>
    s.split('').map((c) => ({ F: 'failed', E: 'escalated', H: 'healed', R: 'running', C: 'completed' })[c] as Outcome);
  it.each([
    ['FFF', true],
    ['FEF', true],
    ['FFHHH', false],
    ['FFHFH', true],
    ['HHHHHFFF', false],
    ['RRFFF', true],
    ['FF', false],
    ['', false],
  ])('newest first %s trips at 3 of the last 5: %s', (s, trips) => {
    expect(breakerState(o(s), { failures: 3, ofLast: 5 }).trips).toBe(trips);
  });

  it.each([
    ['COMPLETED', undefined, 'completed'],
    ['COMPLETED', 'escalated', 'escalated'],
    ['COMPLETED', 'healed', 'healed'],
    ['FAILED', undefined, 'failed'],
    ['TERMINATED', undefined, 'failed'],
    ['TIMED_OUT', undefined, 'failed'],
    ['RUNNING', 'healed', 'running'],
    ['CANCELLED', undefined, 'cancelled'],
  ])('%s with MedicOutcome %s is %s', (status, outcome, expected) => {
    expect(executionOutcome(status, outcome)).toBe(expected);
  });
});

describe('pause scopes', () => {
  it('a start is covered by the eight scopes that generalise it', () => {
    const ids = coveringPauseScopes('restart', { node: 'n', datacenter: 'dc1', node_type: 'web' }).map(pauseId);
    expect(ids).toHaveLength(8);
    expect(ids).toContain('medic-pause:w=*:dc=*:t=*');
    expect(ids).toContain('medic-pause:w=restart:dc=dc1:t=web');
    expect(ids).toContain('medic-pause:w=*:dc=dc1:t=*');
  });

  it('a target without datacenter or node type is covered by workflow and global pauses only', () => {
    expect(coveringPauseScopes('restart', { node: 'n' }).map(pauseId)).toEqual([
      'medic-pause:w=restart:dc=*:t=*',
      'medic-pause:w=*:dc=*:t=*',
    ]);
  });
});

describe('effectiveness stats', () => {
  const H = 3_600_000;
  it('counts outcomes, time to heal and recurrences within 24 h per target', () => {
    const [s] = computeStats([
      { workflow: 'w', target: 'n1', status: 'COMPLETED', medicOutcome: 'healed', start: 0, close: 60_000 },
      { workflow: 'w', target: 'n1', status: 'COMPLETED', medicOutcome: 'healed', start: 10 * H, close: 10 * H + 120_000 },
      { workflow: 'w', target: 'n1', status: 'FAILED', start: 40 * H, close: 40 * H + 1000 },
      { workflow: 'w', target: 'n2', status: 'COMPLETED', medicOutcome: 'escalated', start: 1 * H, close: 2 * H },
      { workflow: 'w', target: 'n2', status: 'RUNNING', start: 5 * H },
    ]);
    expect(s).toMatchObject({
      workflow: 'w',
      executions: 5,
      outcomes: { healed: 2, failed: 1, escalated: 1, running: 1 },
      recurrences: 2,
    });
    expect(s!.timeToHealSeconds).toEqual({ p50: 60, p90: 120, mean: 90 });
    expect(s!.recurrenceRate).toBeCloseTo(0.4);
  });
});

describe('config', () => {
  it('reads budgets, fleet size, freezes, breaker and flapping', async () => {
    const { value, errors } = await decode(
      `budget "per-dc" {
  per = "datacenter"
  max = 5
}
budget "fleet" {
  per = "global"
  max_percent = 10
}
fleet_size {
  prometheus = "http://127.0.0.1:9090"
  query = "count by (dc, role) (up{job=\\"node\\"} == 1)"
  datacenter_label = "dc"
  node_type_label = "role"
}
freeze "weekend" {
  from = "18:00"
  to = "08:00"
  weekdays = ["fri", "sat", "sun"]
  timezone = "Europe/Berlin"
  workflows = ["rebootNode"]
  force_uris = ["spiffe://example.com/sre/*"]
}
circuit_breaker {}
flapping {
  count = 3
  window = "6h"
}
`,
      readFleetSafety,
    );
    expect(errors).toEqual([]);
    expect(value!.budgets).toEqual([
      { name: 'fleet', per: 'global', maxPercent: 10 },
      { name: 'per-dc', per: 'datacenter', max: 5 },
    ]);
    expect(value!.fleetSize).toMatchObject({ prometheus: 'http://127.0.0.1:9090', datacenterLabel: 'dc', nodeTypeLabel: 'role' });
    expect(value!.freezes[0]).toMatchObject({ name: 'weekend', weekdays: ['fri', 'sat', 'sun'], timezone: 'Europe/Berlin' });
    expect(value!.circuitBreaker).toEqual({ failures: 3, ofLast: 5 });
    expect(value!.flapping).toEqual({ count: 3, windowMs: 6 * 3_600_000 });
  });

  it.each([
    ['budget "x" {\n  per = "rack"\n  max = 1\n}\n', 'budget.x.per: "rack" is not one of'],
    ['budget "x" {\n  per = "global"\n  max = 1\n  max_percent = 5\n}\n', 'budget.x: set exactly one of max or max_percent'],
    ['budget "x" {\n  per = "global"\n  max_percent = 150\n}\n', 'budget.x.max_percent: must be at most 100'],
    ['freeze "f" {\n  from = "18:00"\n  to = "2026-01-01T00:00"\n}\n', 'freeze.f: from and to are both'],
    [
      'freeze "f" {\n  from = "18:00"\n  to = "08:00"\n  timezone = "Mars/Base"\n}\n',
      'freeze.f.timezone: "Mars/Base" is not an IANA time zone',
    ],
    [
      'freeze "f" {\n  from = "18:00"\n  to = "08:00"\n  weekdays = ["funday"]\n}\n',
      'freeze.f.weekdays[0]: "funday" is not a weekday',
    ],
    ['circuit_breaker {\n  failures = 6\n  of_last = 5\n}\n', 'circuit_breaker.failures: must be at most of_last (5)'],
    ['fleet_size {\n  prometheus = "http://p:9090"\n}\n', 'fleet_size.query: prometheus and query go together'],
  ])('reports %j with its path', async (text, message) => {
    const { errors } = await decode(text, readFleetSafety);
    expect(errors.join('\n')).toContain(message);
  });

  it('warns when a percentage budget has no fleet size source', async () => {
    const { warnings } = await decode('budget "x" {\n  per = "global"\n  max_percent = 5\n}\n', readFleetSafety);
    expect(warnings.join('\n')).toContain('max_percent budgets need a fleet_size');
  });

  it('reads disruptive and mode on a workflow, and rejects an unknown mode', async () => {
    const ok = await decode('workflow = "ping"\ntask_queue_target = "node"\ndisruptive = true\nmode = "shadow"\n', (d) =>
      readWorkflow('w', d),
    );
    expect(ok.errors).toEqual([]);
    expect(ok.value).toMatchObject({ disruptive: true, mode: 'shadow' });
    const bad = await decode('workflow = "ping"\ntask_queue_target = "node"\nmode = "loud"\n', (d) => readWorkflow('w', d));
    expect(bad.errors.join('\n')).toContain('mode: "loud" is not one of "active", "shadow"');
  });
});
