// The central escalation sink: one page per escalated run, posted as PagerDuty Events API v2,
// a Slack incoming-webhook message, or medic's own JSON, with a dedup key per workflow and
// target, and a resolve when a later run heals that target. Runs on general workers; the close
// watcher (src/watcher/) sends the runs that closed without a page through it too.
import { promises as fs } from 'node:fs';
import type { EscalationConfig, Hook } from '../src/config/worker';
import type { Target } from '../src/naming/task-queues';
import { HookFailedError, InvalidRequestError, NotConfiguredError } from './errors';
import { postJson, runHook, type HookIdentity } from './hooks';
import type { Diagnosis } from './diagnose';
import { ladderLines, type LadderStep } from '../workflows/shared/ladder';

export interface PageRequest {
  /** trigger: open (or add to) the incident; resolve: a later run healed the target. */
  action: 'trigger' | 'resolve';
  dedupKey: string;
  summary: string;
  outcome: string;
  workflow: string;
  workflowId: string;
  runId: string;
  target: Target;
  /** What the run tried, one line per event. */
  tried: string[];
  /** What the workflow's `diagnose` steps saw, in the order declared (capped, masked). */
  diagnostics?: Diagnosis[];
  /** The escalation ladder this page ends (workflows/ladder.ts): every step, oldest first, this run's and a refused next one included. */
  ladder?: LadderStep[];
}

export interface PageResult {
  delivered: boolean;
  detail: string;
}

// PagerDuty's documented limit on payload.summary.
const SUMMARY_MAX = 1024;

/** PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/). */
export function pagerdutyEvent(req: PageRequest, routingKey: string): Record<string, unknown> {
  if (req.action === 'resolve') return { routing_key: routingKey, event_action: 'resolve', dedup_key: req.dedupKey };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: req.dedupKey,
    payload: {
      summary: req.summary.slice(0, SUMMARY_MAX),
      source: req.target.node ?? req.target.datacenter ?? 'medic',
      severity: req.outcome === 'failed' ? 'error' : 'critical',
      component: req.workflow,
      ...(req.target.datacenter !== undefined && { group: req.target.datacenter }),
      class: req.outcome,
      custom_details: {
        workflow_id: req.workflowId,
        run_id: req.runId,
        target: req.target,
        tried: req.tried,
        ...(req.diagnostics?.length && { diagnostics: Object.fromEntries(req.diagnostics.map((d) => [d.name, d.output])) }),
        ...(req.ladder?.length && { ladder: req.ladder }),
      },
    },
    client: 'medic',
  };
}

/** A Slack incoming-webhook message (https://api.slack.com/messaging/webhooks): `text`, mrkdwn. */
export function slackMessage(req: PageRequest): Record<string, unknown> {
  const where = req.target.node ?? req.target.datacenter ?? 'any target';
  if (req.action === 'resolve') {
    return { text: `:white_check_mark: *resolved* ${req.workflow} on ${where}: ${req.summary} (\`${req.workflowId}\`)` };
  }
  const tried = req.tried.slice(-10).map((line) => `• ${line}`);
  return {
    text: [
      `:rotating_light: *medic ${req.outcome === 'failed' ? 'failed' : 'escalated'}*: ${req.workflow} on ${where}`,
      req.summary,
      `workflow \`${req.workflowId}\` · key \`${req.dedupKey}\``,
      ...(req.ladder?.length ? ['*escalation ladder:*', ...ladderLines(req.ladder)] : []),
      ...(tried.length ? ['*what was tried:*', ...tried] : []),
      ...(req.diagnostics?.length ? ['*diagnostics:*', ...req.diagnostics.map(slackDiagnosis)] : []),
    ].join('\n'),
  };
}

/** One diagnosis as a Slack code block: `&`, `<`, `>` escaped as Slack asks, no backquote fence inside. */
function slackDiagnosis(d: Diagnosis): string {
  const text = d.output.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/```/g, "'''");
  return `_${d.name}_\n\`\`\`\n${text}\n\`\`\``;
}

/** medic's own JSON, for a receiver of one's own. */
export function jsonEvent(req: PageRequest): Record<string, unknown> {
  return {
    event_action: req.action,
    dedup_key: req.dedupKey,
    summary: req.summary,
    outcome: req.outcome,
    workflow: req.workflow,
    workflow_id: req.workflowId,
    run_id: req.runId,
    target: req.target,
    tried: req.tried,
    ...(req.diagnostics?.length && { diagnostics: req.diagnostics }),
    ...(req.ladder?.length && { ladder: req.ladder }),
  };
}

async function body(config: EscalationConfig, req: PageRequest): Promise<Record<string, unknown>> {
  switch (config.format) {
    case 'json':
      return jsonEvent(req);
    case 'slack':
      return slackMessage(req);
    case 'pagerduty': {
      if (!config.routingKeyFile) throw new NotConfiguredError('escalation format "pagerduty" needs routing_key_file');
      let key: string;
      try {
        key = (await fs.readFile(config.routingKeyFile, 'utf8')).trim();
      } catch (err) {
        throw new NotConfiguredError(`cannot read routing_key_file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      return pagerdutyEvent(req, key);
    }
  }
}

/** Posts the page; a 4xx other than 429 is permanent (the payload or key is wrong), the rest is retried. */
export async function sendPage(
  fetchImpl: typeof fetch,
  config: EscalationConfig | undefined,
  fallback: { hook?: Hook; who: HookIdentity; maxOutputBytes: number },
  req: PageRequest,
): Promise<PageResult> {
  if (!config) {
    if (req.action === 'resolve') return { delivered: false, detail: 'no escalation sink configured' };
    // No central sink on this worker: the notify hook, if there is one, is better than nothing.
    if (!fallback.hook) throw new NotConfiguredError('this worker has no escalation { url = ... } block (and no notify hook)');
    const r = await runHook(
      fetchImpl,
      fallback.hook,
      'notify',
      fallback.who,
      { message: req.summary, severity: 'critical', workflowId: req.workflowId },
      fallback.maxOutputBytes,
    );
    return { delivered: r.delivered, detail: r.detail };
  }
  const payload = await body(config, req);
  const res = await postJson(fetchImpl, config.url, config.headers, payload, config.timeoutMs, 'escalation sink');
  if (res.status >= 400 && res.status < 500 && res.status !== 429) {
    throw new InvalidRequestError(`escalation sink refused the ${config.format} ${req.action}: ${res.status}`);
  }
  if (res.status < 200 || res.status > 299) throw new HookFailedError(`escalation sink answered ${res.status}`);
  return { delivered: true, detail: `${config.format} ${req.action} accepted (${res.status})` };
}
