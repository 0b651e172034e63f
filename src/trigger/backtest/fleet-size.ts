// The fleet size of then, for percentage budgets in a backtest: fleet_size's query over the
// window on the same grid (a measured size as the coordinator would have read it), or its
// static sizes. A grid point the query answered nothing for is an unknown size (budgets refuse).
import type { BudgetScope, FleetSizeConfig } from '../../config/fleet-safety';
import { FleetSize, sumSeries } from '../../fleet/fleet-size';
import type { SizeReading } from '../../fleet/policy';
import { prometheusApi } from '../daemon';
import { gridPoint, pointsByTime } from '../rule-state';
import type { Grid } from './grid';
import { windowHistory } from './history';

export type FleetSizeAt = (per: BudgetScope, value: string, at: number) => SizeReading;

export async function fleetSizeHistory(
  cfg: FleetSizeConfig,
  grid: Grid,
  queryTimeoutMs: number,
  signal?: AbortSignal,
): Promise<FleetSizeAt> {
  if (!cfg.prometheus || !cfg.query) {
    const sizes = new FleetSize(cfg);
    return (per, value) => sizes.reading(per, value);
  }
  const api = prometheusApi({ address: cfg.prometheus, pollIntervalMs: grid.step, queryTimeoutMs, evaluationDelayMs: 0 });
  const byTime = pointsByTime(await windowHistory(api, cfg.query, grid, signal));
  const query = cfg.query;
  return (per, value, at) => {
    const t = gridPoint(at, grid.step);
    const series = byTime.get(t);
    if (!series?.length) return { unknown: `the fleet size query ${query} returned nothing at ${new Date(t).toISOString()}` };
    const m = sumSeries(series, cfg.datacenterLabel, cfg.nodeTypeLabel);
    if (per === 'global') return { size: m.total };
    const n = (per === 'datacenter' ? m.datacenters : m.nodeTypes).get(value);
    if (n === undefined)
      return { unknown: `the fleet size query has no series for ${per} ${value} at ${new Date(t).toISOString()}` };
    return { size: n };
  };
}
