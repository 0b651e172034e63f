// Config markers: every coordinator publishes the concurrency values it enforces (never-running
// executions named after workflow, constraint, value and period) and reads everyone's, so the
// strictest config in use governs every replica (a rolling deploy, a SIGHUP on one of them), and
// the slots a higher past value handed out stay counted after a restart with a lower one.
// Every constrained workflow also announces its config to its admission ledger (src/ledger/),
// once per bucket: maxExecution configs only there; the ledger governs the workflows that use
// it at once, without read-back lag.
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { queryValue } from '../naming/search-attributes';
import type { Client } from '@temporalio/client';
import type { Constraint, WorkflowConfig } from '../config/workflow';
import { constraintKey } from '../config/workflow';
import { startLease } from './leases';
import type { LedgerClient } from '../ledger/client';
import { settledWithin, STOP_WAIT_MS } from '../temporal/connect';

/** Prefix of every marker's workflow id. */
export const MARKER_PREFIX = 'medic-config:';

/** One published config: "coordinator X enforces `value` per `periodMs` for this constraint". */
export interface Marker {
  workflow: string;
  key: string;
  value: number;
  periodMs: number;
  /** Server time of the marker's start: its publisher enforced the config then. */
  startTime: number;
}

/** What admission enforces for one constraint, all replicas' configs taken into account. */
export interface Effective {
  /** The lowest value in use by any coordinator (this one included). */
  value: number;
  /** The longest period in use (maxExecution windows never shrink under a replica). */
  periodMs: number;
  /** The highest value whose executions may still run: slots up to it are counted. */
  highWater: number;
}

export interface MarkerOptions {
  /** A new marker run per config every `bucketMs`; a config is in use while its newest run is younger than 2 buckets. */
  bucketMs?: number;
  /** How often the markers are read back from visibility. */
  refreshMs?: number;
  /** The longest time between taking a slot and starting its execution. */
  startMarginMs: number;
}

/**
 * The id of a config's marker in one time bucket: workflow and target names never contain ':',
 * so ids of different workflows cannot collide; the bucket rolls the marker over so the newest
 * run says when the config was last in use.
 */
export function markerId(workflow: string, key: string, value: number, periodMs: number, bucket: number): string {
  return `${MARKER_PREFIX}${workflow}:${key}:v${value}:p${periodMs}:b${bucket}`;
}

/** A config without its bucket: what announced() remembers. */
function configId(wf: WorkflowConfig, c: Constraint): string {
  return `${wf.name}|${c.kind}|${c.isGlobal}|${c.value}|${c.periodMs}`;
}

const MARKER_ID = /^medic-config:([^:]+):([^:]+):v(\d+):p(\d+):b\d+$/;

export function parseMarkerId(id: string): Omit<Marker, 'startTime'> | undefined {
  const m = MARKER_ID.exec(id);
  return m ? { workflow: m[1]!, key: m[2]!, value: Number(m[3]), periodMs: Number(m[4]) } : undefined;
}

/**
 * The config admission enforces for `own` given the markers seen: the lowest value and longest
 * period among configs in use (published within `inUseMs` of the newest marker: the server's
 * clock, not this coordinator's), and the highest value among markers still running (their
 * executions may still hold slots). Pure.
 */
export function effective(
  own: Constraint,
  key: string,
  workflow: string,
  markers: readonly Marker[],
  inUseMs: number,
): Effective {
  const mine = markers.filter((m) => m.workflow === workflow && m.key === key);
  const newest = Math.max(0, ...markers.map((m) => m.startTime));
  const inUse = mine.filter((m) => m.startTime > newest - inUseMs);
  return {
    value: Math.min(own.value, ...inUse.map((m) => m.value)),
    periodMs: Math.max(own.periodMs, ...inUse.map((m) => m.periodMs)),
    highWater: Math.max(own.value, ...mine.map((m) => m.value)),
  };
}

export class ConfigMarkers {
  private markers: Marker[] = [];
  private readonly published = new Set<string>();
  private readonly bucketMs: number;
  private readonly refreshMs: number;
  private inflight: Promise<void> | undefined;
  private synced = false;
  /** Configs published at least once (in any bucket): admission waits for nothing else. */
  private readonly announced = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly temporal: {
      withDeadline<T>(fn: (c: Client) => Promise<T>): Promise<T>;
      visibility<T>(fn: (c: Client) => Promise<T>, timeoutMs: number): Promise<T>;
    },
    private readonly workflows: () => ReadonlyMap<string, WorkflowConfig>,
    private readonly opts: MarkerOptions,
    private readonly log: (message: string) => void,
    private readonly now: () => number = Date.now,
    /** Workflows with a ledger are also announced to it (once per bucket), so an idle replica's stricter config still governs. */
    private readonly ledger?: LedgerClient,
  ) {
    this.bucketMs = opts.bucketMs ?? 60_000;
    this.refreshMs = opts.refreshMs ?? 2_000;
  }

  /** Starts publishing and reading markers in the background (every refreshMs). */
  start(): () => Promise<void> {
    let failing = false;
    // Announce the configs at once (admission also waits for it before its first decision).
    this.syncOnce().catch(() => undefined);
    this.timer = setInterval(() => {
      if (this.inflight) return;
      this.syncOnce().then(
        () => {
          if (failing) this.log('config markers are read again');
          failing = false;
        },
        (err: unknown) => {
          if (!failing)
            this.log(`config markers cannot be published or read (admission waits for them): ${(err as Error).message}`);
          failing = true;
        },
      );
    }, this.refreshMs);
    this.timer.unref();
    // Stopping waits for a sync in flight: no call may outlive the coordinator's connection.
    return async () => {
      clearInterval(this.timer);
      await settledWithin(this.inflight, STOP_WAIT_MS);
    };
  }

  /**
   * Resolves once the markers were read and `wf`'s constraints, as configured now, are published:
   * a config is announced before it decides anything (after a reload or a restart too).
   */
  async ready(wf: WorkflowConfig): Promise<void> {
    if (this.synced && wf.constraints.every((c) => this.announced.has(configId(wf, c)))) return;
    await this.syncOnce();
    const failed = this.announceFailures.get(wf.name);
    if (failed && !wf.constraints.every((c) => this.announced.has(configId(wf, c)))) throw failed;
  }

  /** Workflows whose config could not be announced to their ledger in the last sync, with why. */
  private readonly announceFailures = new Map<string, unknown>();

  /** Publishes and reads now (after a reload: the new config is announced before the reload is reported). */
  syncOnce(): Promise<void> {
    this.inflight ??= this.sync().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** The constraint as every replica's config allows it, and the slots that may still be held. */
  effective(wf: WorkflowConfig, c: Constraint): Effective {
    return effective(c, constraintKey(c, wf.constraints), wf.name, this.markers, 2 * this.bucketMs);
  }

  /** Publishes this coordinator's configs (once per bucket each), then reads every marker back. */
  async sync(): Promise<void> {
    const bucket = Math.floor(this.now() / this.bucketMs);
    const pending: Promise<unknown>[] = [];
    for (const wf of this.workflows().values()) {
      // Every constrained workflow's config is announced to its ledger (which governs those that
      // use it, at once); concurrency configs are published as markers too.
      if (this.ledger && wf.constraints.length) {
        const windows = wf.constraints.filter((c) => c.kind === 'maxExecution');
        // A ledger that cannot be reached or run fails only its own workflow's admissions (ready()).
        pending.push(
          this.announceOnce(wf, bucket).then(
            () => {
              this.announceFailures.delete(wf.name);
              windows.forEach((c) => this.announced.add(configId(wf, c)));
            },
            (err: unknown) => void this.announceFailures.set(wf.name, err),
          ),
        );
      }
      for (const c of wf.constraints) {
        if (this.ledger && c.kind === 'maxExecution') continue;
        const key = constraintKey(c, wf.constraints);
        const id = markerId(wf.name, key, c.value, c.periodMs, bucket);
        if (this.published.has(id)) continue;
        const previous = markerId(wf.name, key, c.value, c.periodMs, bucket - 1);
        pending.push(
          this.publish(id, wf, c).then(async () => {
            this.published.add(id);
            this.announced.add(configId(wf, c));
            // The new run holds longer than the previous bucket's: one running marker per config.
            await this.retire(previous);
          }),
        );
      }
    }
    await Promise.all(pending);
    const names = [...this.workflows().values()].filter((wf) => wf.constraints.length).map((wf) => wf.name);
    const seen: Marker[] = [];
    if (names.length === 0) {
      this.markers = seen;
      this.synced = true;
      return;
    }
    await this.temporal.visibility(async (client) => {
      const prefixes = names.map((n) => `WorkflowId STARTS_WITH ${queryValue(`${MARKER_PREFIX}${n}:`)}`).join(' OR ');
      const query = `(${prefixes}) AND ExecutionStatus = 'Running'`;
      for await (const e of client.workflow.list({ query, pageSize: 1000 })) {
        const m = parseMarkerId(e.workflowId);
        if (m) seen.push({ ...m, startTime: e.startTime.getTime() });
      }
    }, 10_000);
    this.markers = seen;
    this.synced = true;
    if (this.published.size > 10_000) this.published.clear();
    if (this.announced.size > 10_000) this.announced.clear();
  }

  /** Per workflow config: the bucket it was last announced to its ledger in. */
  private readonly ledgerAnnounced = new WeakMap<WorkflowConfig, { bucket: number; done: Promise<unknown> }>();

  /** One announce per workflow config and bucket, however many constraints it has. */
  private announceOnce(wf: WorkflowConfig, bucket: number): Promise<unknown> {
    const known = this.ledgerAnnounced.get(wf);
    if (known?.bucket === bucket) return known.done;
    const done = this.temporal
      .withDeadline((client) => this.ledger!.announce(client, wf))
      .catch((err: unknown) => {
        this.ledgerAnnounced.delete(wf);
        throw err;
      });
    this.ledgerAnnounced.set(wf, { bucket, done });
    return done;
  }

  private async retire(id: string): Promise<void> {
    try {
      await this.temporal.withDeadline((client) =>
        client.workflow.getHandle(id).terminate('a newer marker of the same config holds'),
      );
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  /**
   * One marker run: it runs while executions admitted under its config may hold slots (the
   * workflow's timeout for concurrency, the period for maxExecution) plus two buckets.
   */
  private async publish(id: string, wf: WorkflowConfig, c: Constraint): Promise<void> {
    const holds = c.kind === 'concurrency' ? wf.timeoutMs : c.periodMs + this.opts.startMarginMs;
    try {
      await this.temporal.withDeadline((client) =>
        startLease(client, id, holds + 2 * this.bucketMs, { workflow: wf.name, constraint: `${c.kind} ${c.value}` }),
      );
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}
