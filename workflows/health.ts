// "Is it healthy?" as restartService and rebootNode ask it: systemd says active, the HTTP
// health endpoint answers as expected, and the Prometheus unhealthy-condition query is empty.
import type { Activities } from '../activities';
import type { ParamReader } from './params';

export interface HealthSpec {
  unit?: string;
  url?: string;
  expectStatus?: number;
  expectBody?: string;
  /** PromQL that returns series while the problem persists (like an alert expression). */
  unhealthyQuery?: string;
  timeoutMs: number;
}

export interface Verdict {
  healthy: boolean;
  /** What was checked and what failed, for progress and escalation messages. */
  detail: string;
}

/** Reads the health params shared by the workflows that verify a service. */
export function readHealthSpec(p: ParamReader, unit?: string): HealthSpec {
  const url = p.string('health_url', { pattern: /^https?:\/\/\S+$/, patternHelp: 'must be an http:// or https:// URL' });
  return {
    unit,
    url,
    expectStatus: p.integer('expect_status', 200, { min: 100, max: 599 }),
    expectBody: p.string('expect_body'),
    unhealthyQuery: p.string('unhealthy_query'),
    timeoutMs: p.duration('check_timeout', '10s', { min: 100, max: 5 * 60_000 }),
  };
}

type HealthActivities = Pick<Activities, 'systemdUnit' | 'httpCheck' | 'prometheusQuery'>;

export async function checkHealth(acts: HealthActivities, spec: HealthSpec): Promise<Verdict> {
  const passed: string[] = [];
  if (spec.unit) {
    const s = await acts.systemdUnit({ action: 'status', unit: spec.unit });
    if (!s.active) return { healthy: false, detail: `${s.unit} is ${s.activeState} (${s.subState})` };
    passed.push(`${s.unit} active`);
  }
  if (spec.url) {
    const h = await acts.httpCheck({
      url: spec.url,
      expectStatus: spec.expectStatus,
      expectBody: spec.expectBody,
      timeoutMs: spec.timeoutMs,
    });
    if (!h.healthy) return { healthy: false, detail: `${spec.url}: ${h.detail}` };
    passed.push(`${spec.url} ${h.detail}`);
  }
  if (spec.unhealthyQuery) {
    const q = await acts.prometheusQuery({ query: spec.unhealthyQuery, timeoutMs: spec.timeoutMs });
    if (q.samples.length > 0) return { healthy: false, detail: `unhealthy_query still returns ${q.samples.length} series` };
    passed.push('unhealthy_query empty');
  }
  return { healthy: true, detail: passed.join(', ') || 'no checks configured' };
}
