// coordinator.hcl blocks for the callers that are not plain HTTPS clients:
// `alertmanager { ... }` (webhook receiver) and `chat { ... }` (Slack slash command).
import type { Decoder } from './decoder';
import { configPath } from './temporal';

export interface AlertmanagerConfig {
  /** Label naming the configured workflow to run; alerts without it are skipped. */
  workflowLabel: string;
  /** Labels tried in order for the target node; `instance` values lose their :port. */
  nodeLabels: string[];
  datacenterLabel: string;
  nodeTypeLabel: string;
  /** Labels and annotations with this prefix become params (prefix removed). */
  paramPrefix: string;
  /** Annotation used as the trigger's reason. */
  reasonAnnotation: string;
}

export const DEFAULT_ALERTMANAGER: AlertmanagerConfig = {
  workflowLabel: 'medic_workflow',
  nodeLabels: ['node', 'instance'],
  datacenterLabel: 'datacenter',
  nodeTypeLabel: 'node_type',
  paramPrefix: 'medic_param_',
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
  /** Requests older than this are refused (replay protection). */
  maxSkewMs: number;
  allow: ChatAllow[];
}

const LABEL = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function readAlertmanager(d: Decoder | undefined): AlertmanagerConfig {
  if (!d) return { ...DEFAULT_ALERTMANAGER };
  const label = (key: string, fallback: string): string => {
    const v = d.string(key, { nonEmpty: true }) ?? fallback;
    if (!LABEL.test(v)) d.error(key, `${JSON.stringify(v)} is not a Prometheus label name`);
    return v;
  };
  const cfg: AlertmanagerConfig = {
    workflowLabel: label('workflow_label', DEFAULT_ALERTMANAGER.workflowLabel),
    nodeLabels: d.strings('node_labels') ?? DEFAULT_ALERTMANAGER.nodeLabels,
    datacenterLabel: label('datacenter_label', DEFAULT_ALERTMANAGER.datacenterLabel),
    nodeTypeLabel: label('node_type_label', DEFAULT_ALERTMANAGER.nodeTypeLabel),
    paramPrefix: d.string('param_prefix', { nonEmpty: true }) ?? DEFAULT_ALERTMANAGER.paramPrefix,
    reasonAnnotation: label('reason_annotation', DEFAULT_ALERTMANAGER.reasonAnnotation),
  };
  if (cfg.nodeLabels.length === 0) d.error('node_labels', 'needs at least one label name');
  cfg.nodeLabels.forEach((l, i) => {
    if (!LABEL.test(l))
      d.diag.error(d.file, `${d.at('node_labels')}[${i}]`, `${JSON.stringify(l)} is not a Prometheus label name`);
  });
  d.finish();
  return cfg;
}

export function readChat(d: Decoder | undefined): ChatConfig | undefined {
  if (!d) return undefined;
  const signingSecretFile = configPath(d.file, d.string('slack_signing_secret_file', { nonEmpty: true }));
  if (!signingSecretFile)
    d.error('slack_signing_secret_file', 'is required: the chat endpoint is public and protected only by the signature');
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
  d.finish();
  return { signingSecretFile, maxSkewMs, allow };
}
