// One activity task on the lean worker, as the SDK worker runs it: @temporalio/activity's Context
// in its AsyncLocalStorage (so activities/context.ts works unchanged), heartbeats throttled to
// 0.8 x the heartbeat timeout with the last details winning, cancellation when the heartbeat
// answer asks for it, when the server no longer knows the task, or at the end of a shutdown's
// grace; then exactly one answer: completed, failed or canceled.
import { Context, asyncLocalStorage, type Info } from '@temporalio/activity';
import { ActivityCancellationDetails, CancelledFailure, ApplicationFailure } from '@temporalio/common';
import type { ActivityCancellationDetailsHolder } from '@temporalio/common/lib/activity-cancellation-details';
import { isAbortError } from '@temporalio/common/lib/type-helpers';
import { noopMetricMeter } from '@temporalio/common/lib/metrics';
import type { Log } from '../../telemetry/line-log';
import { backoffDelay } from '../../temporal/connect';
import { STATUS, type CallError, type Message, type WorkflowServiceClient } from './api';
import type { LeanConverter, Payloads } from './converter';

/** Throttle bounds of the SDK worker (defaultHeartbeatThrottleInterval, maxHeartbeatThrottleInterval). */
export const HEARTBEAT_THROTTLE = { defaultMs: 30_000, maxMs: 60_000, share: 0.8 } as const;

/** How long heartbeats wait between RPCs for an activity with this heartbeat timeout. */
export function heartbeatInterval(heartbeatTimeoutMs: number | undefined): number {
  const wanted = heartbeatTimeoutMs ? heartbeatTimeoutMs * HEARTBEAT_THROTTLE.share : HEARTBEAT_THROTTLE.defaultMs;
  return Math.min(wanted, HEARTBEAT_THROTTLE.maxMs);
}

/** Why a running activity is being cancelled. */
export type CancelReason =
  'CANCELLED' | 'PAUSED' | 'RESET' | 'NOT_FOUND' | 'WORKER_SHUTDOWN' | 'HEARTBEAT_DETAILS_CONVERSION_FAILED';

export type Activity = (...args: unknown[]) => Promise<unknown>;

export interface TaskEnv {
  client: WorkflowServiceClient;
  converter: LeanConverter;
  activities: Readonly<Record<string, Activity>>;
  namespace: string;
  taskQueue: string;
  identity: string;
  log: Log;
}

/** How the task ended, for the worker's counters. */
export type TaskOutcome = 'completed' | 'failed' | 'cancelled' | 'abandoned';

const durationMs = (d: unknown): number | undefined => {
  if (!d || typeof d !== 'object') return undefined;
  const { seconds, nanos } = d as { seconds?: number; nanos?: number };
  const ms = Number(seconds ?? 0) * 1000 + Number(nanos ?? 0) / 1e6;
  return ms > 0 ? ms : undefined;
};
const timestampMs = (t: unknown): number => durationMs(t) ?? 0;

/** A polled task, running. `cancel` is what the worker calls at the end of a shutdown's grace. */
export class ActivityTask {
  readonly done: Promise<TaskOutcome>;
  readonly activityType: string;
  private readonly token: Buffer;
  private readonly abort = new AbortController();
  private readonly details: ActivityCancellationDetailsHolder = {};
  private reason: CancelReason | undefined;
  private rejectCancelled: (err: CancelledFailure) => void = () => undefined;
  // Heartbeats: at most one RPC per interval; details given in between wait, the last one wins.
  private interval: number = HEARTBEAT_THROTTLE.defaultMs;
  private nextBeatAt = 0;
  private inFlight = false;
  private pending: { details: unknown } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(
    private readonly env: TaskEnv,
    private readonly task: Message,
  ) {
    this.token = Buffer.from(task.taskToken as Uint8Array);
    this.activityType = String((task.activityType as { name?: string } | undefined)?.name ?? '');
    // Never rejects: a task that could not even be answered frees its slot all the same.
    this.done = this.run().catch((err: unknown) => {
      this.env.log('error', 'activity task ended without an answer', {
        activity_type: this.activityType,
        error: (err as Error)?.message ?? String(err),
      });
      return 'abandoned' as const;
    });
  }

  cancel(reason: CancelReason): void {
    if (this.reason || this.finished) return;
    this.reason = reason;
    this.details.details = new ActivityCancellationDetails({
      cancelRequested: reason === 'CANCELLED',
      notFound: reason === 'NOT_FOUND',
      paused: reason === 'PAUSED',
      reset: reason === 'RESET',
      workerShutdown: reason === 'WORKER_SHUTDOWN',
    });
    const err = new CancelledFailure(reason);
    this.abort.abort(err);
    this.rejectCancelled(err);
  }

  private async info(): Promise<Info> {
    const t = this.task;
    const execution = t.workflowExecution as { workflowId?: string; runId?: string } | undefined;
    const heartbeatTimeoutMs = durationMs(t.heartbeatTimeout);
    return {
      taskToken: this.token,
      base64TaskToken: this.token.toString('base64'),
      activityId: String(t.activityId ?? ''),
      activityType: this.activityType,
      activityNamespace: this.env.namespace,
      attempt: Number(t.attempt ?? 1),
      isLocal: false,
      workflowExecution: { workflowId: execution?.workflowId ?? '', runId: execution?.runId ?? '' },
      workflowNamespace: String(t.workflowNamespace ?? this.env.namespace),
      workflowType: String((t.workflowType as { name?: string } | undefined)?.name ?? ''),
      scheduledTimestampMs: timestampMs(t.scheduledTime),
      scheduleToCloseTimeoutMs: durationMs(t.scheduleToCloseTimeout) ?? 0,
      startToCloseTimeoutMs: durationMs(t.startToCloseTimeout) ?? 0,
      currentAttemptScheduledTimestampMs: timestampMs(t.currentAttemptScheduledTime),
      heartbeatTimeoutMs,
      heartbeatDetails: await this.env.converter.heartbeatDetails(t.heartbeatDetails as Payloads | undefined),
      taskQueue: this.env.taskQueue,
      namespace: this.env.namespace,
      inWorkflow: execution !== undefined,
    };
  }

  private logger() {
    const fields = { activity_type: this.activityType, task_queue: this.env.taskQueue };
    const at =
      (level: 'debug' | 'info' | 'warn' | 'error') =>
      (message: string, meta?: Record<string, unknown>): void =>
        this.env.log(level, message, { ...fields, ...meta });
    return {
      log: (level: string, message: string, meta?: Record<string, unknown>) =>
        this.env.log(level === 'WARN' ? 'warn' : level === 'ERROR' ? 'error' : level === 'INFO' ? 'info' : 'debug', message, {
          ...fields,
          ...meta,
        }),
      trace: at('debug'),
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
    };
  }

  private async run(): Promise<TaskOutcome> {
    let answer:
      | { method: 'RespondActivityTaskCompleted' | 'RespondActivityTaskFailed' | 'RespondActivityTaskCanceled'; body: Message }
      | undefined;
    try {
      answer = await this.execute();
    } catch (err) {
      // Encoding the answer failed (a result the converter cannot serialize, a codec error).
      answer = { method: 'RespondActivityTaskFailed', body: { failure: await this.env.converter.failure(err) } };
    }
    this.finished = true;
    clearTimeout(this.timer);
    if (this.reason === 'NOT_FOUND') return 'abandoned'; // the server has let go of this task: nobody to answer
    if (answer.method === 'RespondActivityTaskFailed' && this.pending)
      answer.body.lastHeartbeatDetails = await this.env.converter.details(this.pending.details).catch(() => undefined);
    const outcome: TaskOutcome =
      answer.method === 'RespondActivityTaskCompleted'
        ? 'completed'
        : answer.method === 'RespondActivityTaskFailed'
          ? 'failed'
          : 'cancelled';
    return (await this.respond(answer.method, answer.body)) ? outcome : 'abandoned';
  }

  private async execute(): Promise<{
    method: 'RespondActivityTaskCompleted' | 'RespondActivityTaskFailed' | 'RespondActivityTaskCanceled';
    body: Message;
  }> {
    const { converter } = this.env;
    const fn = Object.prototype.hasOwnProperty.call(this.env.activities, this.activityType)
      ? this.env.activities[this.activityType]
      : undefined;
    let args: unknown[];
    let info: Info;
    try {
      if (!fn)
        throw ApplicationFailure.create({
          type: 'NotFoundError',
          message: `Activity function ${this.activityType} is not registered on this worker, available activities: ${JSON.stringify(Object.keys(this.env.activities))}`,
        });
      info = await this.info();
      this.interval = heartbeatInterval(info.heartbeatTimeoutMs);
      args = await converter.args(this.task.input as Payloads | undefined);
    } catch (err) {
      return { method: 'RespondActivityTaskFailed', body: { failure: await converter.failure(err) } };
    }
    const cancelled = new Promise<never>((_, reject) => (this.rejectCancelled = reject));
    cancelled.catch(() => undefined);
    const context = new Context(
      info,
      cancelled,
      this.abort.signal,
      (details?: unknown) => this.heartbeat(details),
      undefined,
      this.logger(),
      noopMetricMeter,
      this.details,
    );
    try {
      const result = await asyncLocalStorage.run(context, () => fn(...args));
      return { method: 'RespondActivityTaskCompleted', body: { result: await converter.result(result) } };
    } catch (err) {
      if (this.reason && (err instanceof CancelledFailure || isAbortError(err))) {
        if (this.reason === 'CANCELLED') {
          const failure = await converter.cancelled(err instanceof CancelledFailure ? err : new CancelledFailure(this.reason));
          return { method: 'RespondActivityTaskCanceled', body: { details: failure.canceledFailureInfo?.details ?? undefined } };
        }
        // Not asked for by the server (shutdown, pause, reset): a retryable failure, so the
        // activity runs again (on another worker, or on this one once restarted).
        const why = {
          WORKER_SHUTDOWN: ['Worker is shutting down', 'WorkerShutdown'],
          PAUSED: ['Activity paused', 'ActivityPause'],
          RESET: ['Activity reset', 'ActivityReset'],
          HEARTBEAT_DETAILS_CONVERSION_FAILED: ['HEARTBEAT_DETAILS_CONVERSION_FAILED', 'CancelledFailure'],
          NOT_FOUND: ['Activity no longer known to the server', 'NotFound'],
        } as const;
        const [message, type] = why[this.reason];
        return {
          method: 'RespondActivityTaskFailed',
          body: { failure: await converter.failure(ApplicationFailure.retryable(message, type)) },
        };
      }
      if (!(err instanceof ApplicationFailure && err.category === 'BENIGN'))
        this.env.log('warn', 'Activity failed', {
          activity_type: this.activityType,
          task_queue: this.env.taskQueue,
          error: (err as Error)?.message ?? String(err),
        });
      return { method: 'RespondActivityTaskFailed', body: { failure: await converter.failure(err) } };
    }
  }

  private heartbeat(details: unknown): void {
    if (this.finished) return;
    this.pending = { details };
    this.beatWhenAllowed();
  }

  private beatWhenAllowed(): void {
    if (this.inFlight || this.timer || !this.pending) return;
    const wait = this.nextBeatAt - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.beatWhenAllowed();
      }, wait);
      return;
    }
    const { details } = this.pending;
    this.pending = undefined;
    this.inFlight = true;
    this.nextBeatAt = Date.now() + this.interval;
    void this.sendHeartbeat(details).finally(() => {
      this.inFlight = false;
      if (!this.finished) this.beatWhenAllowed();
    });
  }

  private async sendHeartbeat(details: unknown): Promise<void> {
    let encoded: Payloads | undefined;
    try {
      encoded = await this.env.converter.details(details);
    } catch (err) {
      this.env.log('warn', 'cannot convert heartbeat details; cancelling the activity', { error: (err as Error).message });
      this.cancel('HEARTBEAT_DETAILS_CONVERSION_FAILED');
      return;
    }
    try {
      const answer = await this.env.client.call(
        'RecordActivityTaskHeartbeat',
        { taskToken: this.token, details: encoded, identity: this.env.identity, namespace: this.env.namespace },
        { timeoutMs: 10_000 },
      );
      if (answer.cancelRequested) this.cancel('CANCELLED');
      else if (answer.activityReset) this.cancel('RESET');
      else if (answer.activityPaused) this.cancel('PAUSED');
    } catch (err) {
      // The task timed out (heartbeat or start-to-close) or was already answered: stop working on it.
      if ((err as CallError).code === STATUS.NOT_FOUND) this.cancel('NOT_FOUND');
      else this.env.log('warn', 'heartbeat failed', { activity_type: this.activityType, error: (err as Error).message });
    }
  }

  /** Sends the answer, retrying what a blip can cause for up to a minute; false if it was never delivered. */
  private async respond(
    method: 'RespondActivityTaskCompleted' | 'RespondActivityTaskFailed' | 'RespondActivityTaskCanceled',
    body: Message,
  ): Promise<boolean> {
    const request = { ...body, taskToken: this.token, identity: this.env.identity, namespace: this.env.namespace };
    const giveUpAt = Date.now() + 60_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.env.client.call(method, request, { timeoutMs: 10_000 });
        return true;
      } catch (err) {
        const code = (err as CallError).code;
        const transient = code === STATUS.UNAVAILABLE || code === STATUS.DEADLINE_EXCEEDED || code === STATUS.RESOURCE_EXHAUSTED;
        if (!transient || Date.now() > giveUpAt) {
          this.env.log(code === STATUS.NOT_FOUND ? 'info' : 'warn', 'could not deliver the activity result', {
            activity_type: this.activityType,
            method,
            error: (err as Error).message,
          });
          return false;
        }
        await new Promise((r) =>
          setTimeout(r, backoffDelay(attempt, { initialDelayMs: 200, maxDelayMs: 5000, factor: 2, jitter: 0.5 })),
        );
      }
    }
  }
}
