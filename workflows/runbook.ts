// runbook: the self-service workflow. Runs the steps declared in the workflow's HCL in order
// (command, http_check, prometheus_check, wait, notify); a step that still fails after its
// attempts escalates. Teams add a remediation with a config file, not TypeScript.
import { ActivityFailure, ApplicationFailure, isCancellation, patched, sleep } from '@temporalio/workflow';
import type { RunbookStep, WorkflowInput } from './shared/input';
import { PERMANENT_ERROR_TYPES, onMachine } from './activity-options';
import { escalate } from './escalation';
import { nodeUnreachable, remediation, type OutcomeFields } from './outcome';
import { INVALID_INPUT } from './params';
import { maskValues } from '../src/params/resolve';
import { TemplateError, fillTemplate, type TemplateContext } from './shared/template';
import { TEMPLATE_ESCAPING_PATCH } from './patches';

export interface StepOutcome {
  name: string;
  ok: boolean;
  attempts: number;
  detail: string;
}

export interface RunbookResult extends OutcomeFields {
  workflow: string;
  steps: StepOutcome[];
}

/** Time an activity gets beyond the step's own timeout (queueing, reporting back). */
const MARGIN_MS = 30_000;

/** How a run renders its steps: escaping per context (TEMPLATE_ESCAPING_PATCH), secrets masked in notify messages. */
interface Rendering {
  escaping: boolean;
  /** The run's secret values: a notify message is printed, so they are masked in it. */
  secrets: string[];
}

async function runStep(step: RunbookStep, input: WorkflowInput, r: Rendering): Promise<{ ok: boolean; detail: string }> {
  const fill = (text: string, context: TemplateContext) => fillTemplate(text, input, r.escaping ? context : 'text');
  const timeout = (ms: number | undefined, fallback: number) => ({ startToCloseTimeout: (ms ?? fallback) + MARGIN_MS });
  switch (step.kind) {
    case 'command': {
      const res = await onMachine(input, timeout(step.timeoutMs, 5 * 60_000)).runCommand({
        command: step.command,
        args: step.args.map((a) => fill(a, 'argv')),
        timeoutMs: step.timeoutMs,
      });
      const expected = step.expectExit ?? 0;
      const ok = !res.timedOut && res.exitCode === expected;
      const why = res.timedOut ? 'timed out' : `exit ${res.exitCode ?? res.signal}${ok ? '' : `, expected ${expected}`}`;
      const tail = (res.stderr || res.stdout).trim().slice(-300);
      return { ok, detail: `${step.command}: ${why}${tail ? `: ${tail}` : ''}` };
    }
    case 'http_check': {
      const res = await onMachine(input, timeout(step.timeoutMs, 10_000)).httpCheck({
        url: fill(step.url, 'url'),
        expectStatus: step.expectStatus,
        expectBody: step.expectBody,
        timeoutMs: step.timeoutMs,
      });
      return { ok: res.healthy, detail: `${res.url}: ${res.detail}` };
    }
    case 'prometheus_check': {
      const res = await onMachine(input, timeout(step.timeoutMs, 10_000)).prometheusQuery({
        query: fill(step.query, 'promql'),
        timeoutMs: step.timeoutMs,
      });
      const ok = step.expect === 'empty' ? res.samples.length === 0 : res.samples.length > 0;
      return { ok, detail: `query returned ${res.samples.length} series, expected ${step.expect}` };
    }
    case 'wait':
      await sleep(step.durationMs);
      return { ok: true, detail: `waited ${step.durationMs / 1000}s` };
    case 'notify': {
      // A notification is printed: a secret in its text is masked like everywhere else.
      const message = maskValues(fill(step.message, 'text'), r.secrets);
      const res = await onMachine(input).notify({ message, severity: 'info' });
      return { ok: res.delivered, detail: res.detail };
    }
  }
}

/** An activity failure retrying cannot fix (not allowed, not configured): no point in another attempt. */
function permanent(err: unknown): boolean {
  if (err instanceof TemplateError) return true;
  // The failure's own nonRetryable flag stays false: the retry policy's nonRetryableErrorTypes
  // is what stopped the retries, so look at the type.
  const type = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type : undefined;
  return typeof type === 'string' && PERMANENT_ERROR_TYPES.includes(type);
}

export async function runbook(input: WorkflowInput): Promise<RunbookResult> {
  const steps = input?.steps ?? [];
  return remediation(
    input,
    steps.map((s) => s.name),
    async ({ progress, current }) => {
      if (steps.length === 0) {
        throw ApplicationFailure.nonRetryable(
          `invalid input: runbook ${JSON.stringify(input?.workflow)} has no steps (declare step { ... } blocks in its HCL)`,
          INVALID_INPUT,
        );
      }
      const rendering: Rendering = { escaping: current && patched(TEMPLATE_ESCAPING_PATCH), secrets: progress.secrets };
      const outcomes: StepOutcome[] = [];
      for (const step of steps) {
        const attempts = step.attempts ?? 1;
        let outcome = { ok: false, detail: '' };
        let tried = 0;
        while (tried < attempts && !outcome.ok) {
          tried += 1;
          progress.step(step.name, `${step.kind}${attempts > 1 ? ` (try ${tried} of ${attempts})` : ''}`, tried);
          try {
            outcome = await runStep(step, input, rendering);
          } catch (err) {
            if (isCancellation(err)) {
              progress.finish('cancelled', `cancelled during step ${step.name}`);
              throw err;
            }
            // An unreachable node is no step failure: the catch-all escalates it as such.
            if (current && nodeUnreachable(err)) throw err;
            const message = err instanceof ActivityFailure && err.cause ? err.cause.message : (err as Error).message;
            outcome = { ok: false, detail: message };
            if (permanent(err)) break;
          }
          if (!outcome.ok && tried < attempts) {
            progress.note(`failed: ${outcome.detail}; retrying`);
            await sleep(step.retryDelayMs ?? 5000);
          }
        }
        outcomes.push({ name: step.name, ok: outcome.ok, attempts: tried, detail: outcome.detail });
        if (!outcome.ok && step.precondition && current) {
          const summary = `nothing to heal: precondition "${step.name}" does not hold (${outcome.detail})`;
          return { outcome: 'nothing_to_heal', summary, workflow: input.workflow, steps: outcomes };
        }
        if (!outcome.ok) {
          return escalate(
            progress,
            `runbook ${input.workflow}: step "${step.name}" failed after ${tried} attempt${tried > 1 ? 's' : ''}: ${outcome.detail}`,
          );
        }
        progress.note(outcome.detail);
      }
      const summary = `healed: ${outcomes.length} steps done`;
      return { outcome: 'healed', summary, workflow: input.workflow, steps: outcomes };
    },
  );
}
