import * as fs from 'node:fs';
import { DEFAULT_ORPHAN_GRACE_MS } from '../../src/config/coordinator';
import { ORPHAN_GRACE_MS as LEDGER_ORPHAN_GRACE_MS } from '../../src/ledger/state';
import { ORPHAN_GRACE_MS as FLEET_ORPHAN_GRACE_MS } from '../../src/ledger/fleet/state';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfigDir } from '../../src/config/load';

async function load(coordinatorHcl: string, workflows: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-coord-config-'));
  try {
    fs.writeFileSync(path.join(dir, 'coordinator.hcl'), coordinatorHcl);
    if (Object.keys(workflows).length) fs.mkdirSync(path.join(dir, 'workflows'));
    for (const [name, text] of Object.entries(workflows)) fs.writeFileSync(path.join(dir, 'workflows', `${name}.hcl`), text);
    return await loadConfigDir(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const SERVER = `server_config {
  enable_tls = false
  route_rule {
    name = "a"
    method = "GET"
    route_patterns = ["/metrics"]
    allow_public = true
  }
}
`;

describe('coordinator.hcl admission block', () => {
  it('defaults visibility_qps to 2 and reconcile_interval to 60 s', async () => {
    const r = await load(SERVER);
    expect(r.ok).toBe(true);
    expect(r.config.coordinator?.admission).toEqual({ visibilityQps: 2, reconcileIntervalMs: 60_000 });
  });

  it('reads reconcile_interval; "0s" turns reconciliation off; a bad duration names where', async () => {
    const off = await load(`${SERVER}admission {\n  reconcile_interval = "0s"\n}\n`);
    expect(off.config.coordinator?.admission.reconcileIntervalMs).toBe(0);
    const five = await load(`${SERVER}admission {\n  reconcile_interval = "5m"\n}\n`);
    expect(five.config.coordinator?.admission.reconcileIntervalMs).toBe(300_000);
    const bad = await load(`${SERVER}admission {\n  reconcile_interval = "often"\n}\n`);
    expect(bad.ok).toBe(false);
    expect(bad.diagnostics.find((d) => d.severity === 'error')?.path).toBe('admission.reconcile_interval');
  });

  it('reads visibility_qps; 0 turns visibility checks off', async () => {
    const r = await load(`${SERVER}admission {\n  visibility_qps = 0\n}\n`);
    expect(r.ok).toBe(true);
    expect(r.config.coordinator?.admission.visibilityQps).toBe(0);
  });

  it('rejects a negative rate and unknown keys, naming the attribute', async () => {
    const r = await load(`${SERVER}admission {\n  visibility_qps = -1\n  burst = 3\n}\n`);
    expect(r.ok).toBe(false);
    const paths = r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['admission.visibility_qps', 'admission.burst']));
  });

  it('has the ledgers own orphan grace as its default', () => {
    expect(DEFAULT_ORPHAN_GRACE_MS).toBe(LEDGER_ORPHAN_GRACE_MS);
    expect(DEFAULT_ORPHAN_GRACE_MS).toBe(FLEET_ORPHAN_GRACE_MS);
  });

  it('reads orphan_grace (unset: the ledgers keep their 1m default), warns below 1m and refuses outside 1s-24h', async () => {
    const five = await load(`${SERVER}admission {\n  orphan_grace = "5m"\n}\n`);
    expect(five.ok).toBe(true);
    expect(five.config.coordinator?.admission.orphanGraceMs).toBe(300_000);
    expect(problems(five, 'warning')).toEqual([]);

    const short = await load(`${SERVER}admission {\n  orphan_grace = "3s"\n}\n`);
    expect(short.ok).toBe(true);
    expect(short.config.coordinator?.admission.orphanGraceMs).toBe(3_000);
    expect(problems(short, 'warning')).toEqual([
      [
        'admission.orphan_grace',
        'shorter than the default 1m: a place is freed when visibility has not shown its execution by then, so a lagging visibility store can let a second start through (meant for tests)',
      ],
    ]);

    for (const [text, shown] of [
      ['500ms', '500ms'],
      ['2d', '2d'],
    ]) {
      const bad = await load(`${SERVER}admission {\n  orphan_grace = "${text}"\n}\n`);
      expect(bad.ok).toBe(false);
      expect(problems(bad, 'error')).toEqual([['admission.orphan_grace', `must be between 1s and 24h, got ${shown}`]]);
    }
  });

  it('reads fleet_constraints (on unless false) and refuses a value that is not a bool', async () => {
    expect((await load(SERVER)).config.coordinator?.admission.fleetConstraints).toBeUndefined();
    const off = await load(`${SERVER}admission {\n  fleet_constraints = false\n}\n`);
    expect(off.config.coordinator?.admission.fleetConstraints).toBe(false);
    const on = await load(`${SERVER}admission {\n  fleet_constraints = true\n}\n`);
    expect(on.config.coordinator?.admission.fleetConstraints).toBeUndefined();
    const bad = await load(`${SERVER}admission {\n  fleet_constraints = "yes"\n}\n`);
    expect(bad.ok).toBe(false);
    expect(problems(bad, 'error').map(([p]) => p)).toEqual(['admission.fleet_constraints']);
  });
});

function problems(r: Awaited<ReturnType<typeof load>>, severity: 'error' | 'warning') {
  return r.diagnostics.filter((d) => d.severity === severity).map((d) => [d.path, d.message]);
}

describe('coordinator.hcl alertmanager block', () => {
  it('uses the documented label conventions when the block is absent', async () => {
    const r = await load(SERVER);
    expect(r.config.coordinator?.alertmanager).toEqual({
      routes: [],
      nodeLabels: ['node', 'instance'],
      datacenterLabel: 'datacenter',
      nodeTypeLabel: 'node_type',
      reasonAnnotation: 'summary',
    });
  });

  it('reads every setting', async () => {
    const r = await load(
      `${SERVER}alertmanager {
  node_labels       = ["hostname"]
  datacenter_label  = "dc"
  node_type_label   = "role"
  reason_annotation = "description"
  route {
    alertname = "DiskFull"
    matchers  = { severity = "page" }
    workflow  = "cleanDisk"
    params    = { mountpoint = "labels.mountpoint", note = "annotations.description" }
  }
}
`,
      {
        cleanDisk:
          'workflow = "cleanDisk"\ntask_queue_target = "node"\n' +
          'param "mountpoint" {\n  type = "path"\n  settable = true\n  prefixes = ["/"]\n}\n' +
          'param "note" {\n  type = "string"\n  settable = true\n  max = 100\n}\n',
      },
    );
    expect(r.ok).toBe(true);
    expect(r.config.coordinator?.alertmanager).toEqual({
      routes: [
        {
          alertname: 'DiskFull',
          matchers: { severity: 'page' },
          workflow: 'cleanDisk',
          params: { mountpoint: { from: 'labels', key: 'mountpoint' }, note: { from: 'annotations', key: 'description' } },
        },
      ],
      nodeLabels: ['hostname'],
      datacenterLabel: 'dc',
      nodeTypeLabel: 'role',
      reasonAnnotation: 'description',
    });
  });

  it('rejects names that are not Prometheus label names, an empty node_labels and unknown keys', async () => {
    const r = await load(
      `${SERVER}alertmanager {
  datacenter_label = "data-center"
  node_labels    = []
  severity       = "page"
}
`,
    );
    expect(r.ok).toBe(false);
    expect(problems(r, 'error')).toEqual(
      expect.arrayContaining([
        ['alertmanager.datacenter_label', '"data-center" is not a Prometheus label name'],
        ['alertmanager.node_labels', 'needs at least one label name'],
        expect.arrayContaining(['alertmanager.severity']),
      ]),
    );
  });

  it('names the index of a bad entry in node_labels', async () => {
    const r = await load(`${SERVER}alertmanager {\n  node_labels = ["node", "9host"]\n}\n`);
    expect(problems(r, 'error')).toEqual([['alertmanager.node_labels[1]', '"9host" is not a Prometheus label name']]);
  });
});

describe('coordinator.hcl chat block', () => {
  it('is absent unless configured: chat commands are off', async () => {
    const r = await load(SERVER);
    expect(r.config.coordinator?.chat).toBeUndefined();
  });

  it('reads the secret file path (relative to coordinator.hcl), the request age and the allow rules', async () => {
    const r = await load(
      `${SERVER}chat {
  slack_signing_secret_file = "secrets/slack"
  slack_team_id             = "T0OPS"
  slack_enterprise_id       = "E0ORG"
  max_request_age           = "2m"
  allow {
    user      = "U0OPS"
    workflows = ["cleanDisk", "restartService"]
  }
  allow {
    user      = "*"
    workflows = ["ping"]
  }
}
`,
    );
    expect(r.ok).toBe(true);
    const chat = r.config.coordinator!.chat!;
    expect(path.basename(path.dirname(chat.signingSecretFile!))).toBe('secrets');
    expect(path.isAbsolute(chat.signingSecretFile!)).toBe(true);
    expect(chat.maxSkewMs).toBe(120_000);
    expect([chat.teamId, chat.enterpriseId]).toEqual(['T0OPS', 'E0ORG']);
    expect(chat.allow).toEqual([
      { user: 'U0OPS', workflows: ['cleanDisk', 'restartService'] },
      { user: '*', workflows: ['ping'] },
    ]);
  });

  it('requires the signing secret file, the workspace id, and rules with a user and workflows', async () => {
    const r = await load(`${SERVER}chat {\n  allow {\n    workflows = ["x"]\n  }\n  allow {\n    user = "U1"\n  }\n}\n`);
    expect(r.ok).toBe(false);
    const paths = problems(r, 'error').map(([p]) => p);
    expect(paths).toEqual(
      expect.arrayContaining([
        'chat.slack_signing_secret_file',
        'chat.slack_team_id',
        'chat.allow[0].user',
        'chat.allow[1].workflows',
      ]),
    );
  });

  it('rejects a bad max_request_age and unknown keys', async () => {
    const r = await load(
      `${SERVER}chat {\n  slack_signing_secret_file = "s"\n  slack_team_id = "T1"\n  max_request_age = "soon"\n  token = "x"\n}\n`,
    );
    expect(r.ok).toBe(false);
    const paths = problems(r, 'error').map(([p]) => p);
    expect(paths).toEqual(expect.arrayContaining(['chat.max_request_age', 'chat.token']));
  });

  it('warns that a chat block without allow rules refuses every run', async () => {
    const r = await load(`${SERVER}chat {\n  slack_signing_secret_file = "s"\n  slack_team_id = "T1"\n}\n`);
    expect(r.ok).toBe(true);
    expect(problems(r, 'warning')).toEqual([
      ['chat', 'no allow { ... } rules: every chat command that runs a workflow will be refused'],
    ]);
  });
});

describe('chat allow rules and workflows/', () => {
  it('warns about an allowed workflow that has no config', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-coord-config-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'coordinator.hcl'),
        `${SERVER}chat {\n  slack_signing_secret_file = "s"\n  slack_team_id = "T1"\n  allow {\n    user = "U1"\n    workflows = ["ping", "pnig", "*"]\n  }\n}\n`,
      );
      fs.mkdirSync(path.join(dir, 'workflows'));
      fs.writeFileSync(path.join(dir, 'workflows', 'ping.hcl'), 'workflow = "ping"\ntask_queue_target = "node"\n');
      const r = await loadConfigDir(dir);
      expect(r.ok).toBe(true);
      expect(problems(r, 'warning')).toEqual([
        ['chat.allow[0].workflows', 'workflow "pnig" has no config in workflows/; this entry allows nothing'],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
