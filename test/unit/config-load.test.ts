import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatDiagnostic } from '../../src/config/diagnostics';
import { loadConfigDir } from '../../src/config/load';

const TYPES = new Set(['ping', 'restartService', 'rebootNode', 'cleanDisk', 'runbook']);
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'config');

/** Writes `files` (relative path -> text) into a fresh temp directory. */
function configDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-config-'));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

async function problems(files: Record<string, string>): Promise<string[]> {
  const dir = configDir(files);
  const { diagnostics } = await loadConfigDir(dir, { workflowTypes: TYPES });
  return diagnostics.map((d) => formatDiagnostic({ ...d, file: path.relative(dir, path.resolve(d.file)) }));
}

const WF = 'workflow = "restartService"\ntask_queue_target = "node"\n';

describe('loadConfigDir', () => {
  it('loads the shipped example configuration without errors', async () => {
    const { ok, config, diagnostics } = await loadConfigDir(path.join(__dirname, '..', '..', 'config'), { workflowTypes: TYPES });
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(ok).toBe(true);
    expect(config.coordinator?.routeRules.map((r) => r.name)).toEqual([
      'global_get',
      'triggers',
      'alertmanager',
      'pauses',
      'chat',
      'console_sign_in',
      'console_sign_out',
      'console',
      'public_access',
    ]);
    expect(config.coordinator?.alertmanager.routes.map((r) => [r.alertname, r.workflow])).toEqual([
      ['DiskAlmostFull', 'cleanDisk'],
      ['ServiceDown', 'restartService'],
    ]);
    expect(config.coordinator?.chat).toBeUndefined();
    expect(config.workflows.get('restartService')?.constraints).toEqual([
      { kind: 'concurrency', value: 1, periodMs: 900_000, isGlobal: false },
      { kind: 'maxExecution', value: 1, periodMs: 3_600_000, isGlobal: false },
      { kind: 'maxExecution', value: 3, periodMs: 86_400_000, isGlobal: true },
    ]);
    expect(config.triggers.rules.map((r) => [r.name, r.workflow, r.source === 'prometheus' ? r.forMs : undefined])).toEqual(
      expect.arrayContaining([
        ['disk_almost_full', 'cleanDisk', 300_000],
        ['demo_unhealthy', 'healDemo', 2000],
      ]),
    );
    expect(config.worker?.datacenter).toBe('dev1');
  });

  it('reports every problem of a broken directory, each with its file and position or path', async () => {
    const { ok, diagnostics } = await loadConfigDir(path.join(FIXTURES, 'broken'), { workflowTypes: TYPES });
    expect(ok).toBe(false);
    const lines = diagnostics.map((d) =>
      formatDiagnostic({ ...d, file: path.relative(path.join(FIXTURES, 'broken'), path.resolve(d.file)) }),
    );
    expect(lines).toEqual([
      'coordinator.hcl: server_config.listen: "127.0.0.1:99999" is not host:port',
      'coordinator.hcl: server_config.key_file: is required when enable_tls = true',
      'coordinator.hcl: server_config.client_ca_file: is required when enable_tls = true',
      'coordinator.hcl: server_config.route_rule[0].method: "FETCH" is not an HTTP method (or "*")',
      'coordinator.hcl: server_config.route_rule[0].route_patterns: a route rule needs at least one pattern',
      'coordinator.hcl: server_config.route_rule[0].uris[0]: "https://not-spiffe" is not a SPIFFE ID (spiffe://trust-domain/path)',
      'coordinator.hcl: server_config.route_rule[1].uris: warning: allow_public admits every caller, so uris has no effect in this rule',
      'coordinator.hcl: temporal.address: "nohost" is not host:port',
      'coordinator.hcl: temporal.colour: unknown key (known here: address, api_key_file, namespace, payload_key_file, tls)',
      'workflows/seed.hcl: task_queue_target: "<target>" is not one of "general", "node_type", "node"',
      'workflows/seed.hcl: constraint[0].kind: warning: "concurency" is read as "concurrency"; please write "concurrency"',
      'workflows/seed.hcl: constraint[1].kind: unknown constraint kind "bogus" (known: concurrency, maxExecution)',
      'workflows/seed.hcl: constraint[1].value: must be greater than 0, got "0"',
      'workflows/seed.hcl: constraint[1].period: "15x" is not a duration (e.g. "30s", "15m", "1h30m")',
      'workflows/seed.hcl: workflow: workflow type "notExported" is not exported by workflows/ (known: cleanDisk, ping, rebootNode, restartService, runbook)',
      'workflows/syntax.hcl:5,10: Invalid expression: Expected the start of an expression, but found an invalid expression token.',
      'triggers/rules.hcl: prometheus.address: "ftp://prom" must use http or https',
      'triggers/rules.hcl: prometheus.poll_interval: "soon" is not a duration (e.g. "30s", "15m", "1h30m")',
      'triggers/rules.hcl: rule.orphan.workflow: workflow "noSuchWorkflow" has no config in workflows/',
      'triggers: warning: trigger rules are defined but no coordinator block; medic trigger cannot run',
    ]);
  });

  it('accepts the seed spelling "concurency" with a warning and no error', async () => {
    const { ok, config, diagnostics } = await loadConfigDir(
      configDir({ 'workflows/w.hcl': WF + 'constraint {\n kind = "concurency"\n value = "1"\n period = "15m"\n}\n' }),
      { workflowTypes: TYPES },
    );
    expect(ok).toBe(true);
    expect(diagnostics.map((d) => d.severity)).toEqual(['warning']);
    expect(config.workflows.get('w')?.constraints[0]?.kind).toBe('concurrency');
  });

  it.each([
    ['value = "1.5"', 'constraint[0].value: "1.5" is not a whole number'],
    ['value = -2', 'constraint[0].value: must be greater than 0, got -2'],
    ['period = "0s"', 'constraint[0].period: must be longer than 0, got "0s"'],
    ['is_global = "yes"', 'constraint[0].is_global: expected true or false, got "yes"'],
    ['scope = "node"', 'constraint[0].scope: unknown key'],
  ])('reports a constraint with %s', async (line, expected) => {
    const base = { kind: 'kind = "maxExecution"', value: 'value = 1', period: 'period = "1h"' } as Record<string, string>;
    const key = line.split(' ')[0]!;
    const body = Object.entries({ ...base, [key]: line })
      .map(([, v]) => v)
      .join('\n');
    const found = await problems({ 'workflows/w.hcl': `${WF}constraint {\n${body}\n}\n` });
    expect(found.some((p) => p.startsWith(`workflows/w.hcl: ${expected}`))).toBe(true);
  });

  it('rejects workflow names that differ only in case', async () => {
    const found = await problems({ 'workflows/cleanDisk.hcl': WF, 'workflows/cleandisk.hcl': WF });
    expect(found).toEqual([
      'workflows/cleandisk.hcl: workflow name "cleandisk" duplicates "cleanDisk" (names are compared ignoring case)',
    ]);
  });

  it('rejects a workflow name that cannot be used in a URL or workflow id', async () => {
    const found = await problems({ 'workflows/clean disk.hcl': WF });
    expect(found[0]).toMatch(/^workflows\/clean disk\.hcl: workflow name "clean disk"/);
  });

  it('reports a route rule without patterns', async () => {
    const found = await problems({
      'coordinator.hcl':
        'server_config {\n enable_tls = false\n route_rule {\n name = "r"\n method = "GET"\n uris = []\n allow_public = true\n }\n}\n',
    });
    expect(found).toContain('coordinator.hcl: server_config.route_rule[0].route_patterns: is required');
  });

  it('rejects a datacenter named "node", which would collide with node queues', async () => {
    const found = await problems({ 'worker.hcl': 'worker {\n datacenter = "node"\n node_type = "db"\n}\n' });
    expect(found).toEqual(['worker.hcl: worker.datacenter: datacenter may not be called "node" (reserved for node queues)']);
  });

  it('rejects the same rule name in two trigger files', async () => {
    const rule = 'rule "r" {\n query = "up == 0"\n workflow = "w"\n}\n';
    const found = await problems({ 'workflows/w.hcl': WF, 'triggers/a.hcl': rule, 'triggers/b.hcl': rule });
    expect(found).toContain(
      'triggers/b.hcl: rule.r: rule name is already used in ' + found.join('').match(/in (\S*triggers\/a\.hcl)/)![1],
    );
  });

  it('says so when the directory does not exist or holds no medic files', async () => {
    const missing = await loadConfigDir(path.join(os.tmpdir(), 'medic-does-not-exist'));
    expect(missing.ok).toBe(false);
    expect(missing.diagnostics[0]!.message).toMatch(/does not exist/);
    const empty = await loadConfigDir(configDir({ 'notes.txt': 'hi' }));
    expect(empty.ok).toBe(false);
    expect(empty.diagnostics.map((d) => d.message)).toEqual([
      expect.stringMatching(/not a medic config file/),
      expect.stringMatching(/holds no medic configuration/),
    ]);
  });

  it('resolves certificate paths relative to the file that names them', async () => {
    const dir = configDir({
      'coordinator.hcl':
        'server_config {\n cert_file = "tls/s.pem"\n key_file = "/abs/k.pem"\n client_ca_file = "../ca.pem"\n route_rule {\n name = "r"\n method = "*"\n route_patterns = ["/*"]\n uris = ["spiffe://x/y/*"]\n }\n}\n',
    });
    const { config, ok } = await loadConfigDir(dir);
    expect(ok).toBe(true);
    expect(config.coordinator).toMatchObject({
      certFile: path.join(dir, 'tls/s.pem'),
      keyFile: '/abs/k.pem',
      clientCaFile: path.resolve(dir, '../ca.pem'),
      listen: { host: '0.0.0.0', port: 8443 },
    });
  });
});

describe('param blocks', () => {
  it('read type, default, constraints and settable, and warn on a settable param without constraints', async () => {
    const out = await problems({
      'workflows/w.hcl':
        WF +
        'param "unit" {\n  type = "unit"\n  settable = true\n}\nparam "n" {\n  type = "int"\n  default = "x"\n}\n' +
        'param "u" {\n  type = "url"\n  settable = true\n}\nparam "e" {\n  type = "enum"\n}\n',
    });
    expect(out).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/w\.hcl.*param\.unit.*warning.*settable unit param without constraints/),
        expect.stringMatching(/w\.hcl.*param\.n\.default.*whole number/),
        expect.stringMatching(/w\.hcl.*param\.u\.hosts.*settable url param needs/),
        expect.stringMatching(/w\.hcl.*param\.e\.values.*enum needs/),
      ]),
    );
  });

  it('refuse an alertmanager route or trigger rule that maps a locked param', async () => {
    const out = await problems({
      'coordinator.hcl':
        'server_config {\n  enable_tls = false\n}\nalertmanager {\n  route {\n    alertname = "A"\n    workflow = "w"\n    params = { n = "labels.n" }\n  }\n}\n',
      'workflows/w.hcl': WF + 'param "n" {\n  type = "int"\n  default = "1"\n}\n',
    });
    expect(out).toEqual(expect.arrayContaining([expect.stringMatching(/alertmanager\.route\[0\]\.params\.n.*not settable/)]));
  });

  it('refuse the old label-chooses-the-workflow keys', async () => {
    const out = await problems({
      'coordinator.hcl': 'server_config {\n  enable_tls = false\n}\nalertmanager {\n  workflow_label = "medic_workflow"\n}\n',
    });
    expect(out).toEqual(expect.arrayContaining([expect.stringMatching(/alertmanager\.workflow_label.*no longer choose/)]));
  });
});
