// The daemon's decisions, with grid points, Prometheus' history and coordinator answers scripted.
// (test/e2e/trigger.test.ts runs it against a real Prometheus, coordinator and Temporal.)
import fc from 'fast-check';
import { getEventListeners } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TriggerOutcome, TriggerRequest } from '../../src/client/coordinator-client';
import type { TriggerConfig } from '../../src/config/load';
import type { CoordinatorClient, PrometheusRule } from '../../src/config/trigger';
import { MAX_REFUSALS, REFUSED_FOR_MS, TriggerDaemon, type PrometheusApi } from '../../src/trigger/daemon';
import { createTriggerMetrics } from '../../src/trigger/metrics';
import { PrometheusError } from '../../src/prometheus/client';
import type { Series, SeriesHistory } from '../../src/trigger/rule-state';
import { memoryLogger } from '../../src/telemetry/logger';
import { waitFor } from '../helpers/wait';

const BASE = 1_700_000_000_000; // a grid point: the poll interval is 1 s
const RULE: PrometheusRule = {
  source: 'prometheus',
  name: 'disk',
  file: 't.hcl',
  query: 'disk_free < 0.05',
  forMs: 0,
  keepFiringForMs: 0,
  workflow: 'cleanDisk',
  target: { node: '{{ $labels.instance }}', datacenter: '{{ $labels.dc }}' },
  params: { free: '{{ $value }}' },
};

function config(rule: Partial<PrometheusRule> = {}, coordinator: Partial<CoordinatorClient> = {}): TriggerConfig {
  return {
    prometheus: { address: 'http://127.0.0.1:1', pollIntervalMs: 1000, queryTimeoutMs: 500, evaluationDelayMs: 100 },
    coordinator: { address: 'https://127.0.0.1:2', ...coordinator },
    rules: [{ ...RULE, ...rule }],
  };
}

const host1: Series = { labels: { instance: 'host1', dc: 'ams1' }, value: '0.01' };
const host2: Series = { labels: { instance: 'host2', dc: 'ams1' }, value: '0.02' };

/** What Prometheus returns at each grid point (ms after BASE); the same for every daemon. */
class Timeline {
  private readonly at = new Map<number, Series[] | Error>();
  /** From `t` on (until the next set), the query returns `r`. */
  set(t: number, r: Series[] | Error): void {
    this.at.set(t, r);
  }
  results(t: number): Series[] | Error {
    let best = -Infinity;
    for (const k of this.at.keys()) if (k <= t - BASE && k > best) best = k;
    return best === -Infinity ? [] : this.at.get(best)!;
  }
  queries = 0;
  api(): PrometheusApi {
    return {
      instant: async (_q, t) => {
        this.queries += 1;
        const r = this.results(t);
        if (r instanceof Error) throw r;
        return r;
      },
      range: async (_q, { start, end, step }) => {
        this.queries += 1;
        const out = new Map<string, SeriesHistory>();
        for (let t = start; t <= end; t += step) {
          const r = this.results(t);
          if (r instanceof Error) throw r;
          for (const s of r) {
            const k = JSON.stringify(s.labels);
            if (!out.has(k)) out.set(k, { labels: s.labels, points: [] });
            out.get(k)!.points.push([t, s.value]);
          }
        }
        return [...out.values()];
      },
    };
  }
}

type Answer = TriggerOutcome | (() => Promise<TriggerOutcome>);

function harness(
  opts: {
    rule?: Partial<PrometheusRule>;
    coordinator?: Partial<CoordinatorClient>;
    stateFile?: string;
    answers?: Answer[];
    timeline?: Timeline;
  } = {},
) {
  let now = BASE;
  const timeline = opts.timeline ?? new Timeline();
  const sent: Array<{ workflow: string; request: TriggerRequest }> = [];
  const answers = [...(opts.answers ?? [])];
  const metrics = createTriggerMetrics();
  const logger = memoryLogger('trigger');
  const deps = {
    metrics,
    logger,
    now: () => now,
    random: () => 1,
    stateFile: opts.stateFile,
    prometheus: () => timeline.api(),
    client: {
      trigger: async (workflow: string, request: TriggerRequest): Promise<TriggerOutcome> => {
        sent.push({ workflow, request });
        const a = answers.shift();
        if (typeof a === 'function') return a();
        return a ?? { kind: 'started', status: 202, workflowId: `wf-${request.idempotency_key}`, body: {} };
      },
    },
  };
  const daemon = new TriggerDaemon(config(opts.rule, opts.coordinator), deps);
  /** Evaluates at BASE + t, with the clock just after it, and waits for the sends. */
  const tick = async (t: number) => {
    now = BASE + t + 100;
    await daemon.tick(BASE + t);
    await daemon.flush();
  };
  return {
    daemon,
    timeline,
    sent,
    metrics,
    logger,
    deps,
    tick,
    at: (t: number) => (now = BASE + t),
    keys: () => sent.map((s) => s.request.idempotency_key!),
    value: async (name: string, labels: Record<string, string> = {}) =>
      (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) =>
        Object.entries(labels).every(([k, l]) => v.labels[k] === l),
      )?.value,
  };
}

async function ticks(h: ReturnType<typeof harness>, times: number[]): Promise<void> {
  for (const t of times) await h.tick(t);
}

const tmpState = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-')), 'state.json');

describe('TriggerDaemon', () => {
  it('waits between grid points without piling listeners on the stop signal', async () => {
    // A daemon runs for months: each wait used to leave an abort listener behind (Node warned at 11).
    const h = harness();
    const cfg = config();
    cfg.prometheus = { address: 'http://127.0.0.1:1', pollIntervalMs: 10, queryTimeoutMs: 500, evaluationDelayMs: 1 };
    const daemon = new TriggerDaemon(cfg, { ...h.deps, now: () => Date.now() });
    const stop = new AbortController();
    const running = daemon.run(stop.signal);
    try {
      await waitFor('30 evaluations', () => (h.timeline.queries >= 30 ? true : undefined), 10_000, 20);
      expect(getEventListeners(stop.signal, 'abort').length).toBeLessThanOrEqual(1);
    } finally {
      stop.abort();
      await running;
    }
  });

  it('starts the workflow once per episode with the rendered target, params and an idempotency key', async () => {
    const h = harness();
    h.timeline.set(0, [host1]);
    h.timeline.set(3000, []);
    h.timeline.set(4000, [host1]);
    await ticks(h, [0, 1000, 2000]);
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatchObject({
      workflow: 'cleanDisk',
      request: { target: { node: 'host1', datacenter: 'ams1' }, params: { free: '0.01' } },
    });
    expect(h.sent[0]!.request.idempotency_key).toMatch(/^trigger-/);
    expect(await h.value('medic_trigger_triggers_total', { result: 'started' })).toBe(1);
    expect(await h.value('medic_trigger_series', { state: 'firing' })).toBe(1);

    await ticks(h, [3000, 4000]);
    expect(h.sent).toHaveLength(2);
    expect(h.keys()[1]).not.toBe(h.keys()[0]);
  });

  it('sends once and says so when the workflow waits for an approver (nothing started yet)', async () => {
    const h = harness({
      answers: [
        {
          kind: 'started',
          status: 202,
          workflowId: '',
          body: { status: 'awaiting_approval', approval_id: 'a-1', workflow: 'cleanDisk', target: { node: 'host1' } },
        },
      ],
    });
    h.timeline.set(0, [host1]);
    await ticks(h, [0, 1000, 2000]);
    expect(h.sent).toHaveLength(1);
    const said = h.logger.lines.filter((l) => l.msg === 'waiting for an approver' || l.msg === 'workflow started');
    expect(said.map((l) => [l.msg, l.approval_id])).toEqual([['waiting for an approver', 'a-1']]);
  });

  it('waits `for` before firing', async () => {
    const h = harness({ rule: { forMs: 2500 } });
    h.timeline.set(0, [host1]);
    await ticks(h, [0, 1000, 2000]);
    expect(h.sent).toHaveLength(0);
    expect(await h.value('medic_trigger_series', { state: 'pending' })).toBe(1);
    await h.tick(3000);
    expect(h.sent).toHaveLength(1);
  });

  it('gives two replicas, one started mid-episode, the same key for the episode', async () => {
    const timeline = new Timeline();
    timeline.set(0, [host1]);
    const a = harness({ timeline, rule: { forMs: 2000 } });
    await ticks(a, [0, 1000, 2000, 3000, 4000, 5000]);
    const b = harness({ timeline, rule: { forMs: 2000 } }); // no state of its own
    await b.tick(6000);
    expect(a.keys()).toHaveLength(1);
    expect(b.keys()).toEqual(a.keys());
  });

  it('looks back as far as needed for the start of a long episode', async () => {
    const timeline = new Timeline();
    timeline.set(0, [host1]);
    const a = harness({ timeline });
    await a.tick(0);
    const b = harness({ timeline });
    await b.tick(3_000_000); // 3000 grid points later: several range queries, each 4 times longer
    expect(b.keys()).toEqual(a.keys());
  });

  it('does not send again after a restart mid-episode, whatever the age of the state file', async () => {
    const stateFile = tmpState();
    const timeline = new Timeline();
    timeline.set(0, [host1]);
    const first = harness({ timeline, stateFile });
    await ticks(first, [0, 1000]);
    expect(first.sent).toHaveLength(1);

    const second = harness({ timeline, stateFile });
    await second.daemon.restore();
    await second.tick(3_600_000); // an hour later, the same episode
    expect(second.sent).toHaveLength(0);
    expect(second.daemon.snapshot()).toMatchObject([{ key: first.keys()[0], status: 'started' }]);
  });

  it('sends the same key again after a restart when the first send had no answer', async () => {
    const stateFile = tmpState();
    const timeline = new Timeline();
    timeline.set(0, [host1]);
    const first = harness({ timeline, stateFile, answers: [{ kind: 'unavailable', message: 'down' }] });
    await first.tick(0);
    const second = harness({ timeline, stateFile });
    await second.daemon.restore();
    await second.tick(2000);
    expect(second.keys()).toEqual(first.keys());
  });

  it('starts a new episode after one that ended while the daemon was down', async () => {
    const stateFile = tmpState();
    const timeline = new Timeline();
    timeline.set(0, [host1]);
    timeline.set(5000, []);
    timeline.set(8000, [host1]);
    const first = harness({ timeline, stateFile });
    await first.tick(0);
    const second = harness({ timeline, stateFile });
    await second.daemon.restore();
    await second.tick(10_000);
    expect(second.keys()).toHaveLength(1);
    expect(second.keys()[0]).not.toBe(first.keys()[0]);
  });

  it('fires a `for = 0` series seen by a probe between grid points with the key of the next grid point', async () => {
    const timeline = new Timeline();
    timeline.set(1400, [host1]);
    const a = harness({ timeline });
    await a.tick(1000);
    a.at(1500);
    await a.daemon.probe(BASE + 2000);
    await a.daemon.flush();
    expect(a.sent).toHaveLength(1);
    await a.tick(2000); // the grid evaluation continues the probed episode
    expect(a.sent).toHaveLength(1);
    const b = harness({ timeline }); // a replica without probes
    await b.tick(2000);
    expect(b.keys()).toEqual(a.keys());
  });

  it('keeps an episode firing through a gap shorter than keep_firing_for', async () => {
    const h = harness({ rule: { keepFiringForMs: 3000 } });
    h.timeline.set(0, [host1]);
    h.timeline.set(1000, []);
    h.timeline.set(3000, [host1]);
    h.timeline.set(4000, []);
    h.timeline.set(9000, [host1]);
    await ticks(h, [0, 1000, 2000, 3000]);
    expect(h.sent).toHaveLength(1);
    expect(await h.value('medic_trigger_series', { state: 'firing' })).toBe(1);
    await ticks(h, [4000, 5000, 6000, 7000]); // missing since 4000: resolved at 7000
    expect(await h.value('medic_trigger_series', { state: 'firing' })).toBe(0);
    await h.tick(9000);
    expect(h.sent).toHaveLength(2);
  });

  it('takes the node from `instance` without its port with node_from', async () => {
    const h = harness({ rule: { target: { nodeFrom: 'instance' } } });
    h.timeline.set(0, [
      { labels: { instance: 'web-1.example.com:9100' }, value: '1' },
      { labels: { instance: '[2001:db8::1]:9100' }, value: '1' },
    ]);
    await h.tick(0);
    expect(h.sent.map((s) => s.request.target.node).sort()).toEqual(['2001:db8::1', 'web-1.example.com']);
  });

  it('retries an unavailable coordinator with backoff, with the same key', async () => {
    const down: TriggerOutcome = { kind: 'unavailable', message: 'connection refused' };
    const h = harness({ answers: [down, down] });
    h.timeline.set(0, [host1]);
    await h.tick(0); // attempt 1 fails at 100: next at 1100
    await h.tick(1000); // the clock is at 1100: attempt 2 fails, next in 2 s
    expect(h.sent).toHaveLength(2);
    await h.tick(2000);
    expect(h.sent).toHaveLength(2);
    await h.tick(3000); // attempt 3 succeeds
    expect(h.keys()).toEqual(Array(3).fill(h.keys()[0]));
    expect(h.daemon.snapshot()[0]).toMatchObject({ status: 'started', attempts: 3 });
    expect(await h.value('medic_trigger_errors_total', { kind: 'coordinator_unavailable' })).toBe(2);
  });

  it('retries a refused start after Retry-After while the episode fires, logs it once and counts each', async () => {
    const refused: TriggerOutcome = { kind: 'refused', status: 429, retryAfterMs: 4900, message: 'concurrency 1/15m', body: {} };
    const h = harness({ answers: [refused, refused] });
    h.timeline.set(0, [host1]);
    await ticks(h, [0, 1000, 2000, 3000, 4000]);
    expect(h.sent).toHaveLength(1);
    await h.tick(5000);
    expect(h.sent).toHaveLength(2);
    await h.tick(10_000);
    expect(h.sent).toHaveLength(3);
    expect(h.daemon.snapshot()[0]).toMatchObject({ status: 'started', refusals: 2 });
    expect(h.logger.lines.filter((l) => String(l.msg).startsWith('coordinator refused the start ('))).toHaveLength(1);
    expect(await h.value('medic_trigger_triggers_total', { result: 'refused' })).toBe(2);
  });

  it('stops retrying a refusal when the episode resolves, and after more than MAX_REFUSALS refusals over an hour', async () => {
    const every = 200_000; // 20 refusals span more than REFUSED_FOR_MS
    const refused = (retryAfterMs: number): TriggerOutcome => ({
      kind: 'refused',
      status: 429,
      retryAfterMs,
      message: 'no',
      body: {},
    });
    const h = harness({ answers: [refused(1000), refused(1000), ...Array(100).fill(refused(every))] });
    h.timeline.set(0, [host1]);
    h.timeline.set(2000, []);
    await ticks(h, [0, 1000, 2000, 3000, 4000]);
    expect(h.sent).toHaveLength(2);

    h.timeline.set(5000, [host1]);
    for (let t = 5000; t < 5000 + (MAX_REFUSALS + 5) * every; t += every) await h.tick(t);
    expect(h.sent).toHaveLength(2 + MAX_REFUSALS + 1);
    expect(h.daemon.snapshot()[0]).toMatchObject({ status: 'gave_up' });
    expect(await h.value('medic_trigger_errors_total', { kind: 'refusals_exhausted' })).toBe(1);
  });

  it('retries a held place every 30 s for an hour: more than MAX_REFUSALS refusals alone do not give up', async () => {
    const every = 30_000;
    const refused: TriggerOutcome = { kind: 'refused', status: 429, retryAfterMs: every, message: 'no', body: {} };
    const h = harness({ answers: Array(200).fill(refused) });
    h.timeline.set(0, [host1]);
    for (let t = 0; t <= REFUSED_FOR_MS + 5 * every; t += every) await h.tick(t);
    // Refused at 0, 30 s, ..., 60 min: the refusal at 60 min is the last.
    expect(h.sent).toHaveLength(REFUSED_FOR_MS / every + 1);
    expect(h.daemon.snapshot()[0]).toMatchObject({ status: 'gave_up', refusals: REFUSED_FOR_MS / every + 1 });
    expect(await h.value('medic_trigger_errors_total', { kind: 'refusals_exhausted' })).toBe(1);
  });

  it('does not retry a trigger the coordinator rejects, and logs and counts it once per episode', async () => {
    const rejected: TriggerOutcome = { kind: 'rejected', status: 400, message: 'target.node: bad', body: {} };
    const h = harness({ answers: [rejected, rejected] });
    h.timeline.set(0, [host1]);
    await ticks(h, [0, 1000, 60_000]);
    expect(h.sent).toHaveLength(1);
    expect(h.logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual([
      expect.stringMatching(/check the rule and the coordinator ACL/),
    ]);
    expect(await h.value('medic_trigger_errors_total', { kind: 'coordinator_rejected' })).toBe(1);
  });

  it('counts and logs a series whose template names a missing label, and keeps running', async () => {
    const h = harness();
    h.timeline.set(0, [{ labels: { instance: 'h2' }, value: '0' }, host1]);
    await h.tick(0);
    expect(h.sent.map((s) => s.request.target.node)).toEqual(['host1']);
    expect(await h.value('medic_trigger_errors_total', { kind: 'template' })).toBe(1);
    expect(h.logger.lines.find((l) => l.level === 'error')?.error).toMatch(/datacenter: label "dc" is missing/);
  });

  it('keeps series state through a Prometheus outage, backs off, and replays history after it', async () => {
    const h = harness({ rule: { forMs: 3000 } });
    h.timeline.set(0, [host1]);
    h.timeline.set(1000, new PrometheusError('unreachable', 'connection refused'));
    h.timeline.set(3000, [host1]);
    await h.tick(0);
    h.timeline.queries = 0;
    await ticks(h, [1000, 2000, 3000]);
    expect(h.timeline.queries).toBe(2); // 1000 fails (wait 1 s), 2000 fails (wait 2 s), 3000 skipped
    expect(await h.value('medic_trigger_errors_total', { kind: 'prometheus_unreachable' })).toBe(2);
    expect(h.sent).toHaveLength(0);
    // Prometheus answers again; the gap in its history is part of the replay window.
    h.timeline.set(1000, [host1]);
    await h.tick(4000);
    expect(h.sent).toHaveLength(1); // active since 0, so it fires at 4000 without starting over
  });

  it('keeps evaluating on its grid while the coordinator is slow, with bounded sends in flight', async () => {
    const release: Array<() => void> = [];
    const slow = () =>
      new Promise<TriggerOutcome>((resolve) =>
        release.push(() => resolve({ kind: 'started', status: 202, workflowId: 'x', body: {} })),
      );
    const h = harness({ coordinator: { maxInFlight: 3 }, answers: Array(10).fill(slow) });
    h.timeline.set(
      0,
      Array.from({ length: 10 }, (_, i) => ({ labels: { instance: `n${i}`, dc: 'a' }, value: '1' })),
    );
    await h.daemon.tick(BASE); // does not wait for the sends
    await h.daemon.tick(BASE + 1000);
    await new Promise((r) => setImmediate(r));
    expect(h.sent).toHaveLength(3);
    expect(await h.value('medic_trigger_sends_in_flight')).toBe(3);
    expect(await h.value('medic_trigger_send_queue_depth')).toBe(7);
    while (h.sent.length < 10 || release.length) {
      release.shift()?.();
      await new Promise((r) => setImmediate(r));
    }
    await h.daemon.flush();
    expect(h.daemon.snapshot().every((d) => d.status === 'started')).toBe(true);
  });

  it('sends one request per target at a time and coalesces identical requests', async () => {
    const timeline = new Timeline();
    timeline.set(0, [
      { labels: { instance: 'a', mount: '/', device: 'sda' }, value: '1' },
      { labels: { instance: 'a', mount: '/', device: 'sdb' }, value: '1' }, // same request as sda
      { labels: { instance: 'a', mount: '/var', device: 'sdc' }, value: '1' }, // same target, other params
    ]);
    let inFlight = 0;
    let most = 0;
    const tracked = async (): Promise<TriggerOutcome> => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      return { kind: 'started', status: 202, workflowId: 'w', body: {} };
    };
    const withTracking = harness({
      timeline,
      rule: { target: { node: '{{ $labels.instance }}' }, params: { mount: '{{ $labels.mount }}' } },
      answers: [tracked, tracked, tracked],
    });
    await withTracking.tick(0);
    expect(withTracking.sent.map((s) => s.request.params?.mount).sort()).toEqual(['/', '/var']);
    expect(most).toBe(1);
    expect(await withTracking.value('medic_trigger_triggers_total', { result: 'coalesced' })).toBe(1);
    expect(withTracking.daemon.snapshot().every((d) => d.status === 'started')).toBe(true);
  });

  it('bounds the send queue; episodes beyond it wait for the next evaluation', async () => {
    const h = harness({ coordinator: { maxQueue: 2 } });
    h.timeline.set(0, [host1, host2, { labels: { instance: 'host3', dc: 'x' }, value: '1' }]);
    await h.daemon.tick(BASE);
    expect(h.daemon.snapshot()).toHaveLength(2);
    expect(await h.value('medic_trigger_errors_total', { kind: 'queue_full' })).toBe(1);
    await h.daemon.flush();
    await h.tick(1000);
    expect(h.sent).toHaveLength(3);
  });

  it('keeps the state of unchanged rules across a reload and drops removed rules', async () => {
    const h = harness({ rule: { forMs: 2000 } });
    h.timeline.set(0, [host1]);
    await h.tick(0);
    h.daemon.apply(config({ forMs: 2000, params: {} }), h.deps.client);
    await h.tick(2000);
    expect(h.sent).toHaveLength(1);
    h.daemon.apply(config({ name: 'other', forMs: 2000 }), h.deps.client);
    expect(h.daemon.snapshot()).toEqual([]);
  });

  it('never sends a key a continuously running daemon would not: replicas restarted at any point, with or without state', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 5, maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        // per point and replica: 0-7 up, 8 killed and back with its state file, 9 back without it
        fc.array(fc.tuple(fc.nat(9), fc.nat(9)), { minLength: 40, maxLength: 40 }),
        async (pattern, forSteps, keepSteps, lives) => {
          const timeline = new Timeline();
          pattern.forEach((p, i) => timeline.set(i * 1000, p ? [host1] : []));
          const rule = { forMs: forSteps * 1000, keepFiringForMs: keepSteps * 1000 };
          const reference = harness({ timeline, rule });
          for (let i = 0; i < pattern.length; i++) await reference.tick(i * 1000);
          const expected = new Set(reference.keys());

          const sent = new Set<string>();
          const files = [tmpState(), tmpState()];
          let replicas = files.map((stateFile) => harness({ timeline, rule, stateFile }));
          for (let i = 0; i < pattern.length; i++) {
            replicas = await Promise.all(
              replicas.map(async (r, n) => {
                const life = lives[i]![n]!;
                if (life < 8) return r; // mostly up
                for (const k of r.keys()) sent.add(k);
                if (life === 9) fs.rmSync(files[n]!, { force: true });
                const next = harness({ timeline, rule, stateFile: files[n] });
                await next.daemon.restore();
                return next;
              }),
            );
            for (const r of replicas) await r.tick(i * 1000);
          }
          for (const r of replicas) for (const k of r.keys()) sent.add(k);
          for (const k of sent) expect(expected).toContain(k);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
