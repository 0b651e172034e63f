// What the trigger daemon sees of a log or health-check rule: a watch that runs on its own (a
// tail, a check loop), tells the daemon when its firing episodes change, and saves and restores
// its state (read position, counts, episodes) through the daemon's state file.
import type { HttpRule, LogRule } from '../../config/trigger';
import type { Logger } from '../../telemetry/logger';
import type { TriggerMetrics } from '../metrics';
import type { SeriesState } from '../rule-state';

/** A firing episode and the key every daemon derives for it. */
export interface FiringEpisode {
  key: string;
  series: SeriesState;
}

export interface WatchHost {
  metrics: TriggerMetrics;
  logger: Logger;
  now(): number;
  /** The rule's firing episodes changed: new ones are queued for sending, ended ones dropped. */
  changed(rule: string): void;
  /** Only state that is cheap to lose moved (a read position, a check result): save it soon. */
  progressed(): void;
}

/** A watch's part of the state file. */
export interface SavedWatch {
  source: 'log' | 'http';
  /** The rule's settings that its counts and episodes depend on: a change starts them afresh. */
  fingerprint: string;
  /** What it reads (file, journal, URL): a change starts reading afresh too. */
  input: string;
  position?: unknown;
  state: unknown;
}

export interface Watch {
  readonly rule: LogRule | HttpRule;
  readonly fingerprint: string;
  readonly input: string;
  firing(): FiringEpisode[];
  /** Watches until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  save(): SavedWatch;
}
