// What a run's history says on its own: which activities ran and how they ended, the run's input,
// and how the run ended (its result or failure).
import type { Client } from '@temporalio/client';
import {
  decodeArrayFromPayloads,
  decodeFromPayloadsAtIndex,
  decodeOptionalFailureToOptionalError,
} from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { WorkflowInput } from '../../workflows/shared/input';

export interface HistorySummary {
  events: number;
  activities: Array<{ activity_type: string; status: string }>;
}

export function historySummary(history: temporal.api.history.v1.IHistory): HistorySummary {
  const activities = new Map<string, { activity_type: string; status: string }>();
  const events = history.events ?? [];
  for (const e of events) {
    const id = String(e.eventId ?? '');
    if (e.activityTaskScheduledEventAttributes) {
      activities.set(id, {
        activity_type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?',
        status: 'scheduled',
      });
    }
    const closing: Array<[string, { scheduledEventId?: unknown } | null | undefined]> = [
      ['started', e.activityTaskStartedEventAttributes],
      ['completed', e.activityTaskCompletedEventAttributes],
      ['failed', e.activityTaskFailedEventAttributes],
      ['timed_out', e.activityTaskTimedOutEventAttributes],
      ['cancelled', e.activityTaskCanceledEventAttributes],
    ];
    for (const [status, attrs] of closing) {
      const a = attrs && activities.get(String(attrs.scheduledEventId ?? ''));
      if (a) a.status = status;
    }
  }
  return { events: events.length, activities: [...activities.values()] };
}

/** The run's input (its params and their schema), from the first event of its history; undefined when unreadable. */
export async function startInput(
  client: Client,
  history: temporal.api.history.v1.IHistory,
): Promise<Partial<WorkflowInput> | undefined> {
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  try {
    const [input] = await decodeArrayFromPayloads(client.options.loadedDataConverter, payloads);
    return input && typeof input === 'object' ? (input as Partial<WorkflowInput>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How a run ended, from its close event as `handle.result()` reads it (the result, or the failure's
 * message), without asking Temporal again; undefined when the history does not end the run here
 * (it is still running, or it handed over to a new run, which result() would follow).
 */
export async function closedOutcome(
  client: Client,
  history: temporal.api.history.v1.IHistory,
): Promise<{ result: unknown } | { failure: string } | undefined> {
  const last = history.events?.[history.events.length - 1];
  const converter = client.options.loadedDataConverter;
  const completed = last?.workflowExecutionCompletedEventAttributes;
  if (completed && !completed.newExecutionRunId)
    return { result: await decodeFromPayloadsAtIndex(converter, 0, completed.result?.payloads) };
  const failed = last?.workflowExecutionFailedEventAttributes;
  if (failed && !failed.newExecutionRunId) {
    const cause = await decodeOptionalFailureToOptionalError(converter, failed.failure);
    return { failure: cause?.message ?? 'Workflow execution failed' };
  }
  return undefined;
}
