import { readWorker } from '../../src/config/worker';
import { decode } from '../helpers/hcl';

const MINIMAL = 'worker {\n  datacenter = "dc1"\n  node_type = "web"\n  node = "web-1"\n}\n';

describe('worker.hcl', () => {
  it('denies by default: no commands, no cleanup paths, no hooks, real reboots need no flag', async () => {
    const { value, errors } = await decode(MINIMAL, readWorker);
    expect(errors).toEqual([]);
    expect(value).toMatchObject({
      datacenter: 'dc1',
      nodeType: 'web',
      node: 'web-1',
      allowedCommands: [],
      cleanupPaths: [],
      hooks: {},
      rebootDryRun: false,
      shutdownGraceMs: 30_000,
      maxConcurrentActivities: 4,
      systemctl: '/usr/bin/systemctl',
    });
    expect(value.prometheus).toBeUndefined();
  });

  it('reads allow-lists, reboot guard, prometheus and hooks', async () => {
    const { value, errors } = await decode(
      `worker {
  datacenter = "dc1"
  node_type = "web"
  node = "web-1"
  allowed_commands = ["/usr/bin/journalctl", "/usr/sbin/nginx"]
  cleanup_paths = ["/var/log/app/"]
  reboot_dry_run = true
  reboot_command = ["/sbin/reboot"]
  command_timeout = "30s"
  max_output_bytes = 1024
}
prometheus {
  address = "http://127.0.0.1:9090/"
}
hook "drain" {
  command = ["/usr/local/bin/lb", "drain"]
  timeout = "5s"
}
hook "notify" {
  webhook = "https://chat.example/hook"
  headers = { authorization = "Bearer x" }
}
`,
      readWorker,
    );
    expect(errors).toEqual([]);
    expect(value.allowedCommands).toEqual(['/usr/bin/journalctl', '/usr/sbin/nginx']);
    expect(value.cleanupPaths).toEqual(['/var/log/app']);
    expect(value).toMatchObject({
      rebootDryRun: true,
      rebootCommand: ['/sbin/reboot'],
      commandTimeoutMs: 30_000,
      maxOutputBytes: 1024,
    });
    expect(value.prometheus).toEqual({ address: 'http://127.0.0.1:9090', timeoutMs: 10_000 });
    expect(value.hooks.drain).toEqual({ kind: 'command', argv: ['/usr/local/bin/lb', 'drain'], timeoutMs: 5000 });
    expect(value.hooks.notify).toEqual({
      kind: 'webhook',
      url: 'https://chat.example/hook',
      headers: { authorization: 'Bearer x' },
      timeoutMs: 30_000,
    });
  });

  it('reads the role and the escalation sink; PagerDuty needs a routing key file and defaults its URL', async () => {
    const ok = await decode(
      `${MINIMAL.replace('node = "web-1"', 'node = "web-1"\n  role = "general"')}escalation {\n  format = "pagerduty"\n  routing_key_file = "/etc/medic/pd-key"\n}\n`,
      readWorker,
    );
    expect(ok.errors).toEqual([]);
    expect(ok.value).toMatchObject({
      role: 'general',
      workflowThreads: true,
      escalation: { format: 'pagerduty', url: 'https://events.pagerduty.com/v2/enqueue', routingKeyFile: '/etc/medic/pd-key' },
    });
    expect((await decode(MINIMAL, readWorker)).value).toMatchObject({ role: 'both' });
    const bad = await decode(
      `${MINIMAL.replace('node = "web-1"', 'node = "web-1"\n  role = "boss"')}escalation {\n  format = "pagerduty"\n}\n`,
      readWorker,
    );
    expect(bad.errors.join('\n')).toMatch(/worker\.role: "boss" is not one of "node", "general", "both"/);
    expect(bad.errors.join('\n')).toMatch(/escalation\.routing_key_file: format "pagerduty" needs routing_key_file/);
  });

  it('names every bad key with its attribute path', async () => {
    const { errors } = await decode(
      `worker {
  datacenter = "dc1"
  node_type = "web"
  allowed_commands = ["bash", "/usr/bin/../../bin/sh"]
  cleanup_paths = ["/", "var/log"]
  metrics_listen = "everywhere"
  systemctl = "systemctl"
}
hook "drain" {
  command = ["/bin/lb"]
  webhook = "http://x/"
}
hook "reboot" {
  command = ["/bin/x"]
}
hook "notify" {
  webhook = "ftp://x/"
}
prometheus {
  timeout = "soon"
}
`,
      readWorker,
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        'worker.allowed_commands[0]: "bash" must be an absolute path',
        'worker.allowed_commands[1]: "/usr/bin/../../bin/sh" must not contain ".."',
        'worker.cleanup_paths[0]: the root directory is too broad to clean',
        'worker.cleanup_paths[1]: "var/log" must be an absolute path',
        'worker.metrics_listen: "everywhere" is not host:port',
        'worker.systemctl: "systemctl" must be an absolute path',
        'hook.drain: give command or webhook, not both',
        'hook.reboot: unknown hook "reboot" (known: drain, undrain, notify)',
        'hook.notify.webhook: "ftp://x/" must use http or https',
        'prometheus.address: is required',
        'prometheus.timeout: "soon" is not a duration (e.g. "30s", "15m", "1h30m")',
      ]),
    );
  });

  it('rejects unknown keys and unlabelled hooks', async () => {
    const { errors } = await decode(`${MINIMAL}hook {\n  command = ["/bin/x"]\n}\n`, readWorker);
    expect(errors[0]).toContain('hooks are labelled');
    const unknown = await decode(MINIMAL.replace('node = "web-1"', 'node = "web-1"\n  allow_everything = true'), readWorker);
    expect(unknown.errors[0]).toMatch(/^worker.allow_everything: unknown key/);
  });
});
