// The live fleet size that percentage budgets divide by: static numbers from the config, or a
// PromQL count polled from Prometheus. A measurement older than max_age is unknown (fail safe).
import type { BudgetScope, FleetSizeConfig } from '../config/fleet-safety';
import { formatDuration } from '../duration';
import { queryInstant } from '../prometheus/client';
import type { SizeReading } from './policy';

interface Measurement {
  at: number;
  total: number;
  datacenters: Map<string, number>;
  nodeTypes: Map<string, number>;
}

/** Sums a `count by (dc, role) (...)` answer into totals per datacenter and per node type. */
export function sumSeries(
  series: Array<{ labels: Record<string, string>; value: string }>,
  dcLabel: string,
  typeLabel: string,
): Omit<Measurement, 'at'> {
  const datacenters = new Map<string, number>();
  const nodeTypes = new Map<string, number>();
  let total = 0;
  for (const s of series) {
    const n = Number(s.value);
    if (!Number.isFinite(n) || n < 0) continue;
    total += n;
    const dc = s.labels[dcLabel];
    const t = s.labels[typeLabel];
    if (dc !== undefined) datacenters.set(dc, (datacenters.get(dc) ?? 0) + n);
    if (t !== undefined) nodeTypes.set(t, (nodeTypes.get(t) ?? 0) + n);
  }
  return { total, datacenters, nodeTypes };
}

export class FleetSize {
  private measured?: Measurement;
  private lastError = 'not measured yet';
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly cfg: FleetSizeConfig,
    private readonly now: () => number = Date.now,
    private readonly log: (m: string) => void = () => undefined,
  ) {}

  get measuring(): boolean {
    return this.cfg.prometheus !== undefined;
  }

  /** Polls Prometheus every `refresh` until stop(); a no-op for static sizes. */
  start(): void {
    if (!this.measuring || this.timer) return;
    const tick = (): void => {
      void this.refresh().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.cfg.refreshMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One measurement; failures keep the previous one (until it is stale) and say why. */
  async refresh(): Promise<void> {
    if (!this.cfg.prometheus || !this.cfg.query) return;
    try {
      const series = await queryInstant(this.cfg.prometheus, this.cfg.query, Date.now(), Math.min(10_000, this.cfg.refreshMs));
      this.measured = { at: this.now(), ...sumSeries(series, this.cfg.datacenterLabel, this.cfg.nodeTypeLabel) };
    } catch (err) {
      const why = (err as Error).message;
      if (why !== this.lastError) this.log(`fleet size query failed: ${why}`);
      this.lastError = why;
    }
  }

  reading(per: BudgetScope, value: string): SizeReading {
    if (!this.measuring) {
      const n =
        per === 'global'
          ? this.cfg.static
          : per === 'datacenter'
            ? this.cfg.staticDatacenters[value]
            : this.cfg.staticNodeTypes[value];
      if (n === undefined)
        return { unknown: `fleet_size has no static size for ${per === 'global' ? 'the fleet' : `${per} ${value}`}` };
      return { size: n };
    }
    const m = this.measured;
    if (!m) return { unknown: `the fleet size query has not answered yet (${this.lastError})` };
    const age = this.now() - m.at;
    if (age > this.cfg.maxAgeMs)
      return {
        unknown: `the last fleet size is ${formatDuration(age)} old, older than max_age ${formatDuration(this.cfg.maxAgeMs)} (${this.lastError})`,
      };
    if (per === 'global') return { size: m.total };
    const n = (per === 'datacenter' ? m.datacenters : m.nodeTypes).get(value);
    if (n === undefined) return { unknown: `the fleet size query has no series for ${per} ${value}` };
    return { size: n };
  }
}
