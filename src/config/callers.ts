// coordinator.hcl blocks for the callers that are not plain HTTPS clients:
// `alertmanager { ... }` (webhook receiver) and `chat { ... }` (Slack slash command).
import type { Decoder } from './decoder';
import { configPath } from './temporal';

/** Where a settable param's value comes from in an alert. */
export interface AlertParamSource {
  from: 'labels' | 'annotations';
  key: string;
}

/** `route { ... }`: which alerts run which workflow, and which labels/annotations fill which params. */
export interface AlertRoute {
  /** Alerts whose `alertname` label is this (exact). */
  alertname?: string;
  /** Every label here must have exactly this value. */
  matchers: Record<string, string>;
  /** The configured workflow the matching alerts run. */
  workflow: string;
  /** Param name -> the label or annotation that fills it; only settable params. */
  params: Record<string, AlertParamSource>;
}

export interface AlertmanagerConfig {
  /** Routes tried in order; the first that matches an alert decides it. No match: nothing starts. */
  routes: AlertRoute[];
  /** Labels tried in order for the target node; `instance` values lose their :port. */
  nodeLabels: string[];
  datacenterLabel: string;
  nodeTypeLabel: string;
  /** Annotation used as the trigger's reason. */
  reasonAnnotation: string;
}

export const DEFAULT_ALERTMANAGER: AlertmanagerConfig = {
  routes: [],
  nodeLabels: ['node', 'instance'],
  datacenterLabel: 'datacenter',
  nodeTypeLabel: 'node_type',
  reasonAnnotation: 'summary',
};

export interface ChatAllow {
  /** Slack user id (U0123...), or "*" for every user of the workspace. */
  user: string;
  /** Configured workflow names this user may run, or ["*"]. */
  workflows: string[];
}

export interface ChatConfig {
  /** File holding the Slack signing secret (kept out of the config and out of logs). */
  signingSecretFile?: string;
  /** The Slack workspace (team_id) whose commands are accepted; others are refused even when signed. */
  teamId: string;
  /** The Enterprise Grid org (enterprise_id); when set, or when a request carries one, the two must match. */
  enterpriseId?: string;
  /** Requests older than this are refused (replay protection). */
  maxSkewMs: number;
  allow: ChatAllow[];
  /**
   * `identities = { U0123 = "spiffe://..." }`: who a Slack user is when they press Approve or
   * Deny (POST /v1/chat/slack/interactions); a user not listed may not decide.
   */
  identities?: Record<string, string>;
  /** File holding the Slack incoming-webhook URL that approval requests are posted to (with Approve/Deny buttons). */
  approvalsWebhookUrlFile?: string;
}

const LABEL = /^[A-Za-z_][A-Za-z0-9_]*$/;

const PARAM_SOURCE = /^(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)$/;

function readRoute(r: Decoder): AlertRoute | undefined {
  const alertname = r.string('alertname', { nonEmpty: true });
  const matchers = r.stringMap('matchers') ?? {};
  for (const k of Object.keys(matchers)) if (!LABEL.test(k)) r.error(`matchers.${k}`, 'is not a Prometheus label name');
  if (alertname === undefined && Object.keys(matchers).length === 0)
    r.error(
      undefined,
      'a route needs alertname or matchers: a route that matches every alert would run its workflow for any alert',
    );
  const workflow = r.string('workflow', { required: true, nonEmpty: true });
  const params: Record<string, AlertParamSource> = {};
  for (const [name, source] of Object.entries(r.stringMap('params') ?? {})) {
    const m = PARAM_SOURCE.exec(source);
    if (!m) r.error(`params.${name}`, `${JSON.stringify(source)} must be "labels.<name>" or "annotations.<name>"`);
    else params[name] = { from: m[1] as AlertParamSource['from'], key: m[2]! };
  }
  r.finish();
  if (workflow === undefined) return undefined;
  return { ...(alertname !== undefined && { alertname }), matchers, workflow, params };
}

export function readAlertmanager(d: Decoder | undefined): AlertmanagerConfig {
  if (!d) return { ...DEFAULT_ALERTMANAGER };
  const label = (key: string, fallback: string): string => {
    const v = d.string(key, { nonEmpty: true }) ?? fallback;
    if (!LABEL.test(v)) d.error(key, `${JSON.stringify(v)} is not a Prometheus label name`);
    return v;
  };
  for (const key of ['workflow_label', 'param_prefix']) {
    if (d.has(key)) {
      d.string(key);
      d.error(
        key,
        'alert labels no longer choose the workflow or its params; map alerts with route { alertname = "..." workflow = "..." params = { name = "labels.x" } }',
      );
    }
  }
  const cfg: AlertmanagerConfig = {
    routes: d
      .blocks('route')
      .map(readRoute)
      .filter((r): r is AlertRoute => r !== undefined),
    nodeLabels: d.strings('node_labels') ?? DEFAULT_ALERTMANAGER.nodeLabels,
    datacenterLabel: label('datacenter_label', DEFAULT_ALERTMANAGER.datacenterLabel),
    nodeTypeLabel: label('node_type_label', DEFAULT_ALERTMANAGER.nodeTypeLabel),
    reasonAnnotation: label('reason_annotation', DEFAULT_ALERTMANAGER.reasonAnnotation),
  };
  if (cfg.nodeLabels.length === 0) d.error('node_labels', 'needs at least one label name');
  cfg.nodeLabels.forEach((l, i) => {
    if (!LABEL.test(l))
      d.diag.error(d.file, `${d.at('node_labels')}[${i}]`, `${JSON.stringify(l)} is not a Prometheus label name`);
  });
  if (cfg.routes.length === 0) d.warning(undefined, 'no route { ... } blocks: alerts start nothing');
  d.finish();
  return cfg;
}

export function readChat(d: Decoder | undefined): ChatConfig | undefined {
  if (!d) return undefined;
  const signingSecretFile = configPath(d.file, d.string('slack_signing_secret_file', { nonEmpty: true }));
  if (!signingSecretFile)
    d.error('slack_signing_secret_file', 'is required: the chat endpoint is public and protected only by the signature');
  const teamId = d.string('slack_team_id', { required: true, nonEmpty: true }) ?? '';
  const enterpriseId = d.string('slack_enterprise_id', { nonEmpty: true });
  const maxSkewMs = d.duration('max_request_age', { positive: true }) ?? 5 * 60_000;
  const allow = d.blocks('allow').map((a) => {
    const rule: ChatAllow = {
      user: a.string('user', { required: true, nonEmpty: true }) ?? '',
      workflows: a.strings('workflows', { required: true }) ?? [],
    };
    if (a.has('workflows') && rule.workflows.length === 0) a.warning('workflows', 'empty: this rule allows nothing');
    a.finish();
    return rule;
  });
  if (allow.length === 0) d.warning(undefined, 'no allow { ... } rules: every chat command that runs a workflow will be refused');
  const identities = d.stringMap('identities') ?? {};
  for (const [user, id] of Object.entries(identities)) {
    if (!/^[A-Z0-9]{2,32}$/.test(user)) d.error(`identities.${user}`, 'is not a Slack user id (U0123ABC)');
    if (!/^spiffe:\/\/[^/\s*]+(\/[^\s*]*)?$/.test(id))
      d.error(`identities.${user}`, `${JSON.stringify(id)} is not a SPIFFE ID (spiffe://trust-domain/path, no "*")`);
  }
  const approvalsWebhookUrlFile = configPath(d.file, d.string('approvals_webhook_url_file', { nonEmpty: true }));
  d.finish();
  return {
    signingSecretFile,
    teamId,
    ...(enterpriseId !== undefined && { enterpriseId }),
    maxSkewMs,
    allow,
    identities,
    ...(approvalsWebhookUrlFile && { approvalsWebhookUrlFile }),
  };
}
