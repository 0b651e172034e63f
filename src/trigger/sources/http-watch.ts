// A health-check rule at work: checks its URL at every point of its grid and opens and ends
// episodes (http-episodes.ts). A check never overlaps the next: its timeout is at most `every`.
import { setTimeout as sleep } from 'node:timers/promises';
import type { HttpRule } from '../../config/trigger';
import type { Logger } from '../../telemetry/logger';
import { episodeKey, seriesKey } from '../rule-state';
import { checkHttp } from './http-check';
import { initialHttpState, nextCheckAt, onCheck, resumable, type HttpState, type HttpTiming } from './http-episodes';
import type { FiringEpisode, SavedWatch, Watch, WatchHost } from './watch';

/** An HTTP check has one series: the rule's URL, with no labels. */
const CHECK_SERIES = seriesKey({});

export class HttpWatch implements Watch {
  readonly fingerprint: string;
  readonly input: string;
  private state: HttpState = initialHttpState();
  private readonly timing: HttpTiming;
  private readonly log: Logger;

  constructor(
    readonly rule: HttpRule,
    private readonly host: WatchHost,
    saved?: SavedWatch,
  ) {
    this.timing = { failures: rule.failures, everyMs: rule.everyMs, keepFiringForMs: rule.keepFiringForMs };
    this.fingerprint = JSON.stringify(['http', rule.url, rule.everyMs, rule.failures, rule.keepFiringForMs]);
    this.input = rule.url;
    this.log = host.logger.child({ rule: rule.name, source: 'http' });
    if (saved?.source === 'http' && saved.fingerprint === this.fingerprint) {
      const s = saved.state as HttpState;
      if (resumable(s, host.now(), this.timing)) this.state = s;
      else this.log.info('saved check state is too old to continue; starting afresh', { last_check_at: s.lastCheckAt });
    }
  }

  firing(): FiringEpisode[] {
    const f = this.state.firing;
    if (!f) return [];
    const series = {
      key: CHECK_SERIES,
      labels: {},
      value: f.detail,
      activeSince: f.since,
      lastSeen: this.state.lastCheckAt ?? f.since,
      state: 'firing' as const,
    };
    return [{ key: episodeKey(this.rule.name, series), series }];
  }

  save(): SavedWatch {
    return { source: 'http', fingerprint: this.fingerprint, input: this.input, state: this.state };
  }

  async run(signal: AbortSignal): Promise<void> {
    const { metrics } = this.host;
    const name = this.rule.name;
    while (!signal.aborted) {
      const at = nextCheckAt(this.host.now(), this.rule.everyMs);
      await sleep(Math.max(0, at - this.host.now()), undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      const stop = metrics.evaluationSeconds.startTimer({ rule: name });
      const result = await checkHttp(this.rule.url, {
        timeoutMs: this.rule.timeoutMs,
        followRedirects: this.rule.followRedirects,
        signal,
      });
      stop();
      if (signal.aborted) return;
      metrics.evaluations.inc({ rule: name, result: result.ok ? 'ok' : 'failed' });
      const wasFailing = this.state.failing > 0;
      const r = onCheck(this.state, at, result, this.timing);
      if (!result.ok && !wasFailing) this.log.info('health check failed', { url: this.rule.url, detail: result.detail });
      if (r.opened) {
        this.log.info('health check episode opened', {
          url: this.rule.url,
          detail: result.detail,
          failures: this.state.failing,
          since: new Date(this.state.firing!.since).toISOString(),
        });
      }
      if (r.resolved) this.log.info('health check episode ended', { url: this.rule.url, detail: result.detail });
      metrics.series.set({ rule: name, state: 'firing' }, this.state.firing ? 1 : 0);
      metrics.series.set({ rule: name, state: 'pending' }, !this.state.firing && this.state.failing > 0 ? 1 : 0);
      if (r.opened || r.resolved) this.host.changed(name);
      else this.host.progressed();
    }
  }
}
