// Alertmanager end to end: a real Alertmanager (Debian's prometheus-alertmanager) sends its
// webhook over mTLS, with the client certificate of spiffe://medic.dev/alertmanager, to the
// built `medic coordinator`, whose alertmanager routes map the alert to a workflow (labels fill
// the target and the mapped settable param, and cannot choose the workflow); it starts once per
// alert episode, however many repeat notifications Alertmanager sends, and an alert routed to a
// workflow the ACL does not let Alertmanager start is denied. A group of 2,000 alerts comes in one
// notification and is answered alert by alert.
import * as fs from 'node:fs';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { queryValue } from '../../src/naming/search-attributes';
import { startAlertmanager, type RunningAlertmanager } from '../helpers/alertmanager';
import { request, tlsAgent } from '../helpers/https';
import { metricSample } from '../helpers/metrics-text';
import { buildStack, type Stack } from '../helpers/stack';
import { connectClient, eventually, temporalAddress, unique } from '../helpers/temporal';

jest.setTimeout(180_000);

async function workflowIds(client: Client, workflow: string, node: string): Promise<string[]> {
  const ids: string[] = [];
  const query = `MedicWorkflow = ${queryValue(workflow)} AND MedicNode = ${queryValue(node)}`;
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

describe('Alertmanager -> coordinator (mTLS) -> Temporal', () => {
  let temporal: { client: Client; close(): Promise<void> };
  let stack: Stack | undefined;
  let alertmanager: RunningAlertmanager | undefined;

  beforeAll(async () => {
    temporal = await connectClient();
  });
  afterAll(async () => {
    await alertmanager?.stop();
    await stack?.stop();
    await temporal.close();
  });

  it('starts the workflow exactly once for an alert, however often Alertmanager repeats it', async () => {
    const node = unique('am-e2e-node');
    const workflow = `amHeal${unique('x').replace(/-/g, '')}`;
    const forbidden = `amReboot${unique('x').replace(/-/g, '')}`;
    stack = await buildStack({
      temporalAddress: temporalAddress(),
      workflows: {
        [workflow]:
          'workflow = "ping"\ntask_queue_target = "node"\n' +
          'param "mode" {\n  type = "enum"\n  values = ["quick", "full"]\n  default = "quick"\n  settable = true\n}\n',
        [forbidden]: 'workflow = "ping"\ntask_queue_target = "node"\n',
      },
      coordinatorExtra: `alertmanager {
  route {
    alertname = "MedicE2eDiskFull"
    workflow  = "${workflow}"
    params    = { mode = "labels.mode" }
  }
  route {
    alertname = "MedicE2eNodeWedged"
    workflow  = "${forbidden}"
  }
}
`,
      alertmanagerPatterns: ['/v1/alertmanager', `/v1/workflows/${workflow}/executions`],
    });
    await stack.startCoordinator();
    const am = stack.certs.clients.alertmanager!;
    alertmanager = await startAlertmanager({
      webhookUrl: `${stack.coordinatorUrl}/v1/alertmanager`,
      tls: { caFile: stack.certs.caFile, certFile: am.certFile, keyFile: am.keyFile },
      repeatInterval: '2s',
    });
    const coordinatorMetrics = async (): Promise<string> => {
      const agent = tlsAgent({ ca: fs.readFileSync(stack!.certs.caFile) });
      try {
        return (await request(agent, 'GET', `${stack!.coordinatorUrl}/metrics`)).body;
      } finally {
        agent.destroy();
      }
    };
    const amMetrics = async (): Promise<string> => (await fetch(`${alertmanager!.address}/metrics`)).text();

    const alert = {
      // medic_workflow names another workflow: labels cannot choose one.
      labels: {
        alertname: 'MedicE2eDiskFull',
        medic_workflow: forbidden,
        mode: 'full',
        instance: `${node}:9100`,
        datacenter: 'e2e',
      },
      annotations: { summary: `disk almost full on ${node}` },
    };
    await alertmanager.postAlerts([alert]);

    const [id] = await eventually(
      async () => {
        const ids = await workflowIds(temporal.client, workflow, node);
        return ids.length ? ids : undefined;
      },
      60_000,
      'the execution Alertmanager asked for',
    );
    expect(id).toMatch(new RegExp(`^${workflow}:key-[0-9a-f]{32}$`));
    const history = await temporal.client.workflow.getHandle(id!).fetchHistory();
    const input = defaultPayloadConverter.fromPayload(
      history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!,
    );
    expect(input).toMatchObject({ params: { mode: 'full' }, target: { node, datacenter: 'e2e' } });

    // Several repeat notifications (repeat_interval 2s), each delivered to the coordinator.
    // Prometheus re-sends firing alerts to Alertmanager; so do we, as it would.
    const delivered = await eventually(
      async () => {
        await alertmanager!.postAlerts([alert]);
        const text = await amMetrics();
        const sent = metricSample(text, 'alertmanager_notifications_total', { integration: 'webhook' });
        return sent >= 4 ? text : undefined;
      },
      90_000,
      'four webhook notifications',
    );
    expect(metricSample(delivered, 'alertmanager_notifications_failed_total', { integration: 'webhook' })).toBe(0);

    const m = await coordinatorMetrics();
    expect(metricSample(m, 'medic_coordinator_triggers_total', { workflow, source: 'alertmanager', result: 'started' })).toBe(1);
    expect(
      metricSample(m, 'medic_coordinator_triggers_total', { workflow, source: 'alertmanager', result: 'duplicate' }),
    ).toBeGreaterThanOrEqual(3);
    expect(await workflowIds(temporal.client, workflow, node)).toEqual([id]);
    const d = await temporal.client.workflow.getHandle(id!).describe();
    expect(d.status.name).toBe('RUNNING');
    const audit = stack.coordinator!.output();
    expect(audit).toContain('"decision":"started","identity":"spiffe://medic.dev/alertmanager","source":"alertmanager"');

    // Resolving the alert starts nothing either.
    await alertmanager.postAlerts([{ ...alert, endsAt: new Date(Date.now() - 1000).toISOString() }]);
    await eventually(
      async () =>
        metricSample(await coordinatorMetrics(), 'medic_coordinator_alertmanager_alerts_total', { result: 'skipped_resolved' }) >=
        1
          ? true
          : undefined,
      60_000,
      'the resolved notification',
    );
    const after = await coordinatorMetrics();
    expect(metricSample(after, 'medic_coordinator_triggers_total', { workflow, source: 'alertmanager', result: 'started' })).toBe(
      1,
    );
    expect(await workflowIds(temporal.client, workflow, node)).toEqual([id]);

    // An alert routed to a workflow the route rules do not let Alertmanager start: denied, audited, nothing started.
    await alertmanager.postAlerts([{ labels: { alertname: 'MedicE2eNodeWedged', node }, annotations: {} }]);
    await eventually(
      async () =>
        metricSample(await coordinatorMetrics(), 'medic_coordinator_alertmanager_alerts_total', { result: 'denied' }) >= 1
          ? true
          : undefined,
      60_000,
      'the denied notification',
    );
    expect(stack.coordinator!.output()).toContain(`"decision":"denied","identity":"spiffe://medic.dev/alertmanager"`);
    expect(await workflowIds(temporal.client, forbidden, node)).toEqual([]);
  });

  it('takes a group of 2,000 alerts in one notification (about 3.7 MB) and answers every alert', async () => {
    const rack = unique('am-e2e-rack');
    // No alertmanager routes: every alert is answered "skipped", so the test starts nothing.
    const own = await buildStack({ temporalAddress: temporalAddress(), workflows: {} });
    let am: RunningAlertmanager | undefined;
    try {
      await own.startCoordinator();
      const cert = own.certs.clients.alertmanager!;
      // One notification: grouped by alertname and node, and no repeat within the test.
      am = await startAlertmanager({
        webhookUrl: `${own.coordinatorUrl}/v1/alertmanager`,
        tls: { caFile: own.certs.caFile, certFile: cert.certFile, keyFile: cert.keyFile },
        repeatInterval: '1h',
      });
      await am.postAlerts(
        Array.from({ length: 2000 }, (_, i) => ({
          labels: { alertname: 'MedicE2eRackDown', node: rack, instance: `${rack}-${i}:9100` },
          annotations: { summary: `host ${i} of ${rack} is down`, description: 'x'.repeat(1500) },
        })),
      );
      const agent = tlsAgent({ ca: fs.readFileSync(own.certs.caFile) });
      const unrouted = async (): Promise<number> =>
        metricSample(
          (await request(agent, 'GET', `${own.coordinatorUrl}/metrics`)).body,
          'medic_coordinator_alertmanager_alerts_total',
          {
            result: 'skipped_unrouted',
          },
        );
      try {
        await eventually(
          async () => ((await unrouted()) >= 2000 ? true : undefined),
          90_000,
          'the 2,000 alerts at the coordinator',
        );
        expect(await unrouted()).toBe(2000);
      } finally {
        agent.destroy();
      }
      const text = await (await fetch(`${am.address}/metrics`)).text();
      expect(metricSample(text, 'alertmanager_notifications_total', { integration: 'webhook' })).toBe(1);
      expect(metricSample(text, 'alertmanager_notifications_failed_total', { integration: 'webhook' })).toBe(0);
    } finally {
      await am?.stop();
      await own.stop();
    }
  });
});
