// `medic trigger` as a process: it keeps running while Prometheus and the coordinator are
// down, reloads on SIGHUP (keeping the old rules when the new ones are invalid), and stops
// cleanly on SIGTERM.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../src/temporal/dev-server';
import { writeDevCertificates } from '../../src/tls/certificates';
import { spawnMedic, startTrigger } from '../helpers/medic-process';
import { eventually } from '../helpers/temporal';

async function metric(url: string, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(url)).text();
    const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  } catch {
    return undefined;
  }
}

function triggerFile(prometheusPort: number, coordinatorPort: number, rules: string): string {
  return `prometheus {
  address       = "http://127.0.0.1:${prometheusPort}"
  poll_interval = "1s"
}
coordinator {
  address   = "https://127.0.0.1:${coordinatorPort}"
  cert_file = "../tls/trigger.pem"
  key_file  = "../tls/trigger-key.pem"
  ca_file   = "../tls/ca.pem"
}
${rules}`;
}

const rule = (name: string) =>
  `rule "${name}" {\n  query    = "up == 0"\n  workflow = "w"\n  target {\n    node = "{{ $labels.instance }}"\n  }\n}\n`;

describe('medic trigger (process)', () => {
  it('survives unreachable Prometheus, reloads on SIGHUP only when the new rules are valid, exits 0 on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-proc-'));
    writeDevCertificates(path.join(dir, 'tls'), { trigger: 'spiffe://medic.dev/trigger/t' });
    fs.mkdirSync(path.join(dir, 'workflows'));
    fs.writeFileSync(path.join(dir, 'workflows', 'w.hcl'), 'workflow = "ping"\ntask_queue_target = "node"\n');
    fs.mkdirSync(path.join(dir, 'triggers'));
    // Nothing listens on these two: Prometheus and the coordinator are down.
    const [promPort, coordPort] = [await freePort(), await freePort()];
    const file = path.join(dir, 'triggers', 'rules.hcl');
    fs.writeFileSync(file, triggerFile(promPort, coordPort, rule('first')));

    const { proc: daemon, metricsUrl } = await startTrigger(dir, ['--state-file', path.join(dir, 'state.json')]);
    const metrics = metricsUrl!;
    try {
      await eventually(
        async () => ((await metric(metrics, 'medic_trigger_errors_total')) ?? 0) > 0 || undefined,
        15_000,
        'a counted Prometheus error',
      );
      expect(daemon.child.exitCode).toBeNull();
      expect(await metric(metrics, 'medic_trigger_config_last_reload_successful')).toBe(1);

      fs.writeFileSync(file, triggerFile(promPort, coordPort, rule('first') + 'rule "broken" {\n  query = \n}\n'));
      daemon.child.kill('SIGHUP');
      await eventually(
        async () => (await metric(metrics, 'medic_trigger_config_last_reload_successful')) === 0 || undefined,
        10_000,
        'a failed reload',
      );
      await daemon.waitFor(/reload failed; keeping the running rules/);
      expect(daemon.child.exitCode).toBeNull();

      fs.writeFileSync(file, triggerFile(promPort, coordPort, rule('second')));
      daemon.child.kill('SIGHUP');
      await eventually(
        async () => (await metric(metrics, 'medic_trigger_config_last_reload_successful')) === 1 || undefined,
        10_000,
        'a good reload',
      );
      await daemon.waitFor(/configuration reloaded.*"second"/);
    } finally {
      daemon.child.kill('SIGTERM');
    }
    expect(await daemon.exited).toBe(0);
  });

  it('refuses to start without a usable trigger configuration, saying what is missing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-trigger-proc-'));
    fs.mkdirSync(path.join(dir, 'workflows'));
    fs.writeFileSync(path.join(dir, 'workflows', 'w.hcl'), 'workflow = "ping"\ntask_queue_target = "node"\n');
    const daemon = spawnMedic(['trigger', '--config', dir, '--metrics-listen', 'off']);
    expect(await daemon.exited).toBe(1);
    expect(daemon.output()).toMatch(/no prometheus \{ \.\.\. \} block/);
    expect(daemon.output()).toMatch(/no coordinator \{ \.\.\. \} block/);
  });
});
