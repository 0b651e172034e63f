// worker.hcl: where this worker sits in the fleet (its three queues) and how it behaves.
import * as os from 'node:os';
import type { Decoder } from './decoder';
import { readTemporal, type TemporalConfig } from './temporal';
import { invalidName } from '../temporal/task-queues';

export interface WorkerConfig {
  file: string;
  datacenter: string;
  nodeType: string;
  /** Defaults to the host name. */
  node: string;
  /** How long SIGTERM waits for running activities before giving up. */
  shutdownGraceMs: number;
  /** host:port of the worker's /metrics, or undefined for none. */
  metricsListen?: string;
  temporal: TemporalConfig;
}

export function readWorker(d: Decoder): WorkerConfig {
  const w = d.block('worker', { required: true });
  const names: Record<'datacenter' | 'node_type' | 'node', string | undefined> = {
    datacenter: w?.string('datacenter', { required: true }),
    node_type: w?.string('node_type', { required: true }),
    node: w?.string('node') ?? os.hostname(),
  };
  for (const [field, value] of Object.entries(names) as Array<[keyof typeof names, string | undefined]>) {
    const problem = value === undefined ? undefined : invalidName(field, value);
    if (problem) w?.error(field, problem);
  }
  const shutdownGraceMs = w?.duration('shutdown_grace', { positive: true }) ?? 30_000;
  const metricsListen = w?.string('metrics_listen', { nonEmpty: true });
  w?.finish();
  const temporal = readTemporal(d.block('temporal'));
  d.finish();
  return {
    file: d.file,
    datacenter: names.datacenter ?? '',
    nodeType: names.node_type ?? '',
    node: names.node ?? '',
    shutdownGraceMs,
    metricsListen,
    temporal,
  };
}
