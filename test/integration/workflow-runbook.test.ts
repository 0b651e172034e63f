// runbook against the real dev server with a real medic worker: the steps come from an HCL file
// loaded by the same config loader `medic validate` and the coordinator use.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { loadConfigOrThrow } from '../../src/config/load';
import { WORKFLOW_TYPES } from '../../src/temporal/workflow-types';
import type { RunbookStep, WorkflowInput } from '../../workflows/shared/input';
import type { Progress } from '../../workflows/progress';
import type { RunbookResult } from '../../workflows/runbook';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { startTestWorker, tempDir, type TestWorker } from '../helpers/medic-worker';
import { recordHistory } from '../helpers/histories';
import { connectClient, eventually, unique } from '../helpers/temporal';

describe('runbook', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let server: CaptureServer;
  let healthyAfter = 0;
  let worker: TestWorker | undefined;
  let dir: string;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    server = await startCaptureServer((req) => {
      if (req.path !== '/health') return { status: 200 };
      healthyAfter -= 1;
      return healthyAfter < 0 ? { status: 200, body: 'green' } : { status: 503, body: 'red' };
    });
  });
  beforeEach(async () => {
    dir = tempDir('runbook');
    server.requests.length = 0;
    healthyAfter = 0;
    worker = await startTestWorker({
      settings: {
        allowedCommands: ['/usr/bin/echo', '/usr/bin/false'],
        hooks: { notify: { kind: 'webhook', url: `${server.url}/notify`, headers: {}, timeoutMs: 2000 } },
      },
    });
  });
  afterEach(async () => {
    await worker?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await Promise.all([server.close(), closeClient()]);
  });

  /** Writes workflows/<name>.hcl, loads it like the coordinator does, and returns its steps. */
  async function stepsFrom(hcl: string): Promise<RunbookStep[]> {
    fs.mkdirSync(path.join(dir, 'workflows'));
    fs.writeFileSync(path.join(dir, 'workflows', 'fixIt.hcl'), `workflow = "runbook"\ntask_queue_target = "node"\n${hcl}`);
    const { config } = await loadConfigOrThrow(dir, { workflowTypes: WORKFLOW_TYPES });
    return config.workflows.get('fixIt')!.steps!;
  }

  const start = (steps: RunbookStep[], params: Record<string, string> = {}) => {
    const input: WorkflowInput = {
      workflow: 'fixIt',
      target: { node: worker!.node, datacenter: worker!.datacenter },
      params,
      steps,
    };
    return client.workflow.start('runbook', { taskQueue: worker!.queues[2]!, workflowId: unique('runbook'), args: [input] });
  };

  const HEALTH = (attempts: number) => `
step {
  name        = "healthy"
  kind        = "http_check"
  url         = "${'${url}'}/health"
  expect_body = "green"
  attempts    = ${attempts}
  retry_delay = "200ms"
}
`;

  it('runs the declared steps in order, filling placeholders', async () => {
    const steps = await stepsFrom(`
step {
  name    = "say"
  kind    = "command"
  command = "/usr/bin/echo"
  args    = ["restarting", "{{params.unit}}", "on", "{{node}}", "; rm -rf /"]
}
${HEALTH(1).replace('${url}', server.url)}
step {
  name     = "pause"
  kind     = "wait"
  duration = "200ms"
}
step {
  name    = "tell"
  kind    = "notify"
  message = "{{params.unit}} fixed on {{node}}"
}
`);
    expect(steps.map((s) => s.name)).toEqual(['say', 'healthy', 'pause', 'tell']);
    const handle = await start(steps, { unit: 'nginx' });
    const result = (await handle.result()) as RunbookResult;
    expect(result.steps.map((s) => [s.name, s.ok])).toEqual([
      ['say', true],
      ['healthy', true],
      ['pause', true],
      ['tell', true],
    ]);
    // The argument with shell syntax reached echo as one literal argument: no shell was involved.
    expect(result.steps[0]!.detail).toContain(`restarting nginx on ${worker!.node} ; rm -rf /`);
    expect(server.posted('/notify')[0]).toMatchObject({ message: `nginx fixed on ${worker!.node}`, severity: 'info' });
    const progress = await handle.query<Progress>('progress');
    expect(progress).toMatchObject({ status: 'succeeded', steps: ['say', 'healthy', 'pause', 'tell'], stepNumber: 4 });
    await recordHistory('runbook-success', handle);
  });

  it('retries a failing step up to its attempts', async () => {
    healthyAfter = 2;
    const handle = await start(await stepsFrom(HEALTH(3).replace('${url}', server.url)));
    const result = (await handle.result()) as RunbookResult;
    expect(result.steps[0]).toMatchObject({ name: 'healthy', ok: true, attempts: 3 });
    await recordHistory('runbook-retry', handle);
  });

  it('escalates when a step still fails after its attempts', async () => {
    const handle = await start(
      await stepsFrom(`
step {
  name     = "must-pass"
  kind     = "command"
  command  = "/usr/bin/false"
  attempts = 2
  retry_delay = "100ms"
}
step {
  name    = "never"
  kind    = "notify"
  message = "not reached"
}
`),
    );
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect((err.cause as ApplicationFailure).type).toBe('Escalated');
    expect(err.cause!.message).toContain('step "must-pass" failed after 2 attempts');
    expect(server.posted('/notify')).toHaveLength(1);
    expect(server.posted('/notify')[0]).toMatchObject({ severity: 'critical' });
    await recordHistory('runbook-escalation', handle);
  });

  it('does not retry a command that is not allow-listed', async () => {
    const handle = await start(
      await stepsFrom(`
step {
  name     = "sneaky"
  kind     = "command"
  command  = "/usr/bin/rm"
  args     = ["-rf", "/tmp/x"]
  attempts = 5
}
`),
    );
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err.cause!.message).toContain('failed after 1 attempt: /usr/bin/rm is not in worker.hcl allowed_commands');
  });

  it('stops when cancelled during a wait step', async () => {
    const handle = await start(await stepsFrom(`\nstep {\n  name = "long"\n  kind = "wait"\n  duration = "1h"\n}\n`));
    await eventually(async () => ((await handle.query<Progress>('progress')).step === 'long' ? true : undefined));
    await handle.cancel();
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err.cause).toBeInstanceOf(CancelledFailure);
    expect((await handle.query<Progress>('progress')).status).toBe('cancelled');
    await recordHistory('runbook-cancelled', handle);
  });
});
