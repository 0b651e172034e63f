// The trigger daemon: at every point of a grid aligned on the poll interval it evaluates each
// rule at that point (Prometheus `time=`), advances the rule's per-series state, and hands every
// firing episode to the send loop, which asks the coordinator to start the rule's workflow.
// Episodes are identified by their start on the grid, derived from Prometheus' history when
// the daemon has no continuous state of its own, so every replica sends the same key.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TriggerConfig } from '../config/load';
import type { PrometheusSource, TriggerRule } from '../config/trigger';
import type { CoordinatorClient, TriggerOutcome, TriggerRequest } from '../client/coordinator-client';
import type { Logger } from '../telemetry/logger';
import { backoffMs } from './backoff';
import type { TriggerMetrics } from './metrics';
import { PrometheusError, queryInstant, queryRange } from './prometheus';
import {
  episodeKey,
  evaluateRule,
  gridPoint,
  replayHistory,
  seriesKey,
  type RuleTiming,
  type Series,
  type SeriesHistory,
  type SeriesState,
} from './rule-state';
import { SendLoop } from './send-loop';
import { nodeFromLabel, parseTemplate, renderAll, renderTemplate, TemplateError, type TemplatePart } from './template';

/** The two questions the daemon asks Prometheus. */
export interface PrometheusApi {
  instant(query: string, time: number, signal?: AbortSignal): Promise<Series[]>;
  range(query: string, range: { start: number; end: number; step: number }, signal?: AbortSignal): Promise<SeriesHistory[]>;
}

export function prometheusApi(source: PrometheusSource): PrometheusApi {
  return {
    instant: (query, time, signal) => queryInstant(source.address, query, time, source.queryTimeoutMs, signal),
    range: (query, range, signal) => queryRange(source.address, query, range, source.queryTimeoutMs, signal),
  };
}

export interface DaemonDeps {
  client: Pick<CoordinatorClient, 'trigger'>;
  metrics: TriggerMetrics;
  logger: Logger;
  prometheus?: (source: PrometheusSource) => PrometheusApi;
  now?: () => number;
  random?: () => number;
  /** Where pending/firing state and deliveries are kept across restarts. */
  stateFile?: string;
}

interface CompiledRule {
  rule: TriggerRule;
  target: Record<string, TemplatePart[]>;
  params: Record<string, TemplatePart[]>;
  reason?: TemplatePart[];
}

interface RuleRuntime {
  compiled: CompiledRule;
  series: Map<string, SeriesState>;
  /** The grid point of the last evaluation; the next one continues from it only if it is the next point. */
  lastEvalAt?: number;
  failures: number;
  skipUntil: number;
}

export type DeliveryStatus = 'due' | 'started' | 'refused' | 'rejected' | 'invalid' | 'gave_up';

export interface Delivery {
  key: string;
  rule: string;
  workflow: string;
  seriesKey: string;
  activeSince: number;
  request?: TriggerRequest;
  status: DeliveryStatus;
  attempts: number;
  refusals: number;
  nextAttemptAt: number;
  firedAt: number;
  workflowId?: string;
  coalescedWith?: string;
}

interface SavedState {
  version: 2;
  savedAt: number;
  rules: Record<string, { query: string; series: SeriesState[] }>;
  deliveries: Delivery[];
}

const PROMETHEUS_BACKOFF_CAP_MS = 5 * 60_000;
const COORDINATOR_BACKOFF = { baseMs: 1000, capMs: 60_000 };
const DEFAULT_MAX_IN_FLIGHT = 16;
const DEFAULT_MAX_QUEUE = 10_000;
/** A refused episode is retried after each Retry-After at most this many times. */
export const MAX_REFUSALS = 20;
/** Prometheus refuses range queries of more than 11,000 points per series. */
const MAX_REPLAY_POINTS = 10_000;

export function compileRule(rule: TriggerRule): CompiledRule {
  const compile = (m: Record<string, string | undefined>): Record<string, TemplatePart[]> =>
    Object.fromEntries(
      Object.entries(m)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, parseTemplate(v!)]),
    );
  const { node, datacenter, node_type } = rule.target;
  return {
    rule,
    target: compile({ node, datacenter, node_type }),
    params: compile(rule.params),
    reason: rule.reason === undefined ? undefined : parseTemplate(rule.reason),
  };
}

/** The trigger request for one firing series; throws TemplateError naming the field. */
export function buildRequest(c: CompiledRule, series: SeriesState, key: string): TriggerRequest {
  const target = renderAll(c.target, series.labels, series.value);
  if (c.rule.target.nodeFrom) target.node = nodeFromLabel(series.labels, c.rule.target.nodeFrom);
  const params = renderAll(c.params, series.labels, series.value);
  let reason = `rule ${c.rule.name}: ${c.rule.query} = ${series.value}`;
  if (c.reason) {
    try {
      reason = renderTemplate(c.reason, series.labels, series.value);
    } catch (err) {
      throw new TemplateError(`reason: ${(err as Error).message}`);
    }
  }
  return { target, params, reason, idempotency_key: key };
}

const timingOf = (rule: TriggerRule): RuleTiming => ({ forMs: rule.forMs, keepFiringForMs: rule.keepFiringForMs ?? 0 });

/** What of a rule's state is worth writing down: not `lastSeen` or the value, which change every time. */
const transitionsOf = (series: Map<string, SeriesState>) =>
  [...series.values()].map((s) => `${s.key}|${s.state}|${s.activeSince}|${s.missingSince ?? ''}`).join('\n');

export class TriggerDaemon {
  private rules = new Map<string, RuleRuntime>();
  private deliveries = new Map<string, Delivery>();
  private source!: PrometheusSource;
  private api!: PrometheusApi;
  private client: Pick<CoordinatorClient, 'trigger'>;
  private maxInFlight = DEFAULT_MAX_IN_FLIGHT;
  private maxQueue = DEFAULT_MAX_QUEUE;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sender: SendLoop<Delivery>;
  private dirty = false;
  private saving?: Promise<void>;
  private saveAgain = false;

  constructor(
    config: TriggerConfig,
    private readonly deps: DaemonDeps,
  ) {
    this.client = deps.client;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.sender = new SendLoop<Delivery>({
      waiting: () => [...this.deliveries.values()].filter((d) => d.status === 'due' || d.status === 'refused'),
      send: (d, peers) => this.send(d, peers),
      now: this.now,
      maxInFlight: () => this.maxInFlight,
      onDepth: (waiting, inFlight) => {
        this.deps.metrics.queueDepth.set(waiting);
        this.deps.metrics.inFlight.set(inFlight);
      },
    });
    this.apply(config, deps.client);
  }

  get pollIntervalMs(): number {
    return this.source.pollIntervalMs;
  }

  /** Swaps in new rules (and client); rules whose name, query, `for` and `keep_firing_for` did not change keep their state. */
  apply(config: TriggerConfig, client: Pick<CoordinatorClient, 'trigger'>): void {
    if (!config.prometheus) throw new Error('no prometheus { ... } block in triggers/*.hcl');
    const compiled = config.rules.map(compileRule);
    const next = new Map<string, RuleRuntime>();
    for (const c of compiled) {
      const old = this.rules.get(c.rule.name);
      const same =
        old &&
        old.compiled.rule.query === c.rule.query &&
        old.compiled.rule.forMs === c.rule.forMs &&
        old.compiled.rule.keepFiringForMs === c.rule.keepFiringForMs;
      // A kept rule replays its history at its next evaluation: the grid may have changed.
      next.set(
        c.rule.name,
        same ? { ...old, compiled: c, lastEvalAt: undefined } : { compiled: c, series: new Map(), failures: 0, skipUntil: 0 },
      );
    }
    for (const [key, d] of this.deliveries) {
      const rt = next.get(d.rule);
      if (!rt || !rt.series.has(d.seriesKey)) this.deliveries.delete(key);
    }
    for (const name of this.rules.keys()) {
      if (next.has(name)) continue;
      this.deps.metrics.series.remove({ rule: name, state: 'pending' });
      this.deps.metrics.series.remove({ rule: name, state: 'firing' });
      this.deps.metrics.evaluationLag.remove({ rule: name });
    }
    this.rules = next;
    this.source = config.prometheus;
    this.api = (this.deps.prometheus ?? prometheusApi)(config.prometheus);
    this.client = client;
    this.maxInFlight = config.coordinator?.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.maxQueue = config.coordinator?.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.dirty = true;
  }

  /** Deliveries by episode key, for status and tests. */
  snapshot(): Delivery[] {
    return [...this.deliveries.values()].map((d) => ({ ...d }));
  }

  /** The grid point to evaluate now: the latest one whose scrapes have had `evaluation_delay` to land. */
  currentGridPoint(): number {
    return gridPoint(this.now() - this.source.evaluationDelayMs, this.source.pollIntervalMs);
  }

  /**
   * One evaluation of every rule at grid point `at` (default: the current one); firing episodes
   * go to the send loop, which this does not wait for (see flush).
   */
  async tick(at?: number, signal?: AbortSignal): Promise<void> {
    const t = at ?? this.currentGridPoint();
    await Promise.all([...this.rules.values()].map((rt) => this.evaluate(rt, t, signal)));
    this.sender.pump();
    this.saveSoon();
  }

  /** Sends what is due now and waits for the answers and the state file. */
  async flush(): Promise<void> {
    await this.sender.flush();
    while (this.saving) await this.saving;
  }

  /** Evaluates at every grid point until `signal` aborts; sends run beside it. */
  async run(signal: AbortSignal): Promise<void> {
    this.sender.start();
    let last: number | undefined;
    while (!signal.aborted) {
      const t = this.currentGridPoint();
      if (t === last) {
        const next = t + this.source.pollIntervalMs;
        const probeMs = this.source.probeIntervalMs;
        const untilEval = next + this.source.evaluationDelayMs - this.now();
        const wait = probeMs ? Math.min(probeMs, untilEval) : untilEval;
        // timers/promises removes its abort listener when the wait ends: one per wait would pile up.
        await sleep(Math.max(1, wait), undefined, { signal }).catch(() => undefined);
        if (probeMs && !signal.aborted && this.now() < next) await this.probe(next, signal);
        continue;
      }
      if (last !== undefined && t > last + this.source.pollIntervalMs)
        this.deps.metrics.missedEvaluations.inc((t - last) / this.source.pollIntervalMs - 1);
      last = t;
      try {
        await this.tick(t, signal);
      } catch (err) {
        if (!signal.aborted) this.deps.logger.error('evaluation failed', { error: err });
      }
    }
    this.sender.stop();
    await this.sender.settled();
    while (this.saving) await this.saving;
  }

  /**
   * Between grid points, looks for new series of `for = 0` rules now rather than at grid point
   * `next`, and fires them at once as episodes starting at `next`: the evaluation at `next`
   * will see the same sample (scraped before `next`) and continue the same episode, so the key
   * is the one every replica derives. Only the wait for the grid is saved; a series that
   * vanishes again before `next` (a flap within one interval) is the one case it starts alone.
   */
  async probe(next: number, signal?: AbortSignal): Promise<void> {
    const step = this.source.pollIntervalMs;
    await Promise.all(
      [...this.rules.values()]
        .filter((rt) => rt.compiled.rule.forMs === 0 && rt.lastEvalAt === next - step)
        .map(async (rt) => {
          let results: Series[];
          try {
            results = await this.api.instant(rt.compiled.rule.query, this.now(), signal);
          } catch {
            return; // the evaluation at the grid point reports Prometheus' errors
          }
          if (this.now() >= next || rt.lastEvalAt !== next - step) return;
          let added = 0;
          for (const s of results) {
            const key = seriesKey(s.labels);
            if (rt.series.has(key)) continue;
            rt.series.set(key, { key, labels: s.labels, value: s.value, activeSince: next, lastSeen: next, state: 'firing' });
            added += 1;
          }
          if (!added) return;
          this.dirty = true;
          this.reconcile(rt, this.now(), this.deps.logger.child({ rule: rt.compiled.rule.name, probe: true }));
        }),
    );
    this.sender.pump();
    this.saveSoon();
  }

  private async evaluate(rt: RuleRuntime, t: number, signal?: AbortSignal): Promise<void> {
    const { rule } = rt.compiled;
    const log = this.deps.logger.child({ rule: rule.name });
    if (t < rt.skipUntil || rt.lastEvalAt === t) return;
    const stop = this.deps.metrics.evaluationSeconds.startTimer({ rule: rule.name });
    const step = this.source.pollIntervalMs;
    const continuous = rt.lastEvalAt === t - step;
    let next: Map<string, SeriesState>;
    try {
      next = continuous
        ? evaluateRule(rt.series, await this.api.instant(rule.query, t, signal), t, timingOf(rule)).next
        : await this.replay(rt, t, signal);
    } catch (err) {
      stop();
      if (signal?.aborted) return;
      const kind = err instanceof PrometheusError ? err.kind : 'unreachable';
      this.deps.metrics.evaluations.inc({ rule: rule.name, result: 'error' });
      this.deps.metrics.errors.inc({ kind: `prometheus_${kind}` });
      const delay = backoffMs(rt.failures, step, PROMETHEUS_BACKOFF_CAP_MS, this.random);
      rt.failures += 1;
      rt.skipUntil = t + delay;
      // Keep the series state: an outage of the source is not a recovery of the servers.
      log.warn('query failed; keeping state and backing off', { error: err, kind, failures: rt.failures, retry_in_ms: delay });
      return;
    }
    stop();
    this.deps.metrics.evaluations.inc({ rule: rule.name, result: 'ok' });
    if (rt.failures > 0) log.info('query works again', { after_failures: rt.failures });
    rt.failures = 0;
    rt.skipUntil = 0;
    if (!continuous) log.debug('state rebuilt from Prometheus history', { at: new Date(t).toISOString(), series: next.size });
    if (transitionsOf(rt.series) !== transitionsOf(next)) this.dirty = true;
    rt.series = next;
    rt.lastEvalAt = t;
    this.reconcile(rt, t, log);
    let firing = 0;
    for (const s of next.values()) if (s.state === 'firing') firing += 1;
    this.deps.metrics.series.set({ rule: rule.name, state: 'firing' }, firing);
    this.deps.metrics.series.set({ rule: rule.name, state: 'pending' }, next.size - firing);
    this.deps.metrics.evaluationLag.set({ rule: rule.name }, Math.max(0, this.now() - t) / 1000);
  }

  /**
   * The rule's state at `t` rebuilt from Prometheus' history (a range query over the grid),
   * looking further back while an episode may have begun before the window. An episode older
   * than the longest window keeps the start this daemon knew (state file), if any.
   */
  private async replay(rt: RuleRuntime, t: number, signal?: AbortSignal): Promise<Map<string, SeriesState>> {
    const { rule } = rt.compiled;
    const step = this.source.pollIntervalMs;
    const timing = timingOf(rule);
    const longest = MAX_REPLAY_POINTS * step;
    let window = Math.min(longest, Math.ceil((timing.forMs + timing.keepFiringForMs) / step) * step + 16 * step);
    for (;;) {
      const from = t - window;
      const history = await this.api.range(rule.query, { start: from, end: t, step }, signal);
      const { state, uncertain } = replayHistory(history, from, t, step, timing);
      if (uncertain.size > 0 && window < longest) {
        window = Math.min(longest, window * 4);
        continue;
      }
      for (const key of uncertain) {
        const known = rt.series.get(key);
        const s = state.get(key);
        if (s && known && known.activeSince < s.activeSince)
          state.set(key, { ...s, activeSince: known.activeSince, state: known.state === 'firing' ? 'firing' : s.state });
      }
      return state;
    }
  }

  /** One delivery per firing episode: new episodes are queued, ended ones dropped. */
  private reconcile(rt: RuleRuntime, t: number, log: Logger): void {
    const { rule } = rt.compiled;
    const wanted = new Set<string>();
    let queueFull = 0;
    let waiting = 0;
    for (const d of this.deliveries.values()) if (d.status === 'due') waiting += 1;
    for (const s of rt.series.values()) {
      if (s.state !== 'firing') continue;
      const key = episodeKey(rule.name, s);
      wanted.add(key);
      if (this.deliveries.has(key)) continue;
      if (waiting >= this.maxQueue) {
        queueFull += 1;
        continue;
      }
      this.fire(rt.compiled, s, key, t, log);
      waiting += 1;
    }
    if (queueFull) {
      this.deps.metrics.errors.inc({ kind: 'queue_full' }, queueFull);
      log.warn('send queue full; these episodes wait for the next evaluation', { episodes: queueFull, max_queue: this.maxQueue });
    }
    for (const [key, d] of this.deliveries) {
      if (d.rule !== rule.name || wanted.has(key)) continue;
      this.deliveries.delete(key);
      this.dirty = true;
      log.info('series resolved', { series: d.seriesKey, episode: key, delivery: d.status });
    }
  }

  private fire(c: CompiledRule, series: SeriesState, key: string, now: number, log: Logger): void {
    const d: Delivery = {
      key,
      rule: c.rule.name,
      workflow: c.rule.workflow,
      seriesKey: series.key,
      activeSince: series.activeSince,
      status: 'due',
      attempts: 0,
      refusals: 0,
      nextAttemptAt: now,
      firedAt: now,
    };
    try {
      d.request = buildRequest(c, series, key);
      log.info('series firing', {
        labels: series.labels,
        value: series.value,
        workflow: c.rule.workflow,
        episode: key,
        active_since: new Date(series.activeSince).toISOString(),
      });
    } catch (err) {
      d.status = 'invalid';
      this.deps.metrics.errors.inc({ kind: 'template' });
      log.error('cannot build the trigger for a firing series', { labels: series.labels, error: err, episode: key });
    }
    this.deliveries.set(key, d);
    this.dirty = true;
  }

  private async send(d: Delivery, peers: Delivery[]): Promise<void> {
    const log = this.deps.logger.child({ rule: d.rule, workflow: d.workflow, episode: d.key });
    d.attempts += 1;
    const outcome: TriggerOutcome = await this.client.trigger(d.workflow, d.request!);
    const now = this.now();
    this.dirty = true;
    this.deps.metrics.triggers.inc({ rule: d.rule, workflow: d.workflow, result: outcome.kind });
    // The episode may have ended while the request was in flight: nothing left to update.
    const live = this.deliveries.get(d.key) === d;
    if (live) this.record(d, outcome, now, log);
    for (const p of peers) {
      if (this.deliveries.get(p.key) !== p) continue;
      if (outcome.kind === 'started' || outcome.kind === 'rejected') {
        p.status = outcome.kind;
        p.workflowId = outcome.kind === 'started' ? outcome.workflowId : undefined;
        p.coalescedWith = d.key;
        this.deps.metrics.triggers.inc({ rule: p.rule, workflow: p.workflow, result: 'coalesced' });
      } else p.nextAttemptAt = d.nextAttemptAt;
    }
    this.saveSoon();
  }

  private record(d: Delivery, outcome: TriggerOutcome, now: number, log: Logger): void {
    switch (outcome.kind) {
      case 'started':
        d.status = 'started';
        d.workflowId = outcome.workflowId;
        log.info('workflow started', { workflow_id: outcome.workflowId, target: d.request!.target, attempts: d.attempts });
        return;
      case 'refused':
        d.refusals += 1;
        if (d.refusals > MAX_REFUSALS) {
          d.status = 'gave_up';
          this.deps.metrics.errors.inc({ kind: 'refusals_exhausted' });
          log.error('coordinator refused the start too many times; not retrying this episode', {
            refusals: d.refusals,
            message: outcome.message,
          });
          return;
        }
        d.status = 'refused';
        d.nextAttemptAt = now + outcome.retryAfterMs;
        if (d.refusals === 1)
          log.warn('coordinator refused the start (constraint); retrying after Retry-After while the episode fires', {
            message: outcome.message,
            retry_after_ms: outcome.retryAfterMs,
          });
        else log.info('coordinator refused the start again', { refusals: d.refusals, retry_after_ms: outcome.retryAfterMs });
        return;
      case 'rejected':
        d.status = 'rejected';
        this.deps.metrics.errors.inc({ kind: 'coordinator_rejected' });
        log.error('coordinator rejected the trigger: check the rule and the coordinator ACL; not retrying this episode', {
          status: outcome.status,
          message: outcome.message,
          target: d.request!.target,
        });
        return;
      case 'unavailable': {
        const delay = backoffMs(d.attempts - 1, COORDINATOR_BACKOFF.baseMs, COORDINATOR_BACKOFF.capMs, this.random);
        d.nextAttemptAt = now + delay;
        this.deps.metrics.errors.inc({ kind: 'coordinator_unavailable' });
        log.warn('coordinator unavailable; retrying with backoff', {
          status: outcome.status,
          message: outcome.message,
          attempts: d.attempts,
          retry_in_ms: delay,
        });
        return;
      }
    }
  }

  /**
   * Restores state saved by an earlier run, whatever its age: the first evaluation rebuilds
   * each rule from Prometheus' history and keeps a saved episode start only where history
   * cannot tell (an episode older than the replay window), so stale state cannot revive an
   * episode that ended.
   */
  async restore(): Promise<void> {
    if (!this.deps.stateFile) return;
    let saved: SavedState;
    try {
      saved = JSON.parse(await fs.readFile(this.deps.stateFile, 'utf8')) as SavedState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.deps.metrics.errors.inc({ kind: 'state_file' });
        this.deps.logger.warn('ignoring unreadable state file', { file: this.deps.stateFile, error: err });
      }
      return;
    }
    if (saved.version !== 2) {
      this.deps.logger.info('state file of another version; starting from Prometheus history', { version: saved.version });
      return;
    }
    let restored = 0;
    for (const [name, r] of Object.entries(saved.rules)) {
      const rt = this.rules.get(name);
      if (!rt || rt.compiled.rule.query !== r.query) continue;
      rt.series = new Map(r.series.map((s) => [s.key, s]));
      rt.lastEvalAt = undefined;
      restored += r.series.length;
    }
    for (const d of saved.deliveries) {
      if (this.rules.get(d.rule)?.series.has(d.seriesKey)) this.deliveries.set(d.key, d);
    }
    this.deps.logger.info('restored state', {
      series: restored,
      deliveries: this.deliveries.size,
      age_ms: this.now() - saved.savedAt,
    });
  }

  /** Writes the state file soon, once at a time; a change while writing writes again after. */
  private saveSoon(): void {
    if (!this.deps.stateFile || !this.dirty) return;
    if (this.saving) {
      this.saveAgain = true;
      return;
    }
    this.saving = (async () => {
      do {
        this.saveAgain = false;
        await this.save();
      } while (this.saveAgain);
    })().finally(() => (this.saving = undefined));
  }

  private async save(): Promise<void> {
    if (!this.deps.stateFile || !this.dirty) return;
    this.dirty = false;
    const state: SavedState = {
      version: 2,
      savedAt: this.now(),
      rules: Object.fromEntries(
        [...this.rules].map(([name, rt]) => [name, { query: rt.compiled.rule.query, series: [...rt.series.values()] }]),
      ),
      deliveries: [...this.deliveries.values()],
    };
    const tmp = `${this.deps.stateFile}.${process.pid}.tmp`;
    try {
      await fs.mkdir(path.dirname(this.deps.stateFile), { recursive: true });
      await fs.writeFile(tmp, JSON.stringify(state));
      await fs.rename(tmp, this.deps.stateFile);
    } catch (err) {
      this.dirty = true;
      this.deps.metrics.errors.inc({ kind: 'state_file' });
      this.deps.logger.error('cannot write the state file', { file: this.deps.stateFile, error: err });
    }
  }
}
