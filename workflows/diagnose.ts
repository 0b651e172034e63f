// Diagnostics of an escalating run: the workflow's `diagnose` steps, rendered as runbook steps
// are (each value escaped for where it lands) and run on the run's machine side by side, each
// bounded, so a dead node delays the page by seconds only. A step that cannot run says why.
import { ActivityFailure, isCancellation } from '@temporalio/workflow';
import type { DiagnoseRequest, Diagnosis } from '../activities';
import type { DiagnoseStep, WorkflowInput } from './shared/input';
import { onMachine } from './activity-options';
import { escapeValue, fillTemplate } from './shared/template';
import { nodeQueue } from '../src/naming/task-queues';

/** A step's own timeout unless it sets one. */
const STEP_TIMEOUT_MS = 10_000;

// An argument that is exactly one list param's placeholder becomes one argument per item
// (`du -sh {{params.paths}}`), each escaped as an argument.
const WHOLE_PLACEHOLDER = /^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

function renderArgs(args: string[], input: WorkflowInput): string[] {
  return args.flatMap((arg) => {
    const name = WHOLE_PLACEHOLDER.exec(arg)?.[1];
    const spec =
      name !== undefined && input.paramSchema && Object.hasOwn(input.paramSchema, name) ? input.paramSchema[name] : undefined;
    if (!spec?.list) return [fillTemplate(arg, input, 'argv')];
    const items = fillTemplate(arg, input, 'text')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    return items.map((item) => escapeValue('argv', '', item, arg));
  });
}

/** The step with its placeholders filled in; a TemplateError when a value cannot be placed. */
export function renderDiagnose(step: DiagnoseStep, input: WorkflowInput): DiagnoseRequest {
  switch (step.kind) {
    case 'command':
      return { ...step, args: renderArgs(step.args, input) };
    case 'http_check':
      return { ...step, url: fillTemplate(step.url, input, 'url') };
    case 'prometheus_check':
      return { ...step, query: fillTemplate(step.query, input, 'promql') };
  }
}

/** Where diagnostics run: the target node's queue when it names one, else the machine steps' queue. */
function diagnoseQueue(input: WorkflowInput): string | undefined {
  return input.target?.node ? nodeQueue(input.target.node) : input.activityQueue;
}

/** Runs every diagnose step of the run within `withinMs`; the answers in the order declared. */
export async function runDiagnostics(input: WorkflowInput, withinMs: number): Promise<Diagnosis[]> {
  const taskQueue = diagnoseQueue(input);
  return Promise.all(
    (input.diagnose ?? []).map(async (step): Promise<Diagnosis> => {
      try {
        const acts = onMachine(input, {
          ...(taskQueue && { taskQueue }),
          scheduleToStartTimeout: Math.min(STEP_TIMEOUT_MS, withinMs),
          startToCloseTimeout: (step.timeoutMs ?? STEP_TIMEOUT_MS) + 5_000,
          scheduleToCloseTimeout: withinMs,
          retry: { maximumAttempts: 1 },
        });
        return await acts.diagnose(renderDiagnose(step, input));
      } catch (err) {
        if (isCancellation(err)) throw err;
        const why = err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
        return { name: step.name, output: `not run: ${why}`, truncated: false };
      }
    }),
  );
}
