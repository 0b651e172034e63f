// Configs in use, from the admission ledgers alone: every coordinator announces each constrained
// workflow's config to its ledger (at start, on reload, once per bucket), and the ledger answers
// the constraints as enforced with every replica's config: the strictest in use governs, and a
// value admitted under lately still counts its slots (high water). Admission reads it here before
// deciding (a query when the copy is older than the refresh); a ledger admission's answer, the
// newest reading, replaces the copy. A workflow whose constraints the fleet ledger admits
// (`admission.fleet_constraints`) is announced there instead; its claims' answers keep the copy fresh.
import type { Client } from '@temporalio/client';
import { constraintKey, type Constraint, type WorkflowConfig } from '../config/workflow';
import type { LedgerClient } from '../ledger/client';
import { LedgerTooOldError } from '../ledger/health';
import type { Enforced } from '../ledger/state';
import { settledWithin, STOP_WAIT_MS } from '../temporal/connect';

/** The fleet ledger, for workflows whose constraints it admits. */
export interface FleetConfigs {
  governs(wf: WorkflowConfig): boolean;
  announce(client: Client, wf: WorkflowConfig): Promise<Enforced[]>;
}

export interface ConfigsInUseOptions {
  /** A config is announced once per bucket; it stays in use at the ledger for 2.5 buckets after. */
  bucketMs?: number;
  /** How old the enforced config of a workflow without ledger admissions may be when admission reads it. */
  refreshMs?: number;
}

interface Known {
  /** The constraints announced (their JSON): a reload that changes them announces afresh. */
  config: string;
  bucket: number;
  announced: Promise<unknown>;
  /** The ledger's latest answer, and when it came. */
  enforced?: Enforced[];
  at: number;
  reading?: Promise<void>;
}

export class ConfigsInUse {
  private readonly bucketMs: number;
  private readonly refreshMs: number;
  /** Per workflow name: the config last announced and the ledger's answer. */
  private readonly known = new Map<string, Known>();
  private inflight: Promise<void> | undefined;
  /** Announces and reads started in the background by decisions: stopping waits for them (no call may outlive the connection). */
  private readonly background = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(
    private readonly temporal: { withDeadline<T>(fn: (c: Client) => Promise<T>): Promise<T> },
    private readonly workflows: () => ReadonlyMap<string, WorkflowConfig>,
    private readonly ledger: LedgerClient,
    opts: ConfigsInUseOptions,
    private readonly log: (message: string) => void,
    private readonly now: () => number = Date.now,
    private readonly fleet?: FleetConfigs,
  ) {
    this.bucketMs = opts.bucketMs ?? 60_000;
    this.refreshMs = opts.refreshMs ?? 2_000;
  }

  /** Announces every constrained workflow now and then once per bucket, until the returned function is called. */
  start(): () => Promise<void> {
    let failing = false;
    const tick = (): void => {
      if (this.inflight) return;
      this.inflight = this.announceAll().finally(() => (this.inflight = undefined));
      this.inflight.then(
        () => {
          if (failing) this.log('configs are announced to the ledgers again');
          failing = false;
        },
        (err: unknown) => {
          if (!failing)
            this.log(`configs cannot be announced to their ledgers (admission waits for them): ${(err as Error).message}`);
          failing = true;
        },
      );
    };
    tick();
    const timer = setInterval(tick, Math.min(this.refreshMs, this.bucketMs));
    timer.unref();
    return async () => {
      clearInterval(timer);
      this.stopped = true;
      await settledWithin(Promise.allSettled([this.inflight, ...this.background]), STOP_WAIT_MS);
    };
  }

  private constrained(): WorkflowConfig[] {
    return [...this.workflows().values()].filter((wf) => wf.constraints.length);
  }

  private async announceAll(): Promise<void> {
    await Promise.all(this.constrained().map((wf) => this.announce(wf)));
  }

  /** Announces what is not announced in this bucket and reads every enforced config older than the refresh, and waits for both (after a reload: before it is reported). */
  async syncOnce(): Promise<void> {
    await Promise.all(
      this.constrained().map(async (wf) => {
        await this.announce(wf);
        await this.refresh(wf);
      }),
    );
  }

  /** What is known of `wf` as configured now (undefined before its first announce, or after its constraints changed). */
  private knownOf(wf: WorkflowConfig): Known | undefined {
    const known = this.known.get(wf.name);
    return known?.config === JSON.stringify(this.ledger.constraints(wf)) ? known : undefined;
  }

  private announce(wf: WorkflowConfig): Promise<unknown> {
    const bucket = Math.floor(this.now() / this.bucketMs);
    const known = this.knownOf(wf);
    if (known?.bucket === bucket) return known.announced;
    const config = JSON.stringify(this.ledger.constraints(wf));
    const entry: Known = { config, bucket, at: known?.at ?? 0, enforced: known?.enforced, announced: Promise.resolve() };
    entry.announced = this.temporal
      .withDeadline((client) =>
        this.fleet?.governs(wf)
          ? // A fleet ledger still run by an earlier release's worker (a rolling upgrade) does not know the announce.
            this.fleet.announce(client, wf).catch((err: unknown) => {
              if (err instanceof LedgerTooOldError) return this.ledger.announce(client, wf);
              throw err;
            })
          : this.ledger.announce(client, wf),
      )
      .then(
        (enforced) => {
          entry.enforced = enforced;
          entry.at = this.now();
        },
        (err: unknown) => {
          // Asked again by the next decision (or the timer); an earlier answer stays in use meanwhile.
          if (this.known.get(wf.name) === entry) {
            if (entry.enforced) entry.bucket = -1;
            else this.known.delete(wf.name);
          }
          throw err;
        },
      );
    if (this.known.size > 10_000) this.known.clear();
    this.known.set(wf.name, entry);
    return entry.announced;
  }

  /** Reads the ledger's enforced config of `wf` when the copy is older than the refresh (a failed read keeps the copy). */
  private refresh(wf: WorkflowConfig): Promise<void> {
    const known = this.knownOf(wf);
    if (!known || this.now() - known.at <= this.refreshMs || this.fleet?.governs(wf)) return Promise.resolve();
    known.reading ??= this.temporal
      .withDeadline((client) => this.ledger.enforced(client, wf))
      .then(
        (enforced) => {
          if (enforced) known.enforced = enforced;
          known.at = this.now();
        },
        (err: unknown) =>
          this.log(`the enforced config of ${wf.name} was not read (the last one stays): ${(err as Error).message}`),
      )
      .finally(() => (known.reading = undefined));
    return known.reading;
  }

  /**
   * Before a decision: the first under a config waits until it is announced (its answer is what
   * the ledger enforces); later ones decide on the copy, refreshed in the background every
   * refresh and announced again every bucket, as config markers were read back before.
   */
  async ready(wf: WorkflowConfig): Promise<void> {
    if (!wf.constraints.length) return;
    if (!this.knownOf(wf)?.enforced) {
      await this.announce(wf);
      return;
    }
    if (this.stopped) return;
    for (const work of [this.announce(wf).catch(() => undefined), this.refresh(wf)]) {
      this.background.add(work);
      void work.finally(() => this.background.delete(work));
    }
  }

  /** What an admission's answer says of the configs in use: the newest reading. */
  observe(wf: WorkflowConfig, enforced: Enforced[]): void {
    const known = this.knownOf(wf);
    if (known) {
      known.enforced = enforced;
      known.at = this.now();
    }
  }

  /** The constraint as every replica's config allows it, and the slots that may still be held; undefined before the first answer. */
  effective(wf: WorkflowConfig, c: Constraint): Enforced | undefined {
    const key = constraintKey(c, wf.constraints);
    return this.knownOf(wf)?.enforced?.find((e) => e.key === key && e.kind === c.kind);
  }
}
