// workflows/<name>.hcl: which Temporal workflow type a configured workflow runs, the queue
// it lands on, and the safety constraints the coordinator checks before starting it.
import type { Decoder } from './decoder';
import { QUEUE_TARGETS, type QueueTarget } from '../temporal/task-queues';
import type { RunbookStep } from '../../workflows/input';

export type ConstraintKind = 'concurrency' | 'maxExecution';
export const CONSTRAINT_KINDS: readonly ConstraintKind[] = ['concurrency', 'maxExecution'];
/** Spellings accepted for compatibility, with a warning. The seed config writes "concurency". */
const KIND_ALIASES: Record<string, ConstraintKind> = { concurency: 'concurrency' };

export interface Constraint {
  kind: ConstraintKind;
  /** Executions must stay below this count. */
  value: number;
  periodMs: number;
  /** Scope: every target, rather than the same target node. */
  isGlobal: boolean;
}

export interface WorkflowConfig {
  /** The configured name (the file name); what callers trigger. */
  name: string;
  file: string;
  /** The Temporal workflow type, exported by workflows/. */
  workflowType: string;
  taskQueueTarget: QueueTarget;
  description?: string;
  constraints: Constraint[];
  /** Parameters passed to the workflow unless the trigger overrides them. */
  params: Record<string, string>;
  /** `step "name" { ... }` blocks, for the generic runbook workflow. */
  steps?: RunbookStep[];
}

export const WORKFLOW_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function readConstraint(c: Decoder): Constraint | undefined {
  const written = c.string('kind', { required: true });
  let kind: ConstraintKind | undefined;
  if (written !== undefined) {
    if ((CONSTRAINT_KINDS as readonly string[]).includes(written)) kind = written as ConstraintKind;
    else if (KIND_ALIASES[written]) {
      kind = KIND_ALIASES[written];
      c.warning('kind', `"${written}" is read as "${kind}"; please write "${kind}"`);
    } else {
      c.error('kind', `unknown constraint kind ${JSON.stringify(written)} (known: ${CONSTRAINT_KINDS.join(', ')})`);
    }
  }
  const value = c.number('value', { required: true, positive: true, integer: true });
  const periodMs = c.duration('period', { required: true, positive: true });
  const isGlobal = c.bool('is_global', false);
  c.finish();
  if (kind === undefined || value === undefined || periodMs === undefined) return undefined;
  return { kind, value, periodMs, isGlobal };
}

export function readWorkflow(name: string, d: Decoder): WorkflowConfig {
  if (!WORKFLOW_NAME.test(name)) {
    d.error(
      undefined,
      `workflow name ${JSON.stringify(name)} (from the file name) must start with a letter and use only letters, digits, '_' and '-'`,
    );
  }
  const workflowType = d.string('workflow', { required: true, nonEmpty: true }) ?? '';
  const taskQueueTarget = (d.string('task_queue_target', { required: true, oneOf: QUEUE_TARGETS }) ?? 'node') as QueueTarget;
  const description = d.string('description');
  const constraints = d
    .blocks('constraint')
    .map(readConstraint)
    .filter((c): c is Constraint => c !== undefined);
  const params = d.stringMap('params') ?? {};
  d.finish();
  return { name, file: d.file, workflowType, taskQueueTarget, description, constraints, params };
}
