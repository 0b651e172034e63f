// The trigger daemon: every poll interval it runs each rule's query, advances the rule's
// per-series state, and asks the coordinator to start the rule's workflow for every series
// that starts firing, once per episode, retrying only what is worth retrying.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { TriggerConfig } from '../config/load';
import type { PrometheusSource, TriggerRule } from '../config/trigger';
import type { CoordinatorClient, TriggerOutcome, TriggerRequest } from '../client/coordinator-client';
import type { Logger } from '../telemetry/logger';
import { backoffMs } from './backoff';
import type { TriggerMetrics } from './metrics';
import { PrometheusError, queryInstant } from './prometheus';
import { episodeKey, evaluateRule, type SeriesState } from './rule-state';
import { parseTemplate, renderAll, renderTemplate, TemplateError, type TemplatePart } from './template';

export interface DaemonDeps {
  client: Pick<CoordinatorClient, 'trigger'>;
  metrics: TriggerMetrics;
  logger: Logger;
  query?: typeof queryInstant;
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
  failures: number;
  skipUntil: number;
}

export type DeliveryStatus = 'due' | 'started' | 'refused' | 'rejected' | 'invalid';

export interface Delivery {
  key: string;
  rule: string;
  workflow: string;
  seriesKey: string;
  request?: TriggerRequest;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  firedAt: number;
  workflowId?: string;
  refusalLogged?: boolean;
}

interface SavedState {
  version: 1;
  savedAt: number;
  rules: Record<string, { query: string; series: SeriesState[] }>;
  deliveries: Delivery[];
}

const PROMETHEUS_BACKOFF_CAP_MS = 5 * 60_000;
const COORDINATOR_BACKOFF = { baseMs: 1000, capMs: 60_000 };
const MAX_PARALLEL_SENDS = 16;

export function compileRule(rule: TriggerRule): CompiledRule {
  const compile = (m: Record<string, string | undefined>): Record<string, TemplatePart[]> =>
    Object.fromEntries(
      Object.entries(m)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, parseTemplate(v!)]),
    );
  return {
    rule,
    target: compile({ ...rule.target }),
    params: compile(rule.params),
    reason: rule.reason === undefined ? undefined : parseTemplate(rule.reason),
  };
}

/** The trigger request for one firing series; throws TemplateError naming the field. */
export function buildRequest(c: CompiledRule, series: SeriesState, key: string): TriggerRequest {
  const target = renderAll(c.target, series.labels, series.value);
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

export class TriggerDaemon {
  private rules = new Map<string, RuleRuntime>();
  private deliveries = new Map<string, Delivery>();
  private source!: PrometheusSource;
  private client: Pick<CoordinatorClient, 'trigger'>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly query: typeof queryInstant;
  private dirty = false;

  constructor(
    config: TriggerConfig,
    private readonly deps: DaemonDeps,
  ) {
    this.client = deps.client;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.query = deps.query ?? queryInstant;
    this.apply(config, deps.client);
  }

  get pollIntervalMs(): number {
    return this.source.pollIntervalMs;
  }

  /** Swaps in new rules (and client); rules whose name, query and `for` did not change keep their state. */
  apply(config: TriggerConfig, client: Pick<CoordinatorClient, 'trigger'>): void {
    if (!config.prometheus) throw new Error('no prometheus { ... } block in triggers/*.hcl');
    const compiled = config.rules.map(compileRule);
    const next = new Map<string, RuleRuntime>();
    for (const c of compiled) {
      const old = this.rules.get(c.rule.name);
      const same = old && old.compiled.rule.query === c.rule.query && old.compiled.rule.forMs === c.rule.forMs;
      next.set(c.rule.name, same ? { ...old, compiled: c } : { compiled: c, series: new Map(), failures: 0, skipUntil: 0 });
    }
    for (const [key, d] of this.deliveries) {
      const rt = next.get(d.rule);
      if (!rt || !rt.series.has(d.seriesKey)) this.deliveries.delete(key);
    }
    for (const name of this.rules.keys()) {
      if (next.has(name)) continue;
      this.deps.metrics.series.remove({ rule: name, state: 'pending' });
      this.deps.metrics.series.remove({ rule: name, state: 'firing' });
    }
    this.rules = next;
    this.source = config.prometheus;
    this.client = client;
    this.dirty = true;
  }

  /** Deliveries by episode key, for status and tests. */
  snapshot(): Delivery[] {
    return [...this.deliveries.values()].map((d) => ({ ...d }));
  }

  /** One evaluation of every rule, then the sends that are due, then the state file. */
  async tick(signal?: AbortSignal): Promise<void> {
    const now = this.now();
    await Promise.all([...this.rules.values()].map((rt) => this.evaluate(rt, now, signal)));
    await this.dispatch(signal);
    await this.save();
  }

  /** Ticks every poll interval until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = this.now();
      try {
        await this.tick(signal);
      } catch (err) {
        if (!signal.aborted) this.deps.logger.error('evaluation failed', { error: err });
      }
      const wait = Math.max(0, started + this.source.pollIntervalMs - this.now());
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
  }

  private async evaluate(rt: RuleRuntime, now: number, signal?: AbortSignal): Promise<void> {
    const { rule } = rt.compiled;
    const log = this.deps.logger.child({ rule: rule.name });
    if (now < rt.skipUntil) return;
    const stop = this.deps.metrics.evaluationSeconds.startTimer({ rule: rule.name });
    let results;
    try {
      results = await this.query(this.source.address, rule.query, this.source.queryTimeoutMs, signal);
    } catch (err) {
      stop();
      if (signal?.aborted) return;
      const kind = err instanceof PrometheusError ? err.kind : 'unreachable';
      this.deps.metrics.evaluations.inc({ rule: rule.name, result: 'error' });
      this.deps.metrics.errors.inc({ kind: `prometheus_${kind}` });
      const delay = backoffMs(rt.failures, this.source.pollIntervalMs, PROMETHEUS_BACKOFF_CAP_MS, this.random);
      rt.failures += 1;
      rt.skipUntil = now + delay;
      // Keep the series state: an outage of the source is not a recovery of the servers.
      log.warn('query failed; keeping state and backing off', { error: err, kind, failures: rt.failures, retry_in_ms: delay });
      return;
    }
    stop();
    this.deps.metrics.evaluations.inc({ rule: rule.name, result: 'ok' });
    if (rt.failures > 0) log.info('query works again', { after_failures: rt.failures });
    rt.failures = 0;
    rt.skipUntil = 0;

    const { next, events } = evaluateRule(rt.series, results, now, rule.forMs);
    rt.series = next;
    for (const e of events) {
      if (e.kind === 'fired') this.fire(rt.compiled, e.series, now, log);
      else if (e.kind === 'resolved') this.resolve(rule, e.series, log);
      else log.debug('series pending', { labels: e.series.labels, for_ms: rule.forMs });
    }
    if (events.length) this.dirty = true;
    let firing = 0;
    for (const s of next.values()) if (s.state === 'firing') firing += 1;
    this.deps.metrics.series.set({ rule: rule.name, state: 'firing' }, firing);
    this.deps.metrics.series.set({ rule: rule.name, state: 'pending' }, next.size - firing);
  }

  private fire(c: CompiledRule, series: SeriesState, now: number, log: Logger): void {
    const key = episodeKey(c.rule.name, series);
    const d: Delivery = {
      key,
      rule: c.rule.name,
      workflow: c.rule.workflow,
      seriesKey: series.key,
      status: 'due',
      attempts: 0,
      nextAttemptAt: now,
      firedAt: now,
    };
    try {
      d.request = buildRequest(c, series, key);
      log.info('series firing', { labels: series.labels, value: series.value, workflow: c.rule.workflow, episode: key });
    } catch (err) {
      d.status = 'invalid';
      this.deps.metrics.errors.inc({ kind: 'template' });
      log.error('cannot build the trigger for a firing series', { labels: series.labels, error: err, episode: key });
    }
    this.deliveries.set(key, d);
  }

  private resolve(rule: TriggerRule, series: SeriesState, log: Logger): void {
    const key = episodeKey(rule.name, series);
    const d = this.deliveries.get(key);
    this.deliveries.delete(key);
    log.info('series resolved', { labels: series.labels, episode: key, delivery: d?.status });
  }

  private async dispatch(signal?: AbortSignal): Promise<void> {
    const now = this.now();
    const due = [...this.deliveries.values()].filter(
      (d) => (d.status === 'due' || d.status === 'refused') && d.nextAttemptAt <= now,
    );
    for (let i = 0; i < due.length && !signal?.aborted; i += MAX_PARALLEL_SENDS) {
      await Promise.all(due.slice(i, i + MAX_PARALLEL_SENDS).map((d) => this.send(d)));
    }
  }

  private async send(d: Delivery): Promise<void> {
    const log = this.deps.logger.child({ rule: d.rule, workflow: d.workflow, episode: d.key });
    d.attempts += 1;
    const outcome: TriggerOutcome = await this.client.trigger(d.workflow, d.request!);
    const now = this.now();
    this.dirty = true;
    this.deps.metrics.triggers.inc({ rule: d.rule, workflow: d.workflow, result: outcome.kind });
    switch (outcome.kind) {
      case 'started':
        d.status = 'started';
        d.workflowId = outcome.workflowId;
        log.info('workflow started', { workflow_id: outcome.workflowId, target: d.request!.target, attempts: d.attempts });
        return;
      case 'refused':
        d.status = 'refused';
        d.nextAttemptAt = now + outcome.retryAfterMs;
        if (!d.refusalLogged)
          log.warn('coordinator refused the start (constraint); will retry after Retry-After', {
            message: outcome.message,
            retry_after_ms: outcome.retryAfterMs,
          });
        d.refusalLogged = true;
        return;
      case 'rejected':
        d.status = 'rejected';
        this.deps.metrics.errors.inc({ kind: 'coordinator_rejected' });
        log.error('coordinator rejected the trigger: check the rule and the coordinator ACL; not retrying this episode', {
          status: outcome.status,
          message: outcome.message,
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

  /** Restores state saved by an earlier run, if it is recent enough to trust. */
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
    // A series that was firing before a long outage may have resolved and come back since:
    // only trust state younger than a few poll intervals.
    const maxAge = Math.max(5 * 60_000, 3 * this.source.pollIntervalMs);
    const age = this.now() - saved.savedAt;
    if (saved.version !== 1 || age > maxAge) {
      this.deps.logger.info('state file too old or of another version; starting fresh', { age_ms: age });
      return;
    }
    let restored = 0;
    for (const [name, r] of Object.entries(saved.rules)) {
      const rt = this.rules.get(name);
      if (!rt || rt.compiled.rule.query !== r.query) continue;
      rt.series = new Map(r.series.map((s) => [s.key, s]));
      restored += r.series.length;
    }
    for (const d of saved.deliveries) {
      if (this.rules.get(d.rule)?.series.has(d.seriesKey)) this.deliveries.set(d.key, d);
    }
    this.deps.logger.info('restored state', { series: restored, deliveries: this.deliveries.size, age_ms: age });
  }

  private async save(): Promise<void> {
    if (!this.deps.stateFile || !this.dirty) return;
    const state: SavedState = {
      version: 1,
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
      this.dirty = false;
    } catch (err) {
      this.deps.metrics.errors.inc({ kind: 'state_file' });
      this.deps.logger.error('cannot write the state file', { file: this.deps.stateFile, error: err });
    }
  }
}
