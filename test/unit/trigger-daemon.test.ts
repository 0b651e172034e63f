// The daemon's decisions, with time, Prometheus answers and coordinator answers scripted.
// (test/e2e/trigger.test.ts runs it against a real Prometheus, coordinator and Temporal.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TriggerOutcome, TriggerRequest } from '../../src/client/coordinator-client';
import type { TriggerConfig } from '../../src/config/load';
import type { TriggerRule } from '../../src/config/trigger';
import { TriggerDaemon } from '../../src/trigger/daemon';
import { createTriggerMetrics } from '../../src/trigger/metrics';
import { PrometheusError } from '../../src/trigger/prometheus';
import type { Series } from '../../src/trigger/rule-state';
import { memoryLogger } from '../../src/telemetry/logger';

const RULE: TriggerRule = {
  name: 'disk',
  file: 't.hcl',
  query: 'disk_free < 0.05',
  forMs: 0,
  workflow: 'cleanDisk',
  target: { node: '{{ $labels.instance }}', datacenter: '{{ $labels.dc }}' },
  params: { free: '{{ $value }}' },
};

function config(rule: Partial<TriggerRule> = {}): TriggerConfig {
  return {
    prometheus: { address: 'http://127.0.0.1:1', pollIntervalMs: 1000, queryTimeoutMs: 500 },
    coordinator: { address: 'https://127.0.0.1:2' },
    rules: [{ ...RULE, ...rule }],
  };
}

const host1: Series = { labels: { instance: 'host1', dc: 'ams1' }, value: '0.01' };

function harness(opts: { rule?: Partial<TriggerRule>; stateFile?: string; answers?: TriggerOutcome[] } = {}) {
  let now = 1_000_000;
  let results: Series[] | Error = [];
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
    query: async () => {
      if (results instanceof Error) throw results;
      return results;
    },
    client: {
      trigger: async (workflow: string, request: TriggerRequest): Promise<TriggerOutcome> => {
        sent.push({ workflow, request });
        return answers.shift() ?? { kind: 'started', status: 202, workflowId: `wf-${sent.length}`, body: {} };
      },
    },
  };
  const daemon = new TriggerDaemon(config(opts.rule), deps);
  return {
    daemon,
    sent,
    metrics,
    logger,
    deps,
    at: (t: number) => (now = 1_000_000 + t),
    returns: (r: Series[] | Error) => (results = r),
    value: async (name: string, labels: Record<string, string>) =>
      (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) =>
        Object.entries(labels).every(([k, l]) => v.labels[k] === l),
      )?.value,
  };
}

describe('TriggerDaemon', () => {
  it('starts the workflow once per episode with the rendered target, params and an idempotency key', async () => {
    const h = harness();
    h.returns([host1]);
    for (const t of [0, 1000, 2000]) {
      h.at(t);
      await h.daemon.tick();
    }
    expect(h.sent).toHaveLength(1);
    expect(h.sent[0]).toMatchObject({
      workflow: 'cleanDisk',
      request: { target: { node: 'host1', datacenter: 'ams1' }, params: { free: '0.01' } },
    });
    expect(h.sent[0]!.request.idempotency_key).toMatch(/^trigger-/);
    expect(await h.value('medic_trigger_triggers_total', { result: 'started' })).toBe(1);
    expect(await h.value('medic_trigger_series', { state: 'firing' })).toBe(1);

    h.returns([]);
    h.at(3000);
    await h.daemon.tick();
    h.returns([host1]);
    h.at(4000);
    await h.daemon.tick();
    expect(h.sent).toHaveLength(2);
    expect(h.sent[1]!.request.idempotency_key).not.toBe(h.sent[0]!.request.idempotency_key);
  });

  it('waits `for` before firing', async () => {
    const h = harness({ rule: { forMs: 2500 } });
    h.returns([host1]);
    for (const t of [0, 1000, 2000]) {
      h.at(t);
      await h.daemon.tick();
    }
    expect(h.sent).toHaveLength(0);
    expect(await h.value('medic_trigger_series', { state: 'pending' })).toBe(1);
    h.at(3000);
    await h.daemon.tick();
    expect(h.sent).toHaveLength(1);
  });

  it('retries an unavailable coordinator with backoff, with the same key', async () => {
    const down: TriggerOutcome = { kind: 'unavailable', message: 'connection refused' };
    const h = harness({ answers: [down, down] });
    h.returns([host1]);
    h.at(0);
    await h.daemon.tick(); // attempt 1 fails: next in up to 1 s
    h.at(500);
    await h.daemon.tick(); // too early
    expect(h.sent).toHaveLength(1);
    h.at(1000);
    await h.daemon.tick(); // attempt 2 fails: next in up to 2 s
    h.at(3000);
    await h.daemon.tick(); // attempt 3 succeeds
    expect(h.sent.map((s) => s.request.idempotency_key)).toEqual(Array(3).fill(h.sent[0]!.request.idempotency_key));
    expect(h.daemon.snapshot()[0]).toMatchObject({ status: 'started', attempts: 3 });
    expect(await h.value('medic_trigger_errors_total', { kind: 'coordinator_unavailable' })).toBe(2);
  });

  it('retries a refused start no sooner than Retry-After and logs the refusal once', async () => {
    const refused: TriggerOutcome = { kind: 'refused', status: 429, retryAfterMs: 5000, message: 'concurrency 1/15m', body: {} };
    const h = harness({ answers: [refused, refused] });
    h.returns([host1]);
    for (const t of [0, 1000, 2000, 3000, 4000]) {
      h.at(t);
      await h.daemon.tick();
    }
    expect(h.sent).toHaveLength(1);
    h.at(5000);
    await h.daemon.tick();
    expect(h.sent).toHaveLength(2);
    h.at(10_000);
    await h.daemon.tick();
    expect(h.sent).toHaveLength(3);
    expect(h.logger.lines.filter((l) => String(l.msg).startsWith('coordinator refused'))).toHaveLength(1);
  });

  it('does not retry a trigger the coordinator rejects, and says it is a configuration error', async () => {
    const h = harness({ answers: [{ kind: 'rejected', status: 403, message: 'forbidden', body: {} }] });
    h.returns([host1]);
    for (const t of [0, 1000, 60_000]) {
      h.at(t);
      await h.daemon.tick();
    }
    expect(h.sent).toHaveLength(1);
    expect(h.logger.lines.find((l) => l.level === 'error')?.msg).toMatch(/check the rule and the coordinator ACL/);
  });

  it('counts and logs a series whose template names a missing label, and keeps running', async () => {
    const h = harness();
    h.returns([{ labels: { instance: 'h2' }, value: '0' }, host1]);
    h.at(0);
    await h.daemon.tick();
    expect(h.sent.map((s) => s.request.target.node)).toEqual(['host1']);
    expect(await h.value('medic_trigger_errors_total', { kind: 'template' })).toBe(1);
    expect(h.logger.lines.find((l) => l.level === 'error')?.error).toMatch(/datacenter: label "dc" is missing/);
  });

  it('keeps series state through a Prometheus outage and backs off its queries', async () => {
    const h = harness({ rule: { forMs: 3000 } });
    let queries = 0;
    const query = h.deps.query;
    h.deps.query = async () => (queries++, query());
    const daemon = new TriggerDaemon(config({ forMs: 3000 }), h.deps);
    h.returns([host1]);
    h.at(0);
    await daemon.tick();
    h.returns(new PrometheusError('unreachable', 'connection refused'));
    for (const t of [1000, 1500, 2000, 2500]) {
      h.at(t);
      await daemon.tick();
    }
    expect(queries).toBe(3); // 0 ok, 1000 fails (wait 1 s), 1500 skipped, 2000 fails (wait 2 s), 2500 skipped
    h.returns([host1]);
    h.at(4000);
    await daemon.tick();
    expect(h.sent).toHaveLength(1); // pending since 0, so it fires at 4000 without starting over
    expect(await h.value('medic_trigger_errors_total', { kind: 'prometheus_unreachable' })).toBe(2);
  });

  it('continues the same episode after a restart, so the idempotency key does not change', async () => {
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-')), 'state.json');
    const first = harness({ stateFile, answers: [{ kind: 'unavailable', message: 'down' }] });
    first.returns([host1]);
    first.at(0);
    await first.daemon.tick();
    expect(fs.existsSync(stateFile)).toBe(true);

    const second = harness({ stateFile });
    await second.daemon.restore();
    second.returns([host1]);
    second.at(2000);
    await second.daemon.tick();
    expect(second.sent).toHaveLength(1);
    expect(second.sent[0]!.request.idempotency_key).toBe(first.sent[0]!.request.idempotency_key);
  });

  it('keeps the state of unchanged rules across a reload and drops removed rules', async () => {
    const h = harness({ rule: { forMs: 2000 } });
    h.returns([host1]);
    h.at(0);
    await h.daemon.tick();
    h.daemon.apply(config({ forMs: 2000, params: {} }), h.deps.client);
    h.at(2000);
    await h.daemon.tick();
    expect(h.sent).toHaveLength(1);
    h.daemon.apply(config({ name: 'other', forMs: 2000 }), h.deps.client);
    expect(h.daemon.snapshot()).toEqual([]);
  });
});
