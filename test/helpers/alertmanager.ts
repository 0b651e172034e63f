// A real Alertmanager (Debian's prometheus-alertmanager, installed by .ci/run) on a free
// loopback port, clustering off, sending webhooks to a receiver URL with a client certificate.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireBinary } from './prometheus';
import { startOnFreePort, startProcess, waitForHttp, type Proc } from './medic-process';

export const ALERTMANAGER_BIN = process.env.MEDIC_ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

export interface WebhookTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface RunningAlertmanager {
  address: string;
  proc: Proc;
  /** Posts alerts through Alertmanager's v2 API, as Prometheus would. */
  postAlerts(
    alerts: Array<{ labels: Record<string, string>; annotations?: Record<string, string>; startsAt?: string; endsAt?: string }>,
  ): Promise<void>;
  stop(): Promise<void>;
}

export async function startAlertmanager(opts: {
  webhookUrl: string;
  tls: WebhookTls;
  repeatInterval?: string;
}): Promise<RunningAlertmanager> {
  requireBinary(ALERTMANAGER_BIN, 'prometheus-alertmanager');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-am-'));
  fs.writeFileSync(
    path.join(dir, 'alertmanager.yml'),
    [
      'route:',
      '  receiver: medic',
      "  group_by: ['alertname', 'node']",
      '  group_wait: 1s',
      '  group_interval: 1s',
      `  repeat_interval: ${opts.repeatInterval ?? '2s'}`,
      'receivers:',
      '  - name: medic',
      '    webhook_configs:',
      `      - url: ${JSON.stringify(opts.webhookUrl)}`,
      '        send_resolved: true',
      '        http_config:',
      '          tls_config:',
      `            ca_file: ${JSON.stringify(opts.tls.caFile)}`,
      `            cert_file: ${JSON.stringify(opts.tls.certFile)}`,
      `            key_file: ${JSON.stringify(opts.tls.keyFile)}`,
      '',
    ].join('\n'),
  );
  const { port, proc } = await startOnFreePort(
    (p) =>
      startProcess(ALERTMANAGER_BIN, [
        `--config.file=${path.join(dir, 'alertmanager.yml')}`,
        `--storage.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${p}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ]),
    (p, started) => waitForHttp(`http://127.0.0.1:${p}/-/ready`, started),
  );
  const address = `http://127.0.0.1:${port}`;
  return {
    address,
    proc,
    async postAlerts(alerts) {
      const res = await fetch(`${address}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      if (!res.ok) throw new Error(`alertmanager refused the alerts: HTTP ${res.status} ${await res.text()}`);
    },
    stop: () => proc.stop(),
  };
}
