import * as path from 'node:path';
import { loadConfigDir } from '../../src/config/load';
import { readWorkflow } from '../../src/config/workflow';
import { WORKFLOW_TYPES } from '../../src/temporal/workflow-types';
import { decode } from '../helpers/hcl';

const HEAD = 'workflow = "runbook"\ntask_queue_target = "node"\n';

describe('runbook steps in a workflow config', () => {
  it('keeps the steps in the order written, with their kind-specific fields', async () => {
    const { value, errors } = await decode(
      `${HEAD}
step {
  name = "zzz-first"
  kind = "command"
  command = "/usr/bin/systemctl"
  args = ["restart", "{{params.unit}}"]
  timeout = "30s"
  attempts = 2
  retry_delay = "10s"
}
step {
  name = "aaa-second"
  kind = "http_check"
  url = "http://127.0.0.1:8080/health"
  expect_status = 204
  expect_body = "ok"
}
step {
  name = "third"
  kind = "prometheus_check"
  query = "up{instance=\\"{{node}}\\"} == 0"
}
step {
  name = "fourth"
  kind = "wait"
  duration = "1m"
}
step {
  name = "fifth"
  kind = "notify"
  message = "done on {{node}}"
}
`,
      (d) => readWorkflow('fix', d),
    );
    expect(errors).toEqual([]);
    expect(value.steps).toEqual([
      {
        name: 'zzz-first',
        kind: 'command',
        command: '/usr/bin/systemctl',
        args: ['restart', '{{params.unit}}'],
        timeoutMs: 30_000,
        attempts: 2,
        retryDelayMs: 10_000,
      },
      { name: 'aaa-second', kind: 'http_check', url: 'http://127.0.0.1:8080/health', expectStatus: 204, expectBody: 'ok' },
      { name: 'third', kind: 'prometheus_check', query: 'up{instance="{{node}}"} == 0', expect: 'empty' },
      { name: 'fourth', kind: 'wait', durationMs: 60_000 },
      { name: 'fifth', kind: 'notify', message: 'done on {{node}}' },
    ]);
  });

  it('reports every problem with its attribute path', async () => {
    const { errors } = await decode(
      `${HEAD}
step {
  name = "a"
  kind = "command"
  command = "systemctl"
  url = "http://x"
}
step {
  name = "a"
  kind = "reboot"
}
step {
  name = "c"
  kind = "notify"
  message = "{{ secrets.token }}"
}
step {
  kind = "wait"
}
`,
      (d) => readWorkflow('fix', d),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        'step[0].command: "systemctl" must be an absolute path; it must also be listed in worker.hcl allowed_commands',
        expect.stringMatching(/^step\[0\]\.url: unknown key/),
        'step[1].name: step name "a" is used more than once',
        'step[1].kind: "reboot" is not one of "command", "http_check", "prometheus_check", "wait", "notify"',
        'step[2].message: unknown placeholder {{secrets.token}} (known: {{node}}, {{datacenter}}, {{node_type}}, {{params.NAME}})',
        'step[3].name: is required',
        'step[3].duration: is required',
      ]),
    );
  });

  it('refuses labelled steps, whose order the parser would lose', async () => {
    const { errors } = await decode(`${HEAD}step "b" {\n  kind = "wait"\n  duration = "1s"\n}\n`, (d) => readWorkflow('fix', d));
    expect(errors).toEqual([
      'step: steps run in the order written, so they are unlabelled: step { name = "restart" kind = "command" ... }',
    ]);
  });

  it('needs at least one step for a runbook, and warns about steps elsewhere', async () => {
    expect((await decode(HEAD, (d) => readWorkflow('fix', d))).errors).toEqual([
      'step: a runbook needs at least one step { ... }',
    ]);
    const other = await decode(
      'workflow = "cleanDisk"\ntask_queue_target = "node"\nstep {\n  name = "x"\n  kind = "wait"\n  duration = "1s"\n}\n',
      (d) => readWorkflow('clean', d),
    );
    expect(other.errors).toEqual([]);
    expect(other.warnings[0]).toContain('ignores them');
  });

  it('the shipped config/ validates with every workflow type this medic exports', async () => {
    const { diagnostics, config } = await loadConfigDir(path.join(__dirname, '..', '..', 'config'), {
      workflowTypes: WORKFLOW_TYPES,
    });
    expect(diagnostics).toEqual([]);
    expect(config.workflows.get('resyncClock')!.steps!.map((s) => s.kind)).toEqual([
      'command',
      'wait',
      'prometheus_check',
      'notify',
    ]);
    expect(config.worker).toMatchObject({ rebootDryRun: true });
  });
});
