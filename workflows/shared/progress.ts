// The shape of a run's progress (the `progress` query, workflows/progress.ts) and the memo key a
// run records it under when it ends, so the coordinator reads a closed run's progress without
// replaying it on a worker. No Node APIs: the workflow bundle imports it.

export type ProgressStatus = 'running' | 'succeeded' | 'nothing_to_heal' | 'failed' | 'escalated' | 'cancelled';

export interface ProgressEvent {
  /** Workflow time (ISO 8601). */
  at: string;
  step: string;
  detail?: string;
}

export interface Progress {
  workflow: string;
  status: ProgressStatus;
  /** The step running now (or the last one, once finished). */
  step: string;
  /** 1-based position of `step` in `steps`. */
  stepNumber: number;
  /** The plan, in order. Steps may repeat (retries) without changing the plan. */
  steps: string[];
  /** For steps that retry: which try this is. */
  attempt?: number;
  detail?: string;
  history: ProgressEvent[];
}

/** The memo key of a closed run's last progress (JSON: a Progress without its history). */
export const PROGRESS_MEMO = 'progress';
