// The ledger worker every coordinator runs: polls the admission ledger queue, so ledgers run wherever a coordinator does,
// the ladder queue (the ladder activity, src/coordinator/ladder.ts), the approvals queue (approval
// requests, src/approval/) and the audit journal's queue (src/audit/), each with a Worker of its
// own on the same connection.
//
// It starts with the first admission that needs a ledger, reconnects with backoff when Temporal
// goes away, and stops with the coordinator. Any coordinator's worker can run any ledger: when
// one coordinator stops, its ledgers move to another within the sticky timeout.
import { AsyncResource } from 'node:async_hooks';
import * as os from 'node:os';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import type { TemporalConfig } from '../config/temporal';
import { medicDataConverter } from '../temporal/data-converter';
import { ledgerBundlePath } from '../temporal/bundle-workflows';
import { APPROVAL_QUEUE, LADDER_QUEUE, LEDGER_QUEUE } from '../naming/task-queues';
import { LEDGER_ACTIVITY_QUEUE } from '../ledger/messages';
import type { ApprovalActivities } from '../approval/activities';
import type { LadderActivities } from '../../workflows/ladder';
import { temporalConnection } from '../temporal/tls';
import { backoffDelay } from '../temporal/connect';
import { addedFleetLedgerActivities, createFleetLedgerActivities } from '../ledger/fleet/activities';
import { createLedgerActivities } from '../ledger/activities';
import { heartbeating } from '../temporal/heartbeating';
import { createLogger } from '../telemetry/logger';
import { createWatcherActivities } from '../watcher/activities';

/** Where the ledger worker is: not asked for yet, starting (or retrying after a failure), or polling its queues. */
export type LedgerWorkerStatus = 'not_started' | 'starting' | 'polling';

export class LedgerWorker {
  private running?: Promise<void>;
  private workers: Worker[] = [];
  private ladder?: LadderActivities;
  private auditQueue?: string;
  private stopped = false;
  private wake?: () => void;
  /**
   * The async context of the coordinator's start: the first ledger call comes from inside a
   * trigger's deadline scope, which the worker (and its activities' Temporal calls) must not inherit.
   */
  private readonly context = new AsyncResource('medic-ledger-worker');

  constructor(
    private readonly config: TemporalConfig,
    private readonly visibility: () => Client,
    private readonly log: (message: string) => void,
    private readonly bundlePath = ledgerBundlePath(),
    /** The approval workflow's activities (audit lines and metrics of this coordinator). */
    private readonly approvalActivities?: ApprovalActivities,
    private readonly approvalQueue = APPROVAL_QUEUE,
  ) {}

  /** The ladder activity this worker serves on LADDER_QUEUE (set before the first ensure()). */
  serveLadder(activities: LadderActivities): void {
    this.ladder = activities;
  }

  /** Runs the audit journal (src/audit/workflow.ts) from `queue` too (set before the first ensure()). */
  serveAuditJournal(queue: string): void {
    this.auditQueue = queue;
  }

  /**
   * Whether it polls yet: a coordinator is ready once its ledger worker polls (its Workers take
   * seconds to create; the first admissions waited ~2 s for them in bench:history).
   */
  status(): LedgerWorkerStatus {
    // Its Workers are set just before they run, and cleared when they stop.
    return this.running === undefined ? 'not_started' : this.workers.length > 0 ? 'polling' : 'starting';
  }

  /** Starts polling in the background, once; returns at once. */
  ensure(): void {
    this.running ??= this.context.runInAsyncScope(() => this.loop());
  }

  private async loop(): Promise<void> {
    const { NativeConnection, Worker, Runtime, DefaultLogger } = await import('@temporalio/worker');
    try {
      // The SDK's own lines, warnings and worse only, as medic's JSON lines on stderr (never
      // stdout, which carries the audit lines).
      const sdk = createLogger({ component: 'coordinator.ledger-worker', level: 'warn' });
      Runtime.install({
        logger: new DefaultLogger('WARN', (e) => {
          // The ladder and ledger activity queues have activities only, by design: the SDK's warning about them is no news.
          const activitiesOnly = e.meta?.taskQueue === LADDER_QUEUE || e.meta?.taskQueue === LEDGER_ACTIVITY_QUEUE;
          if (activitiesOnly && e.message.startsWith('No workflows registered')) return;
          // The audit journal's queue has a workflow and no activities, by design too.
          if (e.meta?.taskQueue === this.auditQueue && e.message.startsWith('No activities registered')) return;
          (e.level === 'ERROR' ? sdk.error : sdk.warn)(e.message, { sdk: true, ...(e.meta as Record<string, unknown>) });
        }),
        // The SDK core's lines too: by default it prints them on stdout, among the audit lines.
        telemetryOptions: { logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} } },
      });
    } catch {
      // A runtime is installed already (an in-process test, another worker): it logs as it was set up.
    }
    for (let attempt = 1; !this.stopped; attempt++) {
      let connection: NativeConnection | undefined;
      try {
        const { apiKey, ...conn } = temporalConnection(this.config);
        connection = await NativeConnection.connect({ ...conn, ...(apiKey && { apiKey: apiKey() }) });
        // Every Worker here: this connection, namespace, data converter and identity; workflows from the ledger bundle.
        const create = (taskQueue: string, options: Partial<WorkerOptions>, workflows = true): Promise<Worker> =>
          Worker.create({
            connection: connection!,
            namespace: this.config.namespace,
            taskQueue,
            ...(workflows && {
              workflowBundle: { codePath: this.bundlePath },
              // A task left on a sticky queue moves to the normal one (any coordinator, full
              // history) after this: a stopped coordinator's ledgers move on, and an update's
              // task that its sticky poller misses waits this long, not 2 s (bench:history saw
              // such misses in every round: a task scheduled, never started, timed out).
              stickyQueueScheduleToStartTimeout: '500ms',
            }),
            dataConverter: medicDataConverter(this.config.payloadKeyFile),
            identity: `coordinator-${process.pid}@${os.hostname()}`,
            shutdownGraceTime: '5s',
            ...options,
          });
        const ledgers = await create(LEDGER_QUEUE, {
          activities: {
            // The ledgers' activities have a heartbeat timeout (a dead coordinator's is retried in seconds).
            ...heartbeating({ ...createLedgerActivities(this.visibility), ...createFleetLedgerActivities(this.visibility) }),
            ...createWatcherActivities(this.visibility),
          },
          maxCachedWorkflows: 200,
          maxConcurrentWorkflowTaskExecutions: 4,
          maxConcurrentLocalActivityExecutions: 2,
          maxConcurrentActivityTaskExecutions: 2,
        });
        // The ledger activities a release adds: a queue only coordinators that have them poll.
        const added = await create(
          LEDGER_ACTIVITY_QUEUE,
          {
            activities: heartbeating({ ...addedFleetLedgerActivities(this.visibility) }),
            maxConcurrentActivityTaskExecutions: 2,
          },
          false,
        );
        const ladder = this.ladder
          ? await create(LADDER_QUEUE, { activities: { ...this.ladder }, maxConcurrentActivityTaskExecutions: 4 }, false)
          : undefined;
        // Approval requests: a queue of their own, which coordinators of an earlier release do not poll.
        const approvals = this.approvalActivities
          ? await create(this.approvalQueue, {
              activities: { ...this.approvalActivities },
              maxCachedWorkflows: 100,
              maxConcurrentWorkflowTaskExecutions: 2,
              maxConcurrentActivityTaskExecutions: 2,
            })
          : undefined;
        // The audit journal: one workflow, signals and queries only; its own queue, as approvals.
        const journal = this.auditQueue
          ? await create(this.auditQueue, { maxCachedWorkflows: 10, maxConcurrentWorkflowTaskExecutions: 2 })
          : undefined;
        this.workers = [ledgers, added, ...[ladder, approvals, journal].filter((w): w is Worker => w !== undefined)];
        if (this.stopped) break;
        if (attempt > 1) this.log('admission ledger worker polling again');
        attempt = 0;
        await runTogether(this.workers);
      } catch (err) {
        if (this.stopped) break;
        if (attempt === 1 || attempt % 10 === 0)
          this.log(`admission ledger worker cannot run (attempt ${attempt}), retrying: ${(err as Error).message.split('\n')[0]}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffDelay(Math.max(1, attempt)));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      } finally {
        this.workers = [];
        await connection?.close().catch(() => undefined);
      }
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
    await this.running?.catch(() => undefined);
  }
}

/** Runs workers until all have stopped; when one fails, the others are shut down and its error is thrown. */
async function runTogether(workers: Worker[]): Promise<void> {
  let failure: unknown;
  await Promise.all(
    workers.map((w) =>
      w.run().catch((err: unknown) => {
        failure ??= err;
        for (const other of workers) if (other !== w && other.getState() === 'RUNNING') other.shutdown();
      }),
    ),
  );
  if (failure !== undefined) throw failure;
}
