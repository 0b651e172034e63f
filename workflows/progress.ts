// The `progress` query every medic workflow answers: which step it is on, how far along, and
// what happened so far. `medic run --wait` and `medic status` show it.
import { defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import type { WorkflowInput } from './shared/input';
import { maskValues } from '../src/params/resolve';
import type { RunDeadline } from './deadline';
import type { Progress, ProgressStatus } from './shared/progress';

export type { Progress, ProgressEvent, ProgressStatus } from './shared/progress';

export const progressQuery = defineQuery<Progress>('progress');

const HISTORY_KEPT = 50;

/** Holds a workflow's progress and answers the `progress` query from it. */
export class ProgressTracker {
  private readonly state: Progress;
  /** The run's secret values (src/params secretValues): never recorded, shown, paged or returned. */
  secrets: string[] = [];
  /** The run's own deadline (OWN_TIMEOUT_PATCH): a page near it is bounded by Temporal's backstop. */
  deadline?: RunDeadline;

  /** `input`: what the run is about (workflow and target), for pages about it. */
  constructor(
    steps: string[],
    readonly input?: WorkflowInput,
  ) {
    this.state = { workflow: workflowInfo().workflowType, status: 'running', step: 'start', stepNumber: 0, steps, history: [] };
    setHandler(progressQuery, () => this.state);
  }

  /** Moves to `step` (one of the plan's steps, or an extra one such as "escalate"). */
  step(step: string, detail?: string, attempt?: number): void {
    detail = this.mask(detail);
    const at = this.state.steps.indexOf(step);
    Object.assign(this.state, { step, stepNumber: at >= 0 ? at + 1 : this.state.stepNumber, detail, attempt });
    this.record(step, detail);
  }

  /** Adds a detail to the current step. */
  note(detail: string): void {
    detail = this.mask(detail);
    this.state.detail = detail;
    this.record(this.state.step, detail);
  }

  finish(status: Exclude<ProgressStatus, 'running'>, detail?: string): void {
    this.state.status = status;
    if (detail !== undefined) this.note(detail);
  }

  /** The progress without its event history: what a closed run records in its memo (PROGRESS_MEMO). */
  snapshot(): Omit<Progress, 'history'> {
    const { history: _history, ...rest } = this.state;
    return rest;
  }

  /** The step running now (or the last one). */
  get current(): string {
    return this.state.step;
  }

  /** `value` with the run's secret values masked (any JSON: a message, a result). */
  mask<T>(value: T): T {
    return maskValues(value, this.secrets);
  }

  /** What happened so far, one line per event: "what was tried" in a page. */
  tried(): string[] {
    return this.state.history.map((e) => `${e.step}${e.detail !== undefined ? `: ${e.detail}` : ''}`);
  }

  private record(step: string, detail?: string): void {
    this.state.history.push({ at: new Date().toISOString(), step, ...(detail !== undefined && { detail }) });
    if (this.state.history.length > HISTORY_KEPT) this.state.history.shift();
  }
}
