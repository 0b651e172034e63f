// Alertmanager webhook (payload version 4) -> the triggers it asks for. Pure: the route
// validates the body with its schema, then each alert is turned into a trigger or a reason
// why it starts nothing.
import { createHash } from 'node:crypto';
import type { AlertmanagerConfig } from '../config/callers';

export interface AlertmanagerAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
  fingerprint: string;
}

export interface AlertmanagerPayload {
  version: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver: string;
  truncatedAlerts?: number;
  alerts: AlertmanagerAlert[];
}

export interface AlertTrigger {
  workflow: string;
  target: { node?: string; datacenter?: string; node_type?: string };
  params: Record<string, string>;
  reason: string;
  idempotencyKey: string;
}

export type AlertPlan = { fingerprint: string } & (
  { action: 'trigger'; trigger: AlertTrigger } | { action: 'skip'; reason: string }
);

/** JSON schema of the webhook body, for the route (fastify/ajv). */
export const ALERTMANAGER_PAYLOAD_SCHEMA = {
  type: 'object',
  required: ['version', 'status', 'alerts'],
  properties: {
    version: { type: 'string', const: '4' },
    groupKey: { type: 'string' },
    status: { type: 'string', enum: ['firing', 'resolved'] },
    receiver: { type: 'string' },
    truncatedAlerts: { type: 'integer', minimum: 0 },
    alerts: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        required: ['status', 'labels', 'startsAt', 'fingerprint'],
        properties: {
          status: { type: 'string', enum: ['firing', 'resolved'] },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          annotations: { type: 'object', additionalProperties: { type: 'string' } },
          startsAt: { type: 'string', minLength: 1 },
          endsAt: { type: 'string' },
          generatorURL: { type: 'string' },
          fingerprint: { type: 'string', minLength: 1, maxLength: 64 },
        },
      },
    },
  },
} as const;

/** `host1:9100` -> `host1`, `[::1]:9100` -> `::1`; values without a port stay as they are. */
export function stripPort(instance: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(instance);
  if (v6) return v6[1]!;
  return instance.replace(/:\d+$/, '');
}

/**
 * The idempotency key of one alert episode: Alertmanager repeats a firing alert with the
 * same fingerprint and startsAt until it resolves, so repeats map to the first execution.
 */
export function alertEpisodeKey(fingerprint: string, startsAt: string): string {
  return `am-${createHash('sha256').update(fingerprint).update('\0').update(startsAt).digest('hex').slice(0, 32)}`;
}

export function planAlert(alert: AlertmanagerAlert, cfg: AlertmanagerConfig): AlertPlan {
  const { fingerprint } = alert;
  if (alert.status !== 'firing') return { fingerprint, action: 'skip', reason: 'resolved: nothing to start' };
  const workflow = alert.labels[cfg.workflowLabel];
  if (!workflow) return { fingerprint, action: 'skip', reason: `no ${cfg.workflowLabel} label` };
  const target: AlertTrigger['target'] = {};
  for (const label of cfg.nodeLabels) {
    const v = alert.labels[label];
    if (v) {
      target.node = label === 'instance' ? stripPort(v) : v;
      break;
    }
  }
  if (alert.labels[cfg.datacenterLabel]) target.datacenter = alert.labels[cfg.datacenterLabel];
  if (alert.labels[cfg.nodeTypeLabel]) target.node_type = alert.labels[cfg.nodeTypeLabel];
  const params: Record<string, string> = {};
  // Annotations first, labels override: labels identify the alert, annotations describe it.
  for (const source of [alert.annotations ?? {}, alert.labels]) {
    for (const [k, v] of Object.entries(source))
      if (k.startsWith(cfg.paramPrefix) && k.length > cfg.paramPrefix.length) params[k.slice(cfg.paramPrefix.length)] = v;
  }
  const summary = alert.annotations?.[cfg.reasonAnnotation];
  const reason = summary
    ? `alertmanager: ${summary}`
    : `alertmanager: ${alert.labels.alertname ?? 'alert'} firing since ${alert.startsAt}`;
  return {
    fingerprint,
    action: 'trigger',
    trigger: { workflow, target, params, reason, idempotencyKey: alertEpisodeKey(fingerprint, alert.startsAt) },
  };
}
