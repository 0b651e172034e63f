// workflows/<name>.hcl: which Temporal workflow type a configured workflow runs, the queue
// it lands on, and the safety constraints the coordinator checks before starting it.
import type { Decoder } from './decoder';
import { QUEUE_TARGETS, type QueueTarget } from '../naming/task-queues';
import {
  DIAGNOSE_STEP_KINDS,
  RUNBOOK_STEP_KINDS,
  type DiagnoseStep,
  type RunbookStep,
  type RunbookStepKind,
} from '../../workflows/shared/input';
import { placementProblems, unknownPlaceholders, type TemplateContext } from '../../workflows/shared/template';
import { DEFAULT_MAX_DEPTH, MAX_MAX_DEPTH, type OnUnhealed } from '../../workflows/shared/ladder';
import { invalidAbsolutePath } from './worker';
import {
  PARAM_NAME,
  PARAM_TYPES,
  defaultsOf,
  lockedDefaults,
  unconstrained,
  type ParamSchema,
  type ParamSpec,
  type ParamType,
} from '../params/schema';
import { valueProblem } from '../params/values';

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
  /** The defaults of its params: what the workflow gets when callers set nothing. */
  params: Record<string, string>;
  /**
   * `param "name" { ... }` blocks: each param's type, default, constraints, and whether callers
   * may set it. Absent (configs built in code), every param of `params` is a locked string.
   */
  paramSchema?: ParamSchema;
  /** `step "name" { ... }` blocks, for the generic runbook workflow. */
  steps?: RunbookStep[];
  /** `diagnose { ... }` blocks: run when the workflow escalates, their output in the page. */
  diagnose?: DiagnoseStep[];
  /** `on_unhealed { start = "..." }`: the workflow asked for when a run ends escalated (an escalation ladder). */
  onUnhealed?: OnUnhealed;
  /** `disruptive = true`: takes the per-node lock and counts against fleet budgets (src/fleet/). */
  disruptive?: boolean;
  /** `mode = "shadow"`: admission runs in full but answers what would start, and starts nothing. */
  mode?: 'active' | 'shadow';
  /** `approval { ... }`: a human decides before the start (src/approval/). */
  approval?: ApprovalConfig;
  /** `timeout`: the whole execution's bound; the run escalates by then (workflows/deadline.ts), Temporal's execution timeout is a backstop later. */
  timeoutMs: number;
}

/** When a start waits for a human: always, or only when a constraint or budget would refuse it. */
export const APPROVAL_WHEN = ['always', 'beyond_budget'] as const;
export type ApprovalWhen = (typeof APPROVAL_WHEN)[number];

export interface ApprovalConfig {
  when: ApprovalWhen;
  /** SPIFFE IDs that may decide, exact or under a final "/*" (the requester never may: four eyes). */
  approvers: string[];
  /** A request nobody decided within this long expires (nothing starts). */
  timeoutMs: number;
}

/** An approval block without `timeout` expires after this long. */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 30 * 60_000;
/** The longest an approval may wait (its workflow's timer; a request older than this is stale). */
const MAX_APPROVAL_TIMEOUT_MS = 7 * 24 * 3_600_000;

/** `approval { when, approvers, timeout }`: read once per file. */
function readApproval(a: Decoder): ApprovalConfig | undefined {
  const when = (a.string('when', { oneOf: APPROVAL_WHEN }) ?? 'always') as ApprovalWhen;
  const approvers = a.strings('approvers', { required: true }) ?? [];
  if (a.has('approvers') && approvers.length === 0) a.error('approvers', 'is empty: nobody could approve a request');
  approvers.forEach((u, i) => {
    if (!/^spiffe:\/\/[^/\s*]+(\/\S*)?$/.test(u))
      a.diag.error(a.file, `${a.at('approvers')}[${i}]`, `${JSON.stringify(u)} is not a SPIFFE ID (spiffe://trust-domain/path)`);
    else if (u.includes('*') && !(u.endsWith('/*') && !u.slice(0, -2).includes('*')))
      a.diag.error(a.file, `${a.at('approvers')}[${i}]`, `${JSON.stringify(u)}: "*" is allowed only as a final "/*"`);
  });
  const timeoutMs = a.duration('timeout', { positive: true }) ?? DEFAULT_APPROVAL_TIMEOUT_MS;
  if (timeoutMs > MAX_APPROVAL_TIMEOUT_MS) a.error('timeout', 'is longer than 7d: a request that old should be asked again');
  a.finish();
  return approvers.length ? { when, approvers, timeoutMs } : undefined;
}

/** A workflow without `timeout` ends (escalated by Temporal's timeout) after this long. */
export const DEFAULT_WORKFLOW_TIMEOUT_MS = 3_600_000;

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
  const paramSchema = readParams(d);
  const timeoutMs = d.duration('timeout', { positive: true }) ?? DEFAULT_WORKFLOW_TIMEOUT_MS;
  const steps = readSteps(d, workflowType);
  const diagnose = readDiagnose(d);
  const onUnhealed = readOnUnhealed(d);
  const disruptive = d.bool('disruptive', false);
  const mode = (d.string('mode', { oneOf: ['active', 'shadow'] }) ?? 'active') as 'active' | 'shadow';
  const approvalBlock = d.block('approval');
  const approval = approvalBlock ? readApproval(approvalBlock) : undefined;
  d.finish();
  return {
    name,
    file: d.file,
    workflowType,
    taskQueueTarget,
    description,
    constraints,
    params: defaultsOf(paramSchema),
    paramSchema,
    steps,
    ...(diagnose?.length && { diagnose }),
    ...(onUnhealed && { onUnhealed }),
    timeoutMs,
    ...(disruptive && { disruptive }),
    ...(mode === 'shadow' && { mode }),
    ...(approval && { approval }),
  };
}

/** The schema callers' params are checked against: the declared one, or every default locked. */
export function paramSchemaOf(wf: Pick<WorkflowConfig, 'params' | 'paramSchema'>): ParamSchema {
  return wf.paramSchema ?? lockedDefaults(wf.params);
}

function readParam(name: string, p: Decoder): ParamSpec | undefined {
  if (!PARAM_NAME.test(name))
    p.error(undefined, `param name ${JSON.stringify(name)} must start with a letter or "_" and use only letters, digits and "_"`);
  const type = p.string('type', { required: true, oneOf: PARAM_TYPES }) as ParamType | undefined;
  const settable = p.bool('settable', false);
  const secret = p.bool('secret', false);
  const list = p.bool('list', false);
  const description = p.string('description');
  const pattern = p.string('pattern', { nonEmpty: true });
  if (pattern !== undefined) {
    try {
      new RegExp(pattern, 'u');
    } catch (err) {
      p.error('pattern', `is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  const values = p.strings('values');
  if (type === 'enum' && (values === undefined || values.length === 0))
    p.error('values', 'an enum needs a non-empty list of values');
  if (type !== 'enum' && values !== undefined) p.error('values', 'only an enum param has values');
  let min: number | undefined;
  let max: number | undefined;
  if (type === 'duration') {
    min = p.duration('min');
    max = p.duration('max');
  } else if (type === 'int' || type === 'string') {
    min = p.number('min', { integer: true });
    max = p.number('max', { integer: true });
  }
  if (min !== undefined && max !== undefined && min > max) p.error('min', 'is greater than max');
  const prefixes = p.strings('prefixes');
  if (prefixes !== undefined && type !== 'path') p.error('prefixes', 'only a path param has prefixes');
  prefixes?.forEach((pre, i) => {
    const problem = invalidAbsolutePath(pre);
    if (problem) p.diag.error(p.file, `${p.at('prefixes')}[${i}]`, problem);
  });
  const hosts = p.strings('hosts');
  if (hosts !== undefined && type !== 'url' && type !== 'host_port') p.error('hosts', 'only url and host_port params have hosts');
  if (type === 'url' && settable && !hosts?.length) p.error('hosts', 'a settable url param needs the hosts it may point to');
  const written = p.string('default');
  p.finish();
  if (type === undefined) return undefined;
  const spec: ParamSpec = {
    type,
    settable,
    secret,
    list,
    ...(pattern !== undefined && { pattern }),
    ...(values !== undefined && { values }),
    ...(min !== undefined && { min }),
    ...(max !== undefined && { max }),
    ...(prefixes !== undefined && { prefixes }),
    ...(hosts !== undefined && { hosts }),
    ...(description !== undefined && { description }),
  };
  if (written !== undefined) {
    const problem = valueProblem(spec, written);
    if (problem) p.error('default', secret ? `the default ${problem}` : `${JSON.stringify(written)} ${problem}`);
    else spec.default = written;
  }
  if (settable && unconstrained(spec)) {
    p.warning(
      undefined,
      `settable ${type} param without constraints: callers may pass any ${type}; add ${
        type === 'path' ? 'prefixes' : type === 'url' || type === 'host_port' ? 'hosts' : 'a pattern, min/max or an enum'
      }`,
    );
  }
  return spec;
}

/** `param "name" { ... }` blocks, plus the older `params = { ... }` map (locked string defaults). */
function readParams(d: Decoder): ParamSchema {
  const schema: ParamSchema = {};
  for (const { label, body } of d.labeled('param')) {
    const spec = readParam(label, body);
    if (spec) schema[label] = spec;
  }
  for (const [name, value] of Object.entries(d.stringMap('params') ?? {})) {
    if (Object.hasOwn(schema, name))
      d.error(`params.${name}`, `is declared by a param "${name}" block too; write its default there`);
    else if (!PARAM_NAME.test(name)) d.error(`params.${name}`, 'is not a param name (letters, digits and "_")');
    else Object.assign(schema, lockedDefaults({ [name]: value }));
  }
  return schema;
}

/**
 * `on_unhealed { start = "rebootNode" params = { ... } max_depth = 3 }`: the next rung of an
 * escalation ladder. What `start` and `params` name is checked across files (src/config/load.ts).
 */
function readOnUnhealed(d: Decoder): OnUnhealed | undefined {
  const b = d.block('on_unhealed');
  if (!b) return undefined;
  const start = b.string('start', { required: true, nonEmpty: true });
  if (start !== undefined && !WORKFLOW_NAME.test(start)) b.error('start', `${JSON.stringify(start)} is not a workflow name`);
  const params = b.stringMap('params') ?? {};
  for (const [name, template] of Object.entries(params)) checkPlaceholders(b, `params.${name}`, template, 'text');
  const maxDepth = b.number('max_depth', { positive: true, integer: true }) ?? DEFAULT_MAX_DEPTH;
  if (maxDepth < 2 || maxDepth > MAX_MAX_DEPTH)
    b.error('max_depth', `must be between 2 (this run and one more) and ${MAX_MAX_DEPTH}, got ${maxDepth}`);
  b.finish();
  return start === undefined ? undefined : { start, params, maxDepth };
}

/** The workflow type that runs `step` blocks. */
export const RUNBOOK_TYPE = 'runbook';
const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function checkPlaceholders(s: Decoder, key: string, text: string | undefined, context: TemplateContext): void {
  for (const name of text === undefined ? [] : unknownPlaceholders(text)) {
    s.error(key, `unknown placeholder {{${name}}} (known: {{node}}, {{datacenter}}, {{node_type}}, {{params.NAME}})`);
  }
  // Where values are escaped per context (workflows/template.ts), some places take no value at all.
  const placement = text === undefined ? { errors: [], warnings: [] } : placementProblems(text, context);
  for (const message of placement.errors) s.error(key, message);
  for (const message of placement.warnings) s.warning(key, message);
}

/**
 * Reads one step; the keys it accepts depend on its kind, so a misplaced key is an unknown key.
 * A `diagnose` step (`look`) only looks: fewer kinds, and no attempts, precondition or expectations.
 */
function readStep(s: Decoder, seen: Set<string>, look = false): RunbookStep | undefined {
  const name = s.string('name', { required: true, nonEmpty: true });
  if (name !== undefined && !STEP_NAME.test(name)) {
    s.error('name', `${JSON.stringify(name)} must start with a letter and use only letters, digits, '_' and '-'`);
  }
  const what = look ? 'diagnose' : 'step';
  if (name !== undefined && seen.has(name)) s.error('name', `${what} name ${JSON.stringify(name)} is used more than once`);
  if (name !== undefined) seen.add(name);
  const kind = s.string('kind', { required: true, oneOf: look ? DIAGNOSE_STEP_KINDS : RUNBOOK_STEP_KINDS }) as
    RunbookStepKind | undefined;
  const attempts = look ? undefined : s.number('attempts', { positive: true, integer: true });
  const retryDelayMs = look ? undefined : s.duration('retry_delay');
  // A precondition step checks that there is something to heal; when it fails the run ends
  // "nothing to heal" and pages no one.
  const precondition = look ? false : s.bool('precondition', false);
  if (retryDelayMs !== undefined && attempts === undefined) s.warning('retry_delay', 'has no effect without attempts > 1');
  const common = {
    name: name ?? '',
    ...(attempts !== undefined && { attempts }),
    ...(retryDelayMs !== undefined && { retryDelayMs }),
    ...(precondition && { precondition }),
  };
  let step: RunbookStep | undefined;
  switch (kind) {
    case 'command': {
      const command = s.string('command', { required: true, nonEmpty: true });
      const problem = command === undefined ? undefined : invalidAbsolutePath(command);
      if (problem) s.error('command', `${problem}; it must also be listed in worker.hcl allowed_commands`);
      const args = s.strings('args') ?? [];
      args.forEach((a, i) => checkPlaceholders(s, `args[${i}]`, a, 'argv'));
      const timeoutMs = s.duration('timeout', { positive: true });
      const expectExit = look ? undefined : s.number('expect_exit', { integer: true });
      if (command !== undefined && !problem) {
        step = {
          ...common,
          kind,
          command,
          args,
          ...(timeoutMs !== undefined && { timeoutMs }),
          ...(expectExit !== undefined && { expectExit }),
        };
      }
      break;
    }
    case 'http_check': {
      const url = s.string('url', { required: true, nonEmpty: true });
      checkPlaceholders(s, 'url', url, 'url');
      if (url !== undefined && !/^https?:\/\//.test(url))
        s.error('url', `${JSON.stringify(url)} must start with http:// or https://`);
      const expectStatus = look ? undefined : s.number('expect_status', { integer: true });
      if (expectStatus !== undefined && (expectStatus < 100 || expectStatus > 599))
        s.error('expect_status', 'must be an HTTP status (100-599)');
      const expectBody = look ? undefined : s.string('expect_body');
      const timeoutMs = s.duration('timeout', { positive: true });
      if (url !== undefined) {
        step = {
          ...common,
          kind,
          url,
          ...(expectStatus !== undefined && { expectStatus }),
          ...(expectBody !== undefined && { expectBody }),
          ...(timeoutMs !== undefined && { timeoutMs }),
        };
      }
      break;
    }
    case 'prometheus_check': {
      const query = s.string('query', { required: true, nonEmpty: true });
      checkPlaceholders(s, 'query', query, 'promql');
      const expect = look ? 'empty' : ((s.string('expect', { oneOf: ['empty', 'nonempty'] }) ?? 'empty') as 'empty' | 'nonempty');
      const timeoutMs = s.duration('timeout', { positive: true });
      if (query !== undefined)
        step = { ...common, kind, query, ...(!look && { expect }), ...(timeoutMs !== undefined && { timeoutMs }) } as RunbookStep;
      break;
    }
    case 'wait': {
      const durationMs = s.duration('duration', { required: true, positive: true });
      if (durationMs !== undefined) step = { ...common, kind, durationMs };
      break;
    }
    case 'notify': {
      const message = s.string('message', { required: true, nonEmpty: true });
      checkPlaceholders(s, 'message', message, 'text');
      if (message !== undefined) step = { ...common, kind, message };
      break;
    }
  }
  s.finish();
  return name === undefined ? undefined : step;
}

/**
 * `diagnose { name = "..." kind = "..." }` blocks, any workflow: what to look at when it
 * escalates (workflows/diagnose.ts). Unlabelled and in the order written, as steps are.
 */
function readDiagnose(d: Decoder): DiagnoseStep[] | undefined {
  if (!d.has('diagnose')) return undefined;
  const blocks = orderedBlocks(d, 'diagnose', 'diagnose { name = "journal" kind = "command" ... }');
  const seen = new Set<string>();
  return blocks?.map((s) => readStep(s, seen, true)).filter((s): s is RunbookStep => s !== undefined) as DiagnoseStep[];
}

/**
 * Unlabelled blocks, in the order written. The parser turns labelled blocks into a map sorted
 * by label, which would lose that order; so such blocks name themselves inside, and a label is an error.
 */
function orderedBlocks(d: Decoder, key: string, example: string): Decoder[] | undefined {
  const raw = d.body[key];
  if (raw !== undefined && raw !== null && !Array.isArray(raw) && Object.values(raw).every(Array.isArray)) {
    d.blocks(key);
    d.error(key, `${key === 'step' ? 'steps' : `${key} blocks`} run in the order written, so they are unlabelled: ${example}`);
    return undefined;
  }
  return d.blocks(key);
}

function readSteps(d: Decoder, workflowType: string): RunbookStep[] | undefined {
  const blocks = orderedBlocks(d, 'step', 'step { name = "restart" kind = "command" ... }');
  if (!blocks) return undefined;
  const seen = new Set<string>();
  const steps = blocks.map((s) => readStep(s, seen)).filter((s): s is RunbookStep => s !== undefined);
  if (workflowType === RUNBOOK_TYPE) {
    if (!d.has('step')) d.error('step', 'a runbook needs at least one step { ... }');
    return steps;
  }
  if (d.has('step'))
    d.warning('step', `steps are run only by workflow = "${RUNBOOK_TYPE}"; ${JSON.stringify(workflowType)} ignores them`);
  return undefined;
}

/**
 * Which constraint of its kind and scope this is, by period (shortest first): "maxExecution.0",
 * "maxExecution-global.0". Slot ids use it instead of the period, so changing a period keeps the
 * slots (and the executions holding them) of the constraint.
 */
export function constraintKey(c: Constraint, all: readonly Constraint[]): string {
  const same = all.filter((o) => o.kind === c.kind && o.isGlobal === c.isGlobal);
  const rank = [...same].sort((a, b) => a.periodMs - b.periodMs || a.value - b.value).indexOf(c);
  return `${c.kind}${c.isGlobal ? '-global' : ''}.${Math.max(0, rank)}`;
}
