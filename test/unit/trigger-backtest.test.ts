// The backtest's pure pieces as tables: times and the grid, range-query chunks, episodes driven
// through the daemon's rule state, admission offline (windows, concurrency, freezes, flapping,
// the node lock, budgets) and the daemon's retries after refusals.
import fc from 'fast-check';
import { emptyFleetSafety, type FleetSafetyConfig } from '../../src/config/fleet-safety';
import type { PrometheusRule, TriggerRule } from '../../src/config/trigger';
import type { Constraint, WorkflowConfig } from '../../src/config/workflow';
import { OfflineAdmission, type Attempt, type Decision } from '../../src/trigger/backtest/admission';
import { decideEpisodes, selectRules, summarise, UnknownRuleError } from '../../src/trigger/backtest/backtest';
import { ruleEpisodes, type Episode } from '../../src/trigger/backtest/episodes';
import { gridPoints, parseTimeSpec, rangeChunks, TimeSpecError, windowGrid, type Grid } from '../../src/trigger/backtest/grid';
import { mergeChunks } from '../../src/trigger/backtest/history';
import { MAX_REFUSALS, REFUSED_FOR_MS } from '../../src/trigger/daemon';
import { episodeKey, seriesKey, type SeriesHistory, type SeriesState } from '../../src/trigger/rule-state';

const S = 1000;
const MIN = 60 * S;
const NOW = Date.parse('2026-12-06T12:00:07.500Z');

describe('times on the command line', () => {
  it.each([
    ['now', NOW],
    ['7d', NOW - 7 * 86_400_000],
    ['1h30m', NOW - 90 * MIN],
    ['2026-12-01T06:00Z', Date.parse('2026-12-01T06:00:00Z')],
    ['2026-12-01T06:00', Date.parse('2026-12-01T06:00:00Z')],
    ['2026-12-01T06:00:30+01:00', Date.parse('2026-12-01T05:00:30Z')],
    ['2026-12-01', Date.parse('2026-12-01T00:00:00Z')],
  ])('reads %j', (text, expected) => {
    expect(parseTimeSpec('from', text, NOW)).toBe(expected);
  });

  it.each(['yesterday', '7 days', '-7d', '2026-13-01', '12:00', ''])('refuses %j, naming the flag and the forms', (text) => {
    expect(() => parseTimeSpec('to', text, NOW)).toThrow(
      new TimeSpecError(
        `--to ${JSON.stringify(text)} is neither "now", a duration before now (7d, 36h, 1h30m) nor a time (2026-12-01T06:00Z)`,
      ),
    );
  });
});

describe('the grid of a window', () => {
  it('takes the multiples of the poll interval within the window, the last one evaluation_delay before --to', () => {
    expect(windowGrid(NOW - MIN, NOW, 15 * S, 1000)).toEqual({
      first: Date.parse('2026-12-06T11:59:15Z'),
      last: Date.parse('2026-12-06T12:00:00Z'),
      step: 15 * S,
    });
    // 12:00:00.5 minus the delay is before 12:00:00: that point is not due yet.
    expect(windowGrid(NOW - MIN, NOW - 7000, 15 * S, 1000)!.last).toBe(Date.parse('2026-12-06T11:59:45Z'));
  });

  it('is empty when no grid point falls in the window', () => {
    expect(windowGrid(NOW, NOW + 1000, 15 * S, 0)).toBeUndefined();
  });

  it('covers a week at 15 s in five range queries of at most 10,000 points', () => {
    const g: Grid = { first: 0, last: (7 * 86_400 - 15) * S, step: 15 * S };
    expect(gridPoints(g)).toBe(40_320);
    expect(rangeChunks(g, 10_000)).toEqual([
      { start: 0, end: 9_999 * 15 * S, step: 15 * S },
      { start: 10_000 * 15 * S, end: 19_999 * 15 * S, step: 15 * S },
      { start: 20_000 * 15 * S, end: 29_999 * 15 * S, step: 15 * S },
      { start: 30_000 * 15 * S, end: 39_999 * 15 * S, step: 15 * S },
      { start: 40_000 * 15 * S, end: 40_319 * 15 * S, step: 15 * S },
    ]);
  });

  it('asks for every grid point exactly once, in order, never more than maxPoints at a time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: -50, max: 50 }),
        (n, max, k) => {
          const step = 15 * S;
          const g: Grid = { first: k * step, last: (k + n - 1) * step, step };
          const asked = rangeChunks(g, max).flatMap((c) => {
            expect((c.end - c.start) / c.step + 1).toBeLessThanOrEqual(max);
            return Array.from({ length: (c.end - c.start) / c.step + 1 }, (_, i) => c.start + i * c.step);
          });
          expect(asked).toEqual(Array.from({ length: n }, (_, i) => g.first + i * step));
        },
      ),
    );
  });

  it('refuses a chunk size that is not a positive whole number', () => {
    expect(() => rangeChunks({ first: 0, last: 0, step: 1 }, 0)).toThrow('maxPoints must be a positive integer, got 0');
  });
});

describe('chunks merged into one history per series', () => {
  it('joins the points of a series across chunks in time order, keeping series apart', () => {
    const a = { instance: 'a' };
    const b = { instance: 'b' };
    expect(
      mergeChunks([
        [{ labels: a, points: [[0, '1']] }],
        [
          { labels: b, points: [[15, '2']] },
          { labels: a, points: [[15, '1']] },
        ],
      ]),
    ).toEqual([
      {
        labels: a,
        points: [
          [0, '1'],
          [15, '1'],
        ],
      },
      { labels: b, points: [[15, '2']] },
    ]);
  });
});

/** A history of one series present (value 1) at the given grid points (in steps of 1 s from 0). */
function present(labels: Record<string, string>, points: number[]): SeriesHistory {
  return { labels, points: points.map((p) => [p * S, '1']) };
}
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('episodes over a window, by the daemon rule state', () => {
  const grid: Grid = { first: 0, last: 30 * S, step: S };
  const a = { instance: 'a' };
  const b = { instance: 'b' };

  it('fires once `for` has passed, bridges gaps shorter than keep_firing_for, and ends after it', () => {
    // a: 2..9, gap 10..11, 12..14 -> one episode (keep 3 s); b: 20..21 only (shorter than for).
    const history = [present(a, [...range(2, 9), ...range(12, 14)]), present(b, [20, 21])];
    const episodes = ruleEpisodes('r', { forMs: 3 * S, keepFiringForMs: 3 * S }, history, grid);
    expect(episodes.map((e) => [e.key, e.series.activeSince, e.firedAt, e.endedAt])).toEqual([
      [episodeKey('r', { key: seriesKey(a), activeSince: 2 * S }), 2 * S, 5 * S, 18 * S],
    ]);
  });

  it('reports an episode already firing at the window start without a firing time, and one still firing without an end', () => {
    const initial = new Map<string, SeriesState>([
      [seriesKey(a), { key: seriesKey(a), labels: a, value: '1', activeSince: -10 * S, lastSeen: -S, state: 'firing' }],
    ]);
    const history = [present(a, range(0, 3)), present(b, range(25, 30))];
    const episodes = ruleEpisodes('r', { forMs: 0, keepFiringForMs: 0 }, history, grid, initial);
    expect(episodes.map((e) => [e.series.labels.instance, e.series.activeSince, e.firedAt, e.endedAt])).toEqual([
      ['a', -10 * S, undefined, 4 * S],
      ['b', 25 * S, 25 * S, undefined],
    ]);
    expect(episodes[0]!.key).toBe(episodeKey('r', { key: seriesKey(a), activeSince: -10 * S }));
  });
});

const workflow = (over: Partial<WorkflowConfig>): WorkflowConfig => ({
  name: 'cleanDisk',
  file: 'cleanDisk.hcl',
  workflowType: 'cleanDisk',
  taskQueueTarget: 'node',
  constraints: [],
  params: {},
  timeoutMs: 3_600_000,
  ...over,
});
const constraint = (kind: Constraint['kind'], value: number, periodMs: number, isGlobal = false): Constraint => ({
  kind,
  value,
  periodMs,
  isGlobal,
});

/** Decides attempts in order; each is [id, minute, workflow, target]. Returns a word per decision. */
function decideAll(admission: OfflineAdmission, attempts: Array<[string, number, WorkflowConfig, Attempt['target']]>): string[] {
  return attempts.map(([id, minute, wf, target]) => {
    const d: Decision = admission.decide({ id, at: minute * MIN, workflow: wf, target });
    if (d.kind === 'refused')
      return `${id}: ${d.refusal.control} ${d.refusal.scope} [${d.refusal.holders.join(',')}] retry@${d.refusal.retryAt / MIN}m`;
    if (d.kind === 'start') return `${id}: start until ${d.until / MIN}m`;
    return `${id}: ${d.kind}`;
  });
}

const fiveMinutes = { durationMs: () => 5 * MIN };

describe('admission offline', () => {
  it('refuses past a maxExecution window per node, naming the holders and when it may pass', () => {
    const wf = workflow({ constraints: [constraint('maxExecution', 2, 60 * MIN)] });
    const admission = new OfflineAdmission(undefined, fiveMinutes);
    expect(
      decideAll(admission, [
        ['a', 0, wf, { node: 'n1' }],
        ['b', 10, wf, { node: 'n1' }],
        ['c', 20, wf, { node: 'n1' }],
        ['d', 20, wf, { node: 'n2' }],
        ['e', 60, wf, { node: 'n1' }],
      ]),
    ).toEqual([
      'a: start until 5m',
      'b: start until 15m',
      'c: maxExecution node=n1 [a,b] retry@60m',
      'd: start until 25m',
      'e: start until 65m',
    ]);
  });

  it('counts a concurrency place while its execution runs and within the period, global constraints across nodes', () => {
    const wf = workflow({ constraints: [constraint('concurrency', 1, 3 * MIN), constraint('concurrency', 2, 60 * MIN, true)] });
    const admission = new OfflineAdmission(undefined, fiveMinutes);
    expect(
      decideAll(admission, [
        ['a', 0, wf, { node: 'n1' }],
        ['b', 1, wf, { node: 'n1' }], // n1's place: within 3 min of a's start
        ['c', 3, wf, { node: 'n1' }], // a still runs, but started 3 min ago: its per-node place is free
        ['d', 4, wf, { node: 'n2' }], // the global places: a (until 5m) and c
        ['e', 5, wf, { node: 'n2' }],
      ]),
    ).toEqual([
      'a: start until 5m',
      // Retry-After: a's place frees at 3m, but a holder may close any moment: 30 s at most.
      'b: concurrency node=n1 [a] retry@1.5m',
      'c: start until 8m',
      'd: concurrency global [a,c] retry@4.5m',
      'e: start until 10m',
    ]);
  });

  it('refuses in a freeze, a flapping node, a held node and a full budget, in that order', () => {
    const fleet: FleetSafetyConfig = {
      ...emptyFleetSafety(),
      budgets: [{ name: 'per_dc', per: 'datacenter', max: 2 }],
      freezes: [
        {
          name: 'night',
          from: '22:00',
          to: '06:00',
          weekdays: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
          timezone: 'UTC',
          workflows: ['rebootNode'],
          forceUris: [],
        },
      ],
      flapping: { count: 2, windowMs: 60 * MIN },
    };
    const reboot = workflow({ name: 'rebootNode', workflowType: 'rebootNode', disruptive: true });
    const admission = new OfflineAdmission(fleet, fiveMinutes);
    const day = Date.parse('2026-12-07T00:00:00Z') / MIN;
    expect(
      decideAll(admission, [
        ['a', day + 5 * 60, reboot, { node: 'n1', datacenter: 'dc1' }], // 05:00: frozen
        ['b', day + 6 * 60, reboot, { node: 'n1', datacenter: 'dc1' }],
        ['c', day + 6 * 60 + 1, reboot, { node: 'n1', datacenter: 'dc1' }],
        ['d', day + 6 * 60 + 2, reboot, { node: 'n2', datacenter: 'dc1' }],
        ['e', day + 6 * 60 + 3, reboot, { node: 'n3', datacenter: 'dc1' }],
        ['f', day + 6 * 60 + 3, reboot, { node: 'n4', datacenter: 'dc2' }],
        ['g', day + 6 * 60 + 10, reboot, { node: 'n1', datacenter: 'dc1' }],
        ['h', day + 6 * 60 + 20, reboot, { node: 'n1', datacenter: 'dc1' }],
      ]).map((line) => line.replace(/(\d+(?:\.\d+)?)m$/, (_, n: string) => `${Number(n) - day}m`)),
    ).toEqual([
      'a: freeze workflows=rebootNode [] retry@305m',
      'b: start until 365m',
      'c: disruptive_lock node=n1 [b] retry@361.5m',
      'd: start until 367m',
      'e: budget datacenter=dc1 [b,d] retry@363.5m',
      'f: start until 368m',
      'g: start until 375m',
      'h: flapping node=n1 [b,g] retry@440m',
    ]);
    expect(Object.fromEntries(admission.budgetPeaks)).toEqual({
      'per_dc|dc1': { peak: 2, at: (day + 6 * 60 + 2) * MIN, limit: 2 },
      'per_dc|dc2': { peak: 1, at: (day + 6 * 60 + 3) * MIN, limit: 2 },
    });
    expect(Object.fromEntries(admission.datacenterPeaks)).toEqual({
      dc1: { peak: 2, at: (day + 6 * 60 + 2) * MIN },
      dc2: { peak: 1, at: (day + 6 * 60 + 3) * MIN },
    });
  });

  it('refuses a percentage budget of a fleet of unknown size (fail safe), and takes the node lock without fleet blocks', () => {
    const reboot = workflow({ name: 'rebootNode', workflowType: 'rebootNode', disruptive: true });
    const pct: FleetSafetyConfig = { ...emptyFleetSafety(), budgets: [{ name: 'tenth', per: 'global', maxPercent: 10 }] };
    expect(decideAll(new OfflineAdmission(pct, fiveMinutes), [['a', 0, reboot, { node: 'n1' }]])).toEqual([
      'a: budget global [] retry@1m',
    ]);
    const sized = { ...pct, fleetSize: { ...pct.fleetSize, static: 20 } };
    expect(
      decideAll(new OfflineAdmission(sized, fiveMinutes), [
        ['a', 0, reboot, { node: 'n1' }],
        ['b', 0, reboot, { node: 'n2' }],
        ['c', 0, reboot, { node: 'n3' }],
      ]),
    ).toEqual(['a: start until 5m', 'b: start until 5m', 'c: budget global [a,b] retry@0.5m']);
    expect(
      decideAll(new OfflineAdmission(undefined, fiveMinutes), [
        ['a', 0, reboot, { node: 'n1' }],
        ['b', 4, reboot, { node: 'n1' }],
        ['c', 5, reboot, { node: 'n1' }],
      ]),
    ).toEqual(['a: start until 5m', 'b: disruptive_lock node=n1 [a] retry@4.5m', 'c: start until 10m']);
  });

  it('holds nothing for a shadow-mode workflow, and rejects a target its queue cannot take', () => {
    const shadow = workflow({ mode: 'shadow', constraints: [constraint('maxExecution', 1, 60 * MIN)] });
    const admission = new OfflineAdmission(undefined, fiveMinutes);
    expect(
      decideAll(admission, [
        ['a', 0, shadow, { node: 'n1' }],
        ['b', 1, shadow, { node: 'n1' }],
        ['c', 2, shadow, { datacenter: 'dc1' }],
      ]),
    ).toEqual(['a: shadow', 'b: shadow', 'c: rejected']);
  });

  it('takes attempts in time order only', () => {
    const admission = new OfflineAdmission(undefined, fiveMinutes);
    admission.decide({ id: 'a', at: MIN, workflow: workflow({}), target: { node: 'n' } });
    expect(() => admission.decide({ id: 'b', at: 0, workflow: workflow({}), target: { node: 'n' } })).toThrow(RangeError);
  });
});

describe('would-be starts and their retries', () => {
  const rule = (name: string, wf: string, over: Partial<PrometheusRule> = {}): PrometheusRule => ({
    source: 'prometheus',
    name,
    file: 'rules.hcl',
    query: 'up == 0',
    forMs: 0,
    keepFiringForMs: 0,
    workflow: wf,
    target: { node: '{{ $labels.instance }}' },
    params: {},
    ...over,
  });
  const episode = (instance: string, firedAt: number | undefined, endedAt?: number): Episode => {
    const labels = { instance };
    const series: SeriesState = {
      key: seriesKey(labels),
      labels,
      value: '1',
      activeSince: firedAt ?? -MIN,
      lastSeen: 0,
      state: 'firing',
    };
    return { rule: 'r', key: `k-${instance}-${firedAt}`, series, firedAt, endedAt };
  };
  const grid: Grid = { first: 0, last: 600 * MIN, step: 15 * S };

  it('retries a refused episode after Retry-After while it fires, and gives up as the daemon does', () => {
    const wf = workflow({ constraints: [constraint('maxExecution', 1, 600 * MIN)] });
    const admission = new OfflineAdmission(undefined, { durationMs: () => 300 * MIN });
    const { episodes, timeline } = decideEpisodes(
      [rule('r', 'cleanDisk')],
      [[episode('n1', 0), episode('n1', MIN, 30 * MIN + 1)]],
      new Map([['cleanDisk', wf]]),
      admission,
      { grid, node: 'me' },
    );
    expect(episodes.map((e) => [e.outcome, e.refusals, e.refusedBy, e.stoppedBecause])).toEqual([
      ['started', 0, undefined, undefined],
      // Retry-After is when a leaves the window (600 min away): the episode ended first.
      ['refused', 1, 'maxExecution', 'episode_ended'],
    ]);
    expect(timeline.map((t) => [t.at / MIN, t.decision, t.attempt])).toEqual([
      [0, 'start', 1],
      [1, 'refused', 1],
    ]);

    // A node lock answers Retry-After 30 s: an episode firing long enough is refused for an hour, then given up.
    const reboot = workflow({ name: 'rebootNode', workflowType: 'rebootNode', disruptive: true });
    const again = decideEpisodes(
      [rule('r', 'rebootNode')],
      [[episode('n1', 0), episode('n1', MIN)]],
      new Map([['rebootNode', reboot]]),
      new OfflineAdmission(undefined, { durationMs: () => 300 * MIN }),
      { grid, node: 'me' },
    );
    const refusals = REFUSED_FOR_MS / (30 * S) + 1;
    expect(refusals).toBeGreaterThan(MAX_REFUSALS);
    expect(again.episodes[1]).toMatchObject({ outcome: 'refused', refusals, stoppedBecause: 'gave_up' });
    expect(again.timeline.slice(1).map((t) => t.at)).toEqual(Array.from({ length: refusals }, (_, i) => MIN + i * 30 * S));
  });

  it('stops retrying at the end of the window, marks unfillable templates invalid, and counts per rule', () => {
    const reboot = workflow({ name: 'rebootNode', workflowType: 'rebootNode', disruptive: true });
    const rules = [rule('r', 'rebootNode'), rule('s', 'rebootNode', { target: { node: '{{ $labels.host }}' } })];
    const short: Grid = { first: 0, last: MIN + 40 * S, step: 15 * S };
    const { episodes } = decideEpisodes(
      rules,
      [[episode('n1', 0), episode('n1', MIN), episode('n2', undefined)], [episode('n3', 0)]],
      new Map([['rebootNode', reboot]]),
      new OfflineAdmission(undefined, fiveMinutes),
      { grid: short, node: 'me' },
    );
    expect(episodes.map((e) => [e.rule, e.outcome, e.refusals, e.stoppedBecause ?? null])).toEqual([
      ['r', 'started', 0, null],
      ['r', 'refused', 2, 'window_ended'],
      ['r', 'firing_at_from', 0, null],
      ['s', 'invalid', 0, null],
    ]);
    expect(episodes[3]!.message).toMatch(/host/);
    expect(summarise(rules, episodes)).toEqual([
      {
        rule: 'r',
        workflow: 'rebootNode',
        episodes: 2,
        firingAtFrom: 1,
        wouldStart: 1,
        startedAfterRefusal: 0,
        refused: { disruptive_lock: 1 },
        shadow: 0,
        rejected: 0,
        invalid: 0,
        coalesced: 0,
        stillFiring: 3,
      },
      {
        rule: 's',
        workflow: 'rebootNode',
        episodes: 1,
        firingAtFrom: 0,
        wouldStart: 0,
        startedAfterRefusal: 0,
        refused: {},
        shadow: 0,
        rejected: 0,
        invalid: 1,
        coalesced: 0,
        stillFiring: 1,
      },
    ]);
  });

  it('sends identical requests due at once as one, as the send loop coalesces them, also when refused', () => {
    const wf = workflow({ constraints: [constraint('concurrency', 1, 600 * MIN)] });
    const rules = [rule('r', 'cleanDisk'), rule('s', 'cleanDisk', { target: { node: 'n1' } })];
    const { episodes, timeline } = decideEpisodes(
      rules,
      [
        [episode('n1', 0), episode('n1', 2 * MIN, 10 * MIN)],
        [episode('x', 0), episode('x', 2 * MIN, 10 * MIN)],
      ],
      new Map([['cleanDisk', wf]]),
      new OfflineAdmission(undefined, fiveMinutes),
      { grid, node: 'me' },
    );
    expect(episodes.map((e) => [e.key, e.outcome, e.refusals, e.coalescedWith ?? null])).toEqual([
      ['k-n1-0', 'started', 0, null],
      // Refused at 2, 2.5, ..., 4.5 min (Retry-After 30 s), started at 5 when the first run ends.
      ['k-n1-120000', 'started', 6, null],
      ['k-x-0', 'coalesced', 0, 'k-n1-0'],
      ['k-x-120000', 'coalesced', 0, 'k-n1-120000'],
    ]);
    expect(timeline.map((t) => [t.at / MIN, t.episode, t.decision, t.coalesced])).toEqual([
      [0, 'k-n1-0', 'start', ['k-x-0']],
      ...[2, 2.5, 3, 3.5, 4, 4.5].map((m) => [m, 'k-n1-120000', 'refused', ['k-x-120000']]),
      [5, 'k-n1-120000', 'start', ['k-x-120000']],
    ]);
  });

  it('lists log and http rules as not backtestable, and names the rules when --rule names none', () => {
    const rules = [
      rule('p', 'cleanDisk'),
      { ...rule('l', 'cleanDisk'), source: 'log' } as unknown as TriggerRule,
      { ...rule('h', 'cleanDisk'), source: 'http' } as unknown as TriggerRule,
    ];
    const all = selectRules(rules);
    expect(all.prometheus.map((r) => r.name)).toEqual(['p']);
    expect(all.notBacktestable).toEqual([
      { rule: 'l', source: 'log', why: 'log lines are not kept in Prometheus: no history to replay' },
      { rule: 'h', source: 'http', why: 'health checks are made live: no history to replay' },
    ]);
    expect(selectRules(rules, 'h').prometheus).toEqual([]);
    expect(() => selectRules(rules, 'x')).toThrow(new UnknownRuleError('no rule "x" in triggers/*.hcl (rules: p, l, h)'));
  });
});
