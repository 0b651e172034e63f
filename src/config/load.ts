// Loads a config directory: coordinator.hcl, worker.hcl, workflows/*.hcl, triggers/*.hcl.
// Files are read in sorted order; every problem in every file is collected, then the
// cross-file checks run (a trigger naming an unconfigured workflow, an unknown workflow type).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Decoder } from './decoder';
import { ConfigError, Diagnostics, type Diagnostic } from './diagnostics';
import { parseHcl } from './hcl';
import { readCoordinator, type CoordinatorConfig } from './coordinator';
import { readWorker, type WorkerConfig } from './worker';
import { paramSchemaOf, readWorkflow, type WorkflowConfig } from './workflow';
import { valueProblem } from '../params/values';
import { REQUIRED_FIELDS } from '../naming/task-queues';
import { readTriggerFile, type PrometheusSource, type CoordinatorClient, type TriggerRule } from './trigger';

export interface TriggerConfig {
  /** The node the daemon runs on (`{{ $node }}`): triggers' `node`, else worker.hcl's, else the host name. */
  node?: string;
  prometheus?: PrometheusSource;
  coordinator?: CoordinatorClient;
  rules: TriggerRule[];
}

export interface MedicConfig {
  dir: string;
  coordinator?: CoordinatorConfig;
  worker?: WorkerConfig;
  /** Keyed by workflow name (the file name without .hcl). */
  workflows: Map<string, WorkflowConfig>;
  triggers: TriggerConfig;
}

export interface LoadResult {
  config: MedicConfig;
  diagnostics: Diagnostic[];
  ok: boolean;
}

export interface LoadOptions {
  /** Workflow types that workflows/ exports; when given, configs naming others are errors. */
  workflowTypes?: ReadonlySet<string>;
}

const KNOWN_ENTRIES = new Set(['coordinator.hcl', 'worker.hcl', 'workflows', 'triggers']);

/** The name to show for a file: relative to the working directory when below it. */
export function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

async function readDir(dir: string): Promise<string[] | undefined> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch {
    return undefined;
  }
}

async function parseFile(file: string, diag: Diagnostics): Promise<Decoder | undefined> {
  const shown = displayPath(file);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    diag.error(shown, undefined, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  const body = await parseHcl(shown, text, diag);
  return body && new Decoder(body, shown, '', diag);
}

async function hclFiles(dir: string): Promise<string[]> {
  return ((await readDir(dir)) ?? []).filter((f) => f.endsWith('.hcl')).map((f) => path.join(dir, f));
}

export async function loadConfigDir(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const diag = new Diagnostics();
  const root = path.resolve(dir);
  const config: MedicConfig = { dir: root, workflows: new Map(), triggers: { rules: [] } };
  const entries = await readDir(root);
  if (entries === undefined) {
    diag.error(displayPath(root), undefined, 'config directory does not exist or cannot be read');
    return { config, diagnostics: diag.all, ok: false };
  }
  for (const e of entries) {
    if (!KNOWN_ENTRIES.has(e) && !e.startsWith('.')) {
      diag.warning(
        displayPath(path.join(root, e)),
        undefined,
        `not a medic config file; expected ${[...KNOWN_ENTRIES].join(', ')}`,
      );
    }
  }
  if (!entries.some((e) => KNOWN_ENTRIES.has(e))) {
    diag.error(displayPath(root), undefined, 'holds no medic configuration (coordinator.hcl, worker.hcl, workflows/, triggers/)');
  }

  if (entries.includes('coordinator.hcl')) {
    const d = await parseFile(path.join(root, 'coordinator.hcl'), diag);
    if (d) config.coordinator = readCoordinator(d);
  }
  if (entries.includes('worker.hcl')) {
    const d = await parseFile(path.join(root, 'worker.hcl'), diag);
    if (d) config.worker = readWorker(d);
  }

  const lowerNames = new Map<string, string>();
  for (const file of await hclFiles(path.join(root, 'workflows'))) {
    const name = path.basename(file, '.hcl');
    const d = await parseFile(file, diag);
    if (!d) continue;
    const wf = readWorkflow(name, d);
    const clash = lowerNames.get(name.toLowerCase());
    if (clash !== undefined) {
      d.error(
        undefined,
        `workflow name ${JSON.stringify(name)} duplicates ${JSON.stringify(clash)} (names are compared ignoring case)`,
      );
    } else {
      lowerNames.set(name.toLowerCase(), name);
      config.workflows.set(name, wf);
    }
    if (opts.workflowTypes && wf.workflowType && !opts.workflowTypes.has(wf.workflowType)) {
      d.error(
        'workflow',
        `workflow type ${JSON.stringify(wf.workflowType)} is not exported by workflows/ (known: ${[...opts.workflowTypes].sort().join(', ')})`,
      );
    }
  }

  for (const wf of config.workflows.values()) checkLadder(wf, config.workflows, diag);

  // Chat allow rules name configured workflows; a typo would silently allow nothing.
  config.coordinator?.chat?.allow.forEach((rule, i) => {
    for (const name of rule.workflows) {
      if (name !== '*' && !config.workflows.has(name)) {
        diag.warning(
          config.coordinator!.file,
          `chat.allow[${i}].workflows`,
          `workflow ${JSON.stringify(name)} has no config in workflows/; this entry allows nothing`,
        );
      }
    }
  });

  // Callers set only settable params: a mapping to any other param would be refused at every alert.
  config.coordinator?.alertmanager.routes.forEach((route, i) => {
    const at = `alertmanager.route[${i}]`;
    const wf = config.workflows.get(route.workflow);
    if (!wf) {
      diag.error(
        config.coordinator!.file,
        `${at}.workflow`,
        `workflow ${JSON.stringify(route.workflow)} has no config in workflows/`,
      );
      return;
    }
    for (const name of Object.keys(route.params)) {
      const problem = callerParamProblem(wf, name);
      if (problem) diag.error(config.coordinator!.file, `${at}.params.${name}`, problem);
    }
  });

  let prometheusFrom: string | undefined;
  let coordinatorFrom: string | undefined;
  let nodeFrom: string | undefined;
  const ruleFrom = new Map<string, string>();
  for (const file of await hclFiles(path.join(root, 'triggers'))) {
    const d = await parseFile(file, diag);
    if (!d) continue;
    const t = readTriggerFile(d);
    if (t.prometheus) {
      if (prometheusFrom) d.error('prometheus', `already defined in ${prometheusFrom}; define it once`);
      else [prometheusFrom, config.triggers.prometheus] = [d.file, t.prometheus];
    }
    if (t.coordinator) {
      if (coordinatorFrom) d.error('coordinator', `already defined in ${coordinatorFrom}; define it once`);
      else [coordinatorFrom, config.triggers.coordinator] = [d.file, t.coordinator];
    }
    if (t.node !== undefined) {
      if (nodeFrom) d.error('node', `already defined in ${nodeFrom}; define it once`);
      else [nodeFrom, config.triggers.node] = [d.file, t.node];
    }
    for (const rule of t.rules) {
      const other = ruleFrom.get(rule.name);
      if (other) d.error(`rule.${rule.name}`, `rule name is already used in ${other}`);
      ruleFrom.set(rule.name, d.file);
      if (rule.workflow && !config.workflows.has(rule.workflow)) {
        diag.error(d.file, `rule.${rule.name}.workflow`, `workflow ${JSON.stringify(rule.workflow)} has no config in workflows/`);
      }
      const wf = rule.workflow ? config.workflows.get(rule.workflow) : undefined;
      for (const name of wf ? Object.keys(rule.params) : []) {
        const problem = callerParamProblem(wf!, name);
        if (problem) diag.error(d.file, `rule.${rule.name}.params.${name}`, problem);
      }
      config.triggers.rules.push(rule);
    }
  }
  // The trigger daemon runs on the node it watches logs and health checks of, beside its worker.
  config.triggers.node ??= config.worker?.node;
  const needsPrometheus = config.triggers.rules.some((r) => r.source === 'prometheus');
  if (config.triggers.rules.length > 0 && ((needsPrometheus && !config.triggers.prometheus) || !config.triggers.coordinator)) {
    const missing = (['prometheus', 'coordinator'] as const).filter(
      (k) => !config.triggers[k] && (k === 'coordinator' || needsPrometheus),
    );
    diag.warning(
      displayPath(path.join(root, 'triggers')),
      undefined,
      `trigger rules are defined but no ${missing.join(' or ')} block; medic trigger cannot run`,
    );
  }

  return { config, diagnostics: diag.all, ok: !diag.hasErrors };
}

/** Why a caller may not set param `name` of `wf`, or undefined when it may. */
function callerParamProblem(wf: WorkflowConfig, name: string): string | undefined {
  const spec = paramSchemaOf(wf)[name];
  if (!spec) return `workflow ${JSON.stringify(wf.name)} has no param ${JSON.stringify(name)}`;
  if (!spec.settable) return `param ${JSON.stringify(name)} of ${JSON.stringify(wf.name)} is not settable by callers`;
  return undefined;
}

/**
 * An `on_unhealed` block against the workflow it names: that workflow exists, each mapped param is
 * one callers may set there (the next step goes through the same admission as a trigger), a
 * literal value fits its schema, a {{params.NAME}} names a param of this workflow, and the next
 * workflow's queue needs no target field this one's runs may lack.
 */
function checkLadder(wf: WorkflowConfig, workflows: ReadonlyMap<string, WorkflowConfig>, diag: Diagnostics): void {
  const ladder = wf.onUnhealed;
  if (!ladder) return;
  const next = workflows.get(ladder.start);
  if (!next) {
    diag.error(wf.file, 'on_unhealed.start', `workflow ${JSON.stringify(ladder.start)} has no config in workflows/`);
    return;
  }
  const own = paramSchemaOf(wf);
  const schema = paramSchemaOf(next);
  for (const [name, template] of Object.entries(ladder.params)) {
    const at = `on_unhealed.params.${name}`;
    const problem = callerParamProblem(next, name);
    if (problem) {
      diag.error(wf.file, at, problem);
      continue;
    }
    for (const m of template.matchAll(/\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) {
      if (!Object.hasOwn(own, m[1]!))
        diag.error(wf.file, at, `{{params.${m[1]}}}: workflow ${JSON.stringify(wf.name)} has no param ${JSON.stringify(m[1])}`);
    }
    if (!template.includes('{{')) {
      const bad = valueProblem(schema[name]!, template);
      if (bad)
        diag.error(
          wf.file,
          at,
          `${JSON.stringify(template)} ${bad} (param ${JSON.stringify(name)} of ${JSON.stringify(next.name)})`,
        );
    }
  }
  const needs = REQUIRED_FIELDS[next.taskQueueTarget].filter((f) => !REQUIRED_FIELDS[wf.taskQueueTarget].includes(f));
  if (needs.length) {
    diag.warning(
      wf.file,
      'on_unhealed.start',
      `${JSON.stringify(next.name)} (task_queue_target "${next.taskQueueTarget}") needs target.${needs.join(' and target.')}, which runs of ${JSON.stringify(wf.name)} need not have: a run started without it pages instead of climbing`,
    );
  }
}

/** Loads and throws ConfigError on any error: for daemons, which must not run half-configured. */
export async function loadConfigOrThrow(dir: string, opts: LoadOptions = {}): Promise<LoadResult> {
  const result = await loadConfigDir(dir, opts);
  if (!result.ok) throw new ConfigError(result.diagnostics);
  return result;
}
