// Diagnostics in pages: `diagnose { ... }` blocks in a workflow's HCL, rendering them (list
// params become several arguments), the diagnose activity (real processes, loopback HTTP, a
// Prometheus stand-in; output capped at 8 KiB), and where they land in PagerDuty, Slack and
// JSON pages and in medic dev's sink.
import { readWorkflow } from '../../src/config/workflow';
import { pageDiagnostics } from '../../src/dev/escalation-sink';
import { DIAGNOSIS_MAX_BYTES, capOutput, diagnose } from '../../activities/diagnose';
import { jsonEvent, pagerdutyEvent, slackMessage, type PageRequest } from '../../activities/escalation';
import { renderDiagnose } from '../../workflows/diagnose';
import type { WorkflowInput } from '../../workflows/shared/input';
import { startCaptureServer, vector } from '../helpers/capture-server';
import { testSettings } from '../helpers/activity-settings';
import { decode } from '../helpers/hcl';

const settings = (extra = {}) => ({
  ...testSettings('n1', 'dc1', 'web'),
  allowedCommands: ['/usr/bin/seq', '/usr/bin/printf'],
  ...extra,
});

describe('diagnose blocks in a workflow config', () => {
  const HEAD = 'workflow = "restartService"\ntask_queue_target = "node"\n';

  it('reads them in the order written, on any workflow, with only the keys that look', async () => {
    const { value, errors, warnings } = await decode(
      `${HEAD}
diagnose {
  name    = "journal"
  kind    = "command"
  command = "/usr/bin/journalctl"
  args    = ["-u", "{{params.unit}}", "-n", "50"]
  timeout = "5s"
}
diagnose {
  name = "status"
  kind = "http_check"
  url  = "http://127.0.0.1:{{params.port}}/status"
}
diagnose {
  name  = "load"
  kind  = "prometheus_check"
  query = "node_load1{instance=\\"{{node}}\\"}"
}
`,
      (d) => readWorkflow('restart', d),
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(value.diagnose).toEqual([
      {
        name: 'journal',
        kind: 'command',
        command: '/usr/bin/journalctl',
        args: ['-u', '{{params.unit}}', '-n', '50'],
        timeoutMs: 5000,
      },
      { name: 'status', kind: 'http_check', url: 'http://127.0.0.1:{{params.port}}/status' },
      { name: 'load', kind: 'prometheus_check', query: 'node_load1{instance="{{node}}"}' },
    ]);
  });

  it('reports every problem with its attribute path: kinds that act, expectations, retries, names, placeholders', async () => {
    const { errors } = await decode(
      `${HEAD}
diagnose {
  name = "a"
  kind = "wait"
}
diagnose {
  name          = "a"
  kind          = "http_check"
  url           = "http://x/{{secrets.key}}"
  expect_status = 200
  attempts      = 2
}
diagnose {
  kind    = "command"
  command = "journalctl"
}
`,
      (d) => readWorkflow('restart', d),
    );
    expect(errors).toEqual([
      'diagnose[0].kind: "wait" is not one of "command", "http_check", "prometheus_check"',
      'diagnose[1].name: diagnose name "a" is used more than once',
      'diagnose[1].url: unknown placeholder {{secrets.key}} (known: {{node}}, {{datacenter}}, {{node_type}}, {{params.NAME}})',
      'diagnose[1].attempts: unknown key (known here: kind, name, timeout, url)',
      'diagnose[1].expect_status: unknown key (known here: kind, name, timeout, url)',
      'diagnose[2].name: is required',
      'diagnose[2].command: "journalctl" must be an absolute path; it must also be listed in worker.hcl allowed_commands',
    ]);
  });

  it('refuses labelled diagnose blocks, whose order the parser would lose', async () => {
    const { errors } = await decode(`${HEAD}diagnose "x" {\n  kind = "command"\n}\n`, (d) => readWorkflow('restart', d));
    expect(errors).toEqual([
      'diagnose: diagnose blocks run in the order written, so they are unlabelled: diagnose { name = "journal" kind = "command" ... }',
    ]);
  });
});

describe('rendering a diagnose step', () => {
  const input: WorkflowInput = {
    workflow: 'cleanDisk',
    target: { node: 'n1' },
    params: { paths: '/var/log/a, /var/tmp/b', unit: 'nginx.service', sneaky: '-rf' },
    paramSchema: {
      paths: { type: 'path', settable: false, secret: false, list: true },
      unit: { type: 'unit', settable: false, secret: false, list: false },
      sneaky: { type: 'string', settable: false, secret: false, list: false },
    },
  };

  it('an argument that is exactly a list param becomes one argument per item; others fill in place', () => {
    expect(
      renderDiagnose(
        { name: 'du', kind: 'command', command: '/usr/bin/du', args: ['-sh', '{{params.paths}}', 'u={{params.unit}}'] },
        input,
      ),
    ).toEqual({
      name: 'du',
      kind: 'command',
      command: '/usr/bin/du',
      args: ['-sh', '/var/log/a', '/var/tmp/b', 'u=nginx.service'],
    });
  });

  it('refuses a value that would start an argument with "-", and escapes URL parts', () => {
    expect(() =>
      renderDiagnose({ name: 'x', kind: 'command', command: '/usr/bin/ls', args: ['{{params.sneaky}}'] }, input),
    ).toThrow(/placeholder \{\{params\.sneaky\}\}/);
    expect(
      renderDiagnose({ name: 'h', kind: 'http_check', url: 'http://127.0.0.1/units/{{params.unit}}?p={{params.paths}}' }, input),
    ).toEqual({
      name: 'h',
      kind: 'http_check',
      url: 'http://127.0.0.1/units/nginx.service?p=%2Fvar%2Flog%2Fa%2C%20%2Fvar%2Ftmp%2Fb',
    });
  });
});

describe('the diagnose activity', () => {
  it('caps output at 8 KiB: the end of a command (the last lines matter), the start of a body', () => {
    const long = Array.from({ length: 5000 }, (_, i) => `line ${i}`).join('\n');
    const tail = capOutput(long, 'tail');
    expect(tail.truncated).toBe(true);
    expect(Buffer.byteLength(tail.text)).toBeLessThanOrEqual(DIAGNOSIS_MAX_BYTES);
    expect(tail.text.startsWith(`[${Buffer.byteLength(long)} bytes, the first ones cut]\n`)).toBe(true);
    expect(tail.text.endsWith('line 4999')).toBe(true);
    const head = capOutput(long, 'head');
    expect(head.text.startsWith('line 0\nline 1\n')).toBe(true);
    expect(head.text.endsWith(`\n[${Buffer.byteLength(long)} bytes, the rest cut]`)).toBe(true);
    expect(capOutput('short', 'tail')).toEqual({ text: 'short', truncated: false });
  });

  it('never cuts a multi-byte character in half', () => {
    const text = 'é'.repeat(DIAGNOSIS_MAX_BYTES);
    for (const keep of ['head', 'tail'] as const) {
      const capped = capOutput(text, keep);
      expect(capped.text).not.toContain('\uFFFD');
      expect(Buffer.byteLength(capped.text)).toBeLessThanOrEqual(DIAGNOSIS_MAX_BYTES);
    }
  });

  it('runs an allow-listed command and keeps its last 8 KiB and its exit status', async () => {
    const seq = { name: 'seq', kind: 'command' as const, command: '/usr/bin/seq', args: ['1', '20000'] };
    const d = await diagnose(settings({ maxOutputBytes: 1 << 20 }), fetch, seq);
    expect(d.name).toBe('seq');
    expect(d.truncated).toBe(true);
    expect(d.output.endsWith('\n19999\n20000\n(exit 0)')).toBe(true);
    expect(Buffer.byteLength(d.output)).toBeLessThanOrEqual(DIAGNOSIS_MAX_BYTES);
  });

  it("beyond the worker's max_output_bytes it shows the start the exec kept, and says so", async () => {
    const seq = { name: 'seq', kind: 'command' as const, command: '/usr/bin/seq', args: ['1', '20000'] };
    const d = await diagnose(settings({ maxOutputBytes: 100 }), fetch, seq);
    const kept = Array.from({ length: 40 }, (_, k) => k + 1)
      .join('\n')
      .slice(0, 100);
    expect(d).toEqual({ name: 'seq', output: `(exit 0; output beyond max_output_bytes dropped)\n${kept}`, truncated: true });
  });

  it('shows stderr and a failing exit status', async () => {
    const d = await diagnose(settings(), fetch, {
      name: 'fails',
      kind: 'command',
      command: '/usr/bin/seq',
      args: ['x'],
    });
    expect(d).toEqual({
      name: 'fails',
      output: expect.stringMatching(/^\[stderr\] .*invalid.*\n\(exit 1\)$/s),
      truncated: false,
    });
  });

  it('refuses a command that is not allow-listed, as runbook steps are refused', async () => {
    await expect(diagnose(settings(), fetch, { name: 'no', kind: 'command', command: '/usr/bin/id', args: [] })).rejects.toThrow(
      '/usr/bin/id is not in worker.hcl allowed_commands',
    );
  });

  it('GETs a URL and keeps its status and the start of its body; a Prometheus query shows its series', async () => {
    const server = await startCaptureServer((req) =>
      req.path.startsWith('/api/v1/query')
        ? { status: 200, body: vector([{ instance: 'n1', job: 'node' }], '2.5') }
        : { status: 503, body: 'down: <db> unreachable' },
    );
    try {
      const http = await diagnose(settings(), fetch, { name: 'status', kind: 'http_check', url: `${server.url}/status` });
      expect(http).toEqual({ name: 'status', output: 'HTTP 503\ndown: <db> unreachable', truncated: false });
      const prom = await diagnose(settings({ prometheus: { address: server.url, timeoutMs: 5000 } }), fetch, {
        name: 'load',
        kind: 'prometheus_check',
        query: 'node_load1',
      });
      expect(prom).toEqual({ name: 'load', output: '1 series\n{instance="n1", job="node"} 2.5', truncated: false });
    } finally {
      await server.close();
    }
  });
});

describe('diagnostics in pages', () => {
  const req: PageRequest = {
    action: 'trigger',
    dedupKey: 'medic/restartService/n1',
    summary: 'still unhealthy',
    outcome: 'escalated',
    workflow: 'restartService',
    workflowId: 'wf-1',
    runId: 'run-1',
    target: { node: 'n1', datacenter: 'dc1' },
    tried: ['restart: systemctl restart nginx'],
    diagnostics: [
      { name: 'journal', output: 'nginx: <error> & ```oops```\n(exit 0)', truncated: false },
      { name: 'uptime', output: 'up 3 days', truncated: false },
    ],
  };

  it('PagerDuty: custom_details.diagnostics maps each name to its output', () => {
    const details = (pagerdutyEvent(req, 'KEY').payload as { custom_details: Record<string, unknown> }).custom_details;
    expect(details.diagnostics).toEqual({ journal: 'nginx: <error> & ```oops```\n(exit 0)', uptime: 'up 3 days' });
  });

  it('Slack: a code block per diagnosis after what was tried, escaped as Slack asks', () => {
    expect((slackMessage(req).text as string).split('\n').slice(-12)).toEqual([
      '*what was tried:*',
      '• restart: systemctl restart nginx',
      '*diagnostics:*',
      '_journal_',
      '```',
      "nginx: &lt;error&gt; &amp; '''oops'''",
      '(exit 0)',
      '```',
      '_uptime_',
      '```',
      'up 3 days',
      '```',
    ]);
  });

  it('JSON: `diagnostics` as sent; pages without diagnostics carry no such field', () => {
    expect(jsonEvent(req).diagnostics).toEqual(req.diagnostics);
    const bare = { ...req, diagnostics: undefined };
    expect('diagnostics' in jsonEvent(bare)).toBe(false);
    expect('diagnostics' in (pagerdutyEvent(bare, 'KEY').payload as { custom_details: object }).custom_details).toBe(false);
    expect(slackMessage(bare).text).not.toContain('diagnostics');
  });

  it("medic dev's sink prints each diagnosis under the page, from JSON and PagerDuty pages alike", () => {
    const expected = [
      '  diagnostics journal:',
      '    nginx: <error> & ```oops```',
      '    (exit 0)',
      '  diagnostics uptime:',
      '    up 3 days',
    ];
    expect(pageDiagnostics(jsonEvent(req))).toEqual(expected);
    expect(pageDiagnostics(pagerdutyEvent(req, 'KEY'))).toEqual(expected);
    expect(pageDiagnostics(jsonEvent({ ...req, diagnostics: undefined }))).toEqual([]);
  });
});
