// Alertmanager webhook (payload version 4) -> the triggers it asks for. Pure: the route
// validates the body with its schema, then each alert is turned into a trigger or a reason
// why it starts nothing.
import { createHash } from 'node:crypto';
import type { AlertmanagerConfig, AlertRoute } from '../config/callers';

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
    // No maxItems: a group is as large as the rack or the deploy that fired it, and Alertmanager
    // does not retry a 4xx. The route's body limit bounds it; the route decides 8 alerts at a time.
    alerts: {
      type: 'array',
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

/** The first route of the config that matches the alert: its alertname and every matcher. */
export function routeFor(alert: Pick<AlertmanagerAlert, 'labels'>, routes: readonly AlertRoute[]): AlertRoute | undefined {
  const labels = alert.labels;
  const value = (name: string): string | undefined => (Object.hasOwn(labels, name) ? labels[name] : undefined);
  return routes.find(
    (r) =>
      (r.alertname === undefined || value('alertname') === r.alertname) &&
      Object.entries(r.matchers).every(([k, v]) => value(k) === v),
  );
}

/**
 * An alert -> the trigger its route asks for. The config decides the workflow; labels fill the
 * target, and only the params the route maps (the admission refuses any that are not settable).
 */
export function planAlert(alert: AlertmanagerAlert, cfg: AlertmanagerConfig): AlertPlan {
  const { fingerprint } = alert;
  if (alert.status !== 'firing') return { fingerprint, action: 'skip', reason: 'resolved: nothing to start' };
  const route = routeFor(alert, cfg.routes);
  if (!route) return { fingerprint, action: 'skip', reason: 'no alertmanager route matches this alert' };
  const own = (source: Record<string, string> | undefined, key: string): string | undefined =>
    source && Object.hasOwn(source, key) ? source[key] : undefined;
  const target: AlertTrigger['target'] = {};
  for (const label of cfg.nodeLabels) {
    const v = own(alert.labels, label);
    if (v) {
      target.node = label === 'instance' ? stripPort(v) : v;
      break;
    }
  }
  const dc = own(alert.labels, cfg.datacenterLabel);
  if (dc) target.datacenter = dc;
  const nodeType = own(alert.labels, cfg.nodeTypeLabel);
  if (nodeType) target.node_type = nodeType;
  const params: Record<string, string> = {};
  for (const [name, { from, key }] of Object.entries(route.params)) {
    const v = own(from === 'labels' ? alert.labels : alert.annotations, key);
    if (v !== undefined && v !== '') params[name] = v;
  }
  const summary = own(alert.annotations, cfg.reasonAnnotation);
  const reason = summary
    ? `alertmanager: ${summary}`
    : `alertmanager: ${own(alert.labels, 'alertname') ?? 'alert'} firing since ${alert.startsAt}`;
  return {
    fingerprint,
    action: 'trigger',
    trigger: { workflow: route.workflow, target, params, reason, idempotencyKey: alertEpisodeKey(fingerprint, alert.startsAt) },
  };
}
