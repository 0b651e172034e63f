// The trigger daemon: at every point of a grid aligned on the poll interval it evaluates each
// rule at that point (Prometheus `time=`), advances the rule's per-series state, and hands every
// firing episode to the send loop, which asks the coordinator to start the rule's workflow.
// Episodes are identified by their start on the grid, derived from Prometheus' history when
// the daemon has no continuous state of its own, so every replica sends the same key.
// Log and health-check rules run as watches of their own (sources/) and hand their firing
// episodes, keyed alike, to the same send loop and state file.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TriggerConfig } from '../config/load';
import type { HttpRule, LogRule, PrometheusRule, PrometheusSource, TriggerRule } from '../config/trigger';
import type { CoordinatorClient, TriggerOutcome, TriggerRequest } from '../client/coordinator-client';
import type { Logger } from '../telemetry/logger';
import { backoffMs } from './backoff';
import type { TriggerMetrics } from './metrics';
import { PrometheusError, queryInstant, queryRange } from '../prometheus/client';
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
import { HttpWatch } from './sources/http-watch';
import { LogWatch } from './sources/log-watch';
import type { FiringEpisode, SavedWatch, Watch, WatchHost } from './sources/watch';
import {
  nodeFromLabel,
  parseTemplate,
  renderAll,
  renderTemplate,
  TemplateError,
  type TemplatePart,
} from '../config/rule-template';

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
  /** Log watches: how often a followed file is looked at at its end, and the journalctl binary. */
  logPollMs?: number;
  journalctl?: string;
}

interface CompiledRule<R extends TriggerRule = TriggerRule> {
  rule: R;
  target: Record<string, TemplatePart[]>;
  params: Record<string, TemplatePart[]>;
  reason?: TemplatePart[];
}

interface RuleRuntime {
  compiled: CompiledRule<PrometheusRule>;
  series: Map<string, SeriesState>;
  /** The grid point of the last evaluation; the next one continues from it only if it is the next point. */
  lastEvalAt?: number;
  failures: number;
  skipUntil: number;
}

/** A log or health-check rule: its watch runs on its own, under its own abort controller. */
interface WatchRuntime {
  compiled: CompiledRule<LogRule | HttpRule>;
  watch: Watch;
  stop?: AbortController;
  running?: Promise<void>;
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
  /** When the coordinator first refused it (absent in state files of daemons before it: the next refusal sets it). */
  firstRefusedAt?: number;
  nextAttemptAt: number;
  firedAt: number;
  workflowId?: string;
  coalescedWith?: string;
}

interface SavedState {
  version: 2;
  savedAt: number;
  rules: Record<string, { query: string; series: SeriesState[] }>;
  /** Log and health-check rules (absent in files of daemons before them, ignored by those). */
  sources?: Record<string, SavedWatch>;
  deliveries: Delivery[];
}

const PROMETHEUS_BACKOFF_CAP_MS = 5 * 60_000;
const COORDINATOR_BACKOFF = { baseMs: 1000, capMs: 60_000 };
const DEFAULT_MAX_IN_FLIGHT = 16;
const DEFAULT_MAX_QUEUE = 10_000;
/**
 * A refused episode is retried at each Retry-After while it fires, until it was refused more than
 * MAX_REFUSALS times over at least REFUSED_FOR_MS: a refusal by held places answers Retry-After
 * 30 s at most, and a node whose datacenter is busy with other reboots waits its turn that long.
 */
export const MAX_REFUSALS = 20;
export const REFUSED_FOR_MS = 3_600_000;

/** Whether an episode refused `refusals` times, first at `firstRefusedAt`, is given up at `now`. */
export function refusalsExhausted(refusals: number, firstRefusedAt: number, now: number): boolean {
  return refusals > MAX_REFUSALS && now - firstRefusedAt >= REFUSED_FOR_MS;
}
/** Prometheus refuses range queries of more than 11,000 points per series. */
export const MAX_REPLAY_POINTS = 10_000;
/** Read positions and check results are written at most this often (episodes at once). */
const PROGRESS_SAVE_MS = 1000;

export function compileRule<R extends TriggerRule>(rule: R): CompiledRule<R> {
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

/** What a rule's trigger says when the rule sets no `reason`. */
function defaultReason(rule: TriggerRule, value: string): string {
  switch (rule.source) {
    case 'prometheus':
      return `rule ${rule.name}: ${rule.query} = ${value}`;
    case 'log': {
      const where = rule.logFile ?? `journal of ${rule.journalUnit}`;
      return `rule ${rule.name}: ${rule.count} line(s) matching ${JSON.stringify(rule.match)} within ${rule.windowMs / 1000}s in ${where}: ${value}`;
    }
    case 'http':
      return `rule ${rule.name}: ${rule.failures} failed check(s) of ${rule.url}: ${value}`;
  }
}

/** The trigger request for one firing series; throws TemplateError naming the field. */
export function buildRequest(c: CompiledRule, series: SeriesState, key: string, node?: string): TriggerRequest {
  const target = renderAll(c.target, series.labels, series.value, node);
  if (c.rule.target.nodeFrom) target.node = nodeFromLabel(series.labels, c.rule.target.nodeFrom);
  const params = renderAll(c.params, series.labels, series.value, node);
  let reason = defaultReason(c.rule, series.value);
  if (c.reason) {
    try {
      reason = renderTemplate(c.reason, series.labels, series.value, node);
    } catch (err) {
      throw new TemplateError(`reason: ${(err as Error).message}`);
    }
  }
  return { target, params, reason, idempotency_key: key };
}

export const timingOf = (rule: PrometheusRule): RuleTiming => ({ forMs: rule.forMs, keepFiringForMs: rule.keepFiringForMs ?? 0 });

/** What of a rule's state is worth writing down: not `lastSeen` or the value, which change every time. */
const transitionsOf = (series: Map<string, SeriesState>) =>
  [...series.values()].map((s) => `${s.key}|${s.state}|${s.activeSince}|${s.missingSince ?? ''}`).join('\n');

/**
 * A rule's state at grid point `t` rebuilt from Prometheus' history alone: a replay of `for` +
 * `keep_firing_for` + 16 points, four times longer while a series may have been active since
 * before the replay, up to MAX_REPLAY_POINTS points. `uncertain`: the series still undecided then.
 */
export async function rebuildState(
  api: PrometheusApi,
  rule: PrometheusRule,
  t: number,
  step: number,
  signal?: AbortSignal,
): Promise<{ state: Map<string, SeriesState>; uncertain: Set<string> }> {
  const timing = timingOf(rule);
  const longest = MAX_REPLAY_POINTS * step;
  let window = Math.min(longest, Math.ceil((timing.forMs + timing.keepFiringForMs) / step) * step + 16 * step);
  for (;;) {
    const from = t - window;
    const history = await api.range(rule.query, { start: from, end: t, step }, signal);
    const replayed = replayHistory(history, from, t, step, timing);
    if (replayed.uncertain.size === 0 || window >= longest) return replayed;
    window = Math.min(longest, window * 4);
  }
}

export class TriggerDaemon {
  private rules = new Map<string, RuleRuntime>();
  private watches = new Map<string, WatchRuntime>();
  private deliveries = new Map<string, Delivery>();
  private source?: PrometheusSource;
  private api?: PrometheusApi;
  private node = os.hostname();
  /** Set while run() runs: watches added by a reload start under it. */
  private runSignal?: AbortSignal;
  private progressTimer?: NodeJS.Timeout;
  private readonly host: WatchHost;
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
    this.host = {
      metrics: deps.metrics,
      logger: deps.logger,
      now: () => this.now(),
      changed: (rule) => this.watchChanged(rule),
      progressed: () => this.progressed(),
    };
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

  /** The Prometheus poll interval, when there are Prometheus rules. */
  get pollIntervalMs(): number | undefined {
    return this.source?.pollIntervalMs;
  }

  /**
   * Swaps in new rules (and client). Prometheus rules whose name, query, `for` and
   * `keep_firing_for` did not change keep their state; log and health-check rules carry theirs
   * over as a restart would (read position while the input is the same, counts and episodes
   * while the settings they depend on are).
   */
  apply(config: TriggerConfig, client: Pick<CoordinatorClient, 'trigger'>): void {
    const prometheusRules = config.rules.filter((r): r is PrometheusRule => r.source === 'prometheus');
    if (prometheusRules.length && !config.prometheus) throw new Error('no prometheus { ... } block in triggers/*.hcl');
    const next = new Map<string, RuleRuntime>();
    for (const c of prometheusRules.map(compileRule)) {
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
    const nextWatches = new Map<string, WatchRuntime>();
    for (const rule of config.rules) {
      if (rule.source === 'prometheus') continue;
      const old = this.watches.get(rule.name);
      const compiled = compileRule(rule);
      if (old && JSON.stringify(old.compiled.rule) === JSON.stringify(rule)) {
        nextWatches.set(rule.name, { ...old, compiled });
        continue;
      }
      // A changed rule: the old watch stops, the new one goes on from its saved state.
      old?.stop?.abort();
      nextWatches.set(rule.name, { compiled, watch: this.createWatch(rule, old?.watch.save()) });
    }
    for (const [name, old] of this.watches) if (!nextWatches.has(name)) old.stop?.abort();
    for (const name of [...this.rules.keys(), ...this.watches.keys()]) {
      if (next.has(name) || nextWatches.has(name)) continue;
      this.deps.metrics.series.remove({ rule: name, state: 'pending' });
      this.deps.metrics.series.remove({ rule: name, state: 'firing' });
      this.deps.metrics.evaluationLag.remove({ rule: name });
    }
    this.rules = next;
    this.watches = nextWatches;
    this.dropEndedDeliveries();
    this.node = config.node ?? os.hostname();
    this.source = config.prometheus;
    this.api = config.prometheus && (this.deps.prometheus ?? prometheusApi)(config.prometheus);
    if (this.runSignal) for (const rt of this.watches.values()) this.startWatch(rt, this.runSignal);
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
    return gridPoint(this.now() - this.source!.evaluationDelayMs, this.source!.pollIntervalMs);
  }

  /**
   * One evaluation of every rule at grid point `at` (default: the current one); firing episodes
   * go to the send loop, which this does not wait for (see flush).
   */
  async tick(at?: number, signal?: AbortSignal): Promise<void> {
    if (this.source) {
      const t = at ?? this.currentGridPoint();
      await Promise.all([...this.rules.values()].map((rt) => this.evaluate(rt, t, signal)));
    }
    this.sender.pump();
    this.saveSoon();
  }

  /** Sends what is due now and waits for the answers and the state file. */
  async flush(): Promise<void> {
    await this.sender.flush();
    while (this.saving) await this.saving;
  }

  /** Evaluates at every grid point until `signal` aborts; watches and sends run beside it. */
  async run(signal: AbortSignal): Promise<void> {
    this.sender.start();
    this.runSignal = signal;
    for (const rt of this.watches.values()) this.startWatch(rt, signal);
    let last: number | undefined;
    while (!signal.aborted) {
      const source = this.source;
      if (!source || this.rules.size === 0) {
        // No Prometheus rules (yet): nothing to evaluate on the grid until a reload adds some.
        last = undefined;
        await sleep(1000, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const t = this.currentGridPoint();
      if (t === last) {
        const next = t + source.pollIntervalMs;
        const probeMs = source.probeIntervalMs;
        const untilEval = next + source.evaluationDelayMs - this.now();
        const wait = probeMs ? Math.min(probeMs, untilEval) : untilEval;
        // timers/promises removes its abort listener when the wait ends: one per wait would pile up.
        await sleep(Math.max(1, wait), undefined, { signal }).catch(() => undefined);
        if (probeMs && !signal.aborted && this.now() < next) await this.probe(next, signal);
        continue;
      }
      if (last !== undefined && t > last + source.pollIntervalMs)
        this.deps.metrics.missedEvaluations.inc((t - last) / source.pollIntervalMs - 1);
      last = t;
      try {
        await this.tick(t, signal);
      } catch (err) {
        if (!signal.aborted) this.deps.logger.error('evaluation failed', { error: err });
      }
    }
    this.runSignal = undefined;
    this.sender.stop();
    await Promise.all([...this.watches.values()].map((rt) => rt.running));
    await this.sender.settled();
    // Where the watches stopped reading, so a restart goes on from exactly there.
    if (this.progressTimer) {
      clearTimeout(this.progressTimer);
      this.progressTimer = undefined;
      this.dirty = true;
      this.saveSoon();
    }
    while (this.saving) await this.saving;
  }

  private createWatch(rule: LogRule | HttpRule, saved?: SavedWatch): Watch {
    if (rule.source === 'http') return new HttpWatch(rule, this.host, saved);
    return new LogWatch(rule, this.host, saved, { pollMs: this.deps.logPollMs, journalctl: this.deps.journalctl });
  }

  private startWatch(rt: WatchRuntime, signal: AbortSignal): void {
    if (rt.running) return;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    rt.stop = stop;
    const log = this.deps.logger.child({ rule: rt.compiled.rule.name });
    // Episodes restored from the state file (or carried over by a reload) that are not queued yet.
    this.watchChanged(rt.compiled.rule.name);
    rt.running = rt.watch
      .run(stop.signal)
      .catch((err) => log.error('watch failed', { error: err }))
      .finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** A watch's firing episodes changed: queue the new ones, drop the ended ones. */
  private watchChanged(rule: string): void {
    const rt = this.watches.get(rule);
    // A watch replaced by a reload may still report while it stops: only the current one counts.
    if (!rt) return;
    const log = this.deps.logger.child({ rule });
    const queueFull = this.reconcile(rt.compiled, rt.watch.firing(), this.now(), log);
    // A watch has no next evaluation: look again once sends have made room.
    if (queueFull) setTimeout(() => this.watchChanged(rule), COORDINATOR_BACKOFF.baseMs).unref();
    this.sender.pump();
    this.saveSoon();
  }

  /** Positions and check results: written within PROGRESS_SAVE_MS, not at every chunk read. */
  private progressed(): void {
    if (!this.deps.stateFile || this.progressTimer) return;
    this.progressTimer = setTimeout(() => {
      this.progressTimer = undefined;
      this.dirty = true;
      this.saveSoon();
    }, PROGRESS_SAVE_MS);
    this.progressTimer.unref();
  }

  /** Firing episodes of a Prometheus rule, with the keys every replica derives. */
  private prometheusEpisodes(rt: RuleRuntime): FiringEpisode[] {
    const out: FiringEpisode[] = [];
    for (const s of rt.series.values())
      if (s.state === 'firing') out.push({ key: episodeKey(rt.compiled.rule.name, s), series: s });
    return out;
  }

  /** Forgets deliveries whose rule is gone or whose episode is no longer firing. */
  private dropEndedDeliveries(): void {
    const firing = new Set<string>();
    for (const rt of this.rules.values()) for (const e of this.prometheusEpisodes(rt)) firing.add(e.key);
    for (const rt of this.watches.values()) for (const e of rt.watch.firing()) firing.add(e.key);
    for (const [key, d] of this.deliveries) {
      if (!firing.has(key) || (!this.rules.has(d.rule) && !this.watches.has(d.rule))) this.deliveries.delete(key);
    }
  }

  /**
   * Between grid points, looks for new series of `for = 0` rules now rather than at grid point
   * `next`, and fires them at once as episodes starting at `next`: the evaluation at `next`
   * will see the same sample (scraped before `next`) and continue the same episode, so the key
   * is the one every replica derives. Only the wait for the grid is saved; a series that
   * vanishes again before `next` (a flap within one interval) is the one case it starts alone.
   */
  async probe(next: number, signal?: AbortSignal): Promise<void> {
    const step = this.source!.pollIntervalMs;
    await Promise.all(
      [...this.rules.values()]
        .filter((rt) => rt.compiled.rule.forMs === 0 && rt.lastEvalAt === next - step)
        .map(async (rt) => {
          let results: Series[];
          try {
            results = await this.api!.instant(rt.compiled.rule.query, this.now(), signal);
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
          this.reconcile(
            rt.compiled,
            this.prometheusEpisodes(rt),
            this.now(),
            this.deps.logger.child({ rule: rt.compiled.rule.name, probe: true }),
          );
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
    const step = this.source!.pollIntervalMs;
    const continuous = rt.lastEvalAt === t - step;
    let next: Map<string, SeriesState>;
    try {
      next = continuous
        ? evaluateRule(rt.series, await this.api!.instant(rule.query, t, signal), t, timingOf(rule)).next
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
    this.reconcile(rt.compiled, this.prometheusEpisodes(rt), t, log);
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
    const { state, uncertain } = await rebuildState(this.api!, rule, t, this.source!.pollIntervalMs, signal);
    for (const key of uncertain) {
      const known = rt.series.get(key);
      const s = state.get(key);
      if (s && known && known.activeSince < s.activeSince)
        state.set(key, { ...s, activeSince: known.activeSince, state: known.state === 'firing' ? 'firing' : s.state });
    }
    return state;
  }

  /**
   * One delivery per firing episode: new episodes are queued, ended ones dropped. Returns how
   * many new episodes found the queue full (they are queued when the rule is looked at again).
   */
  private reconcile(compiled: CompiledRule, episodes: FiringEpisode[], t: number, log: Logger): number {
    const { rule } = compiled;
    const wanted = new Set<string>();
    let queueFull = 0;
    let waiting = 0;
    for (const d of this.deliveries.values()) if (d.status === 'due') waiting += 1;
    for (const { key, series } of episodes) {
      wanted.add(key);
      if (this.deliveries.has(key)) continue;
      if (waiting >= this.maxQueue) {
        queueFull += 1;
        continue;
      }
      this.fire(compiled, series, key, t, log);
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
    return queueFull;
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
    this.deps.metrics.episodes.inc({ rule: c.rule.name, source: c.rule.source });
    try {
      d.request = buildRequest(c, series, key, this.node);
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
        // A workflow with an approval block: delivered, and waiting for a human (nothing started yet).
        if ((outcome.body as { status?: string } | undefined)?.status === 'awaiting_approval')
          log.info('waiting for an approver', {
            approval_id: (outcome.body as { approval_id?: string }).approval_id,
            target: d.request!.target,
            attempts: d.attempts,
          });
        else log.info('workflow started', { workflow_id: outcome.workflowId, target: d.request!.target, attempts: d.attempts });
        return;
      case 'refused':
        d.refusals += 1;
        d.firstRefusedAt ??= now;
        if (refusalsExhausted(d.refusals, d.firstRefusedAt, now)) {
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
   * episode that ended. Log and health-check rules go on from their saved positions and
   * episodes (their watches decide what of it still holds).
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
    for (const [name, rt] of this.watches) {
      const s = saved.sources?.[name];
      if (!s || rt.running) continue;
      rt.watch = this.createWatch(rt.compiled.rule, s);
      restored += rt.watch.firing().length;
    }
    const watchEpisodes = new Set([...this.watches.values()].flatMap((rt) => rt.watch.firing().map((e) => e.key)));
    for (const d of saved.deliveries) {
      if (this.rules.get(d.rule)?.series.has(d.seriesKey) || watchEpisodes.has(d.key)) this.deliveries.set(d.key, d);
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
      sources: Object.fromEntries([...this.watches].map(([name, rt]) => [name, rt.watch.save()])),
      deliveries: [...this.deliveries.values()],
    };
    // Now, before any await: a watch's read position and its counts must be of the same moment.
    const text = JSON.stringify(state);
    const tmp = `${this.deps.stateFile}.${process.pid}.tmp`;
    try {
      await fs.mkdir(path.dirname(this.deps.stateFile), { recursive: true });
      await fs.writeFile(tmp, text);
      await fs.rename(tmp, this.deps.stateFile);
    } catch (err) {
      this.dirty = true;
      this.deps.metrics.errors.inc({ kind: 'state_file' });
      this.deps.logger.error('cannot write the state file', { file: this.deps.stateFile, error: err });
    }
  }
}
