// Secret params are masked where a run's output is produced, not only where it is read: a real
// `medic worker` process (real Temporal dev server, real coordinator app) runs runbooks whose
// steps echo a secret token and then fail. The worker's own stdout/stderr, the page posted to
// the escalation sink (and the PagerDuty and Slack bodies built from it), the workflow's result
// and failure as Temporal holds them, the progress query and `medic status` carry the mask, never
// the value. A short secret is masked as a whole token only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { pagerdutyEvent, slackMessage, type PageRequest } from '../../activities/escalation';
import { statusText, type StatusBody } from '../../src/cli/queries';
import { colours } from '../../src/cli/output';
import { MASK } from '../../src/params/schema';
import type { RunbookStep } from '../../workflows/shared/input';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { ADMIN, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { spawnMedic, writeWorkerConfig, type MedicProcess } from '../helpers/medic-process';
import { tempDir } from '../helpers/medic-worker';
import { recordHistory } from '../helpers/histories';
import { connectClient, eventually, temporalAddress, unique, workflowBundle } from '../helpers/temporal';

const TOKEN = `tok${Date.now().toString(36)}x${Math.random().toString(36).slice(2, 10)}`;
// Shorter than SHORT_SECRET: masked where it stands alone, not inside "grab1t".
const PIN = 'ab1';

const echo = (over: Partial<RunbookStep> = {}): RunbookStep =>
  ({
    name: 'show',
    kind: 'command',
    command: '/usr/bin/echo',
    args: ['token={{params.token}}', 'pin={{params.pin}}', 'grab1t'],
    ...over,
  }) as RunbookStep;

const secretRunbook = (name: string, steps: RunbookStep[]) =>
  workflowConfig(name, {
    workflowType: 'runbook',
    steps,
    paramSchema: {
      token: { type: 'string', pattern: '[a-z0-9]+', settable: true, secret: true, list: false },
      pin: { type: 'string', pattern: '[a-z0-9]+', settable: true, secret: true, list: false },
    },
  });

describe('secret params in what the worker prints and pages', () => {
  let dir: string;
  let sink: CaptureServer;
  let worker: MedicProcess;
  let c: TestCoordinator;
  let client: Client;
  let closeClient: () => Promise<void>;
  const [node, datacenter] = [unique('secret'), unique('dc')];

  beforeAll(async () => {
    dir = tempDir('secret-worker');
    sink = await startCaptureServer();
    const configDir = writeWorkerConfig(
      path.join(dir, 'config'),
      [
        `datacenter = "${datacenter}"`,
        'node_type = "generic"',
        `node = "${node}"`,
        'allowed_commands = ["/usr/bin/echo"]',
        'reboot_dry_run = true',
      ].join('\n'),
      `temporal {\n  address = "${temporalAddress()}"\n}\n`,
    );
    worker = spawnMedic([
      'worker',
      '--config',
      configDir,
      '--workflow-bundle',
      workflowBundle().codePath,
      '--escalation-url',
      `${sink.url}/page`,
    ]);
    ({ client, close: closeClient } = await connectClient());
    c = await testCoordinator([
      secretRunbook('secretHeals', [echo()]),
      // The command's output is the failure text: "echo: exit 0, expected 1: token=...".
      secretRunbook('secretEchoFails', [echo({ expectExit: 1 })]),
      // The activity itself fails with the rendered URL in its error (the worker logs "Activity failed").
      secretRunbook('secretActivityFails', [
        echo(),
        { name: 'check', kind: 'http_check', url: 'ftp://127.0.0.1/{{params.token}}/{{params.pin}}' },
      ]),
    ]);
    await worker.waitFor(/msg="polling"/, 60_000);
  }, 90_000);

  afterAll(async () => {
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
      worker.child.kill('SIGTERM');
      await worker.exited;
    }
    await c?.close();
    await closeClient?.();
    await sink?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(workflow: string): Promise<string> {
    const res = await trigger(c.app, workflow, { target: { node, datacenter }, params: { token: TOKEN, pin: PIN } });
    expect(res.statusCode).toBe(202);
    return res.json().workflow_id as string;
  }

  it('never prints the value: worker output, pages, result, failure, progress, medic status', async () => {
    const [heals, echoFails, activityFails] = await Promise.all(
      ['secretHeals', 'secretEchoFails', 'secretActivityFails'].map(start),
    );

    // Healed: the result as Temporal holds it (not only as the API shows it) has the mask.
    const healed = await client.workflow.getHandle(heals!).result();
    expect(healed.outcome).toBe('healed');
    expect(healed.steps[0].detail).toBe(`/usr/bin/echo: exit 0: token=${MASK} pin=${MASK} grab1t`);

    // Escalated: the failure and its details as Temporal holds them.
    const failures: ApplicationFailure[] = [];
    for (const id of [echoFails!, activityFails!]) {
      const err = await client.workflow
        .getHandle(id)
        .result()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(cause.type).toBe('Escalated');
      failures.push(cause);
    }
    expect(failures[0]!.message).toContain(`token=${MASK} pin=${MASK} grab1t`);
    expect(failures[1]!.message).toContain(`ftp://127.0.0.1/${MASK}/${MASK} must use http or https`);

    // The pages the escalation sink received (medic's JSON), and the other formats built from them.
    const pages = await eventually(
      async () => {
        const posted = sink.posted<Record<string, unknown>>('/page');
        return posted.filter((p) => p.event_action === 'trigger').length >= 2 ? posted : undefined;
      },
      60_000,
      'two pages',
    );
    const triggered = pages.filter((p) => p.event_action === 'trigger');
    expect(triggered.map((p) => p.summary).join('\n')).toContain(`token=${MASK}`);
    const formats = triggered.flatMap((p) => {
      const req: PageRequest = {
        action: 'trigger',
        dedupKey: String(p.dedup_key),
        summary: String(p.summary),
        outcome: String(p.outcome),
        workflow: String(p.workflow),
        workflowId: String(p.workflow_id),
        runId: String(p.run_id),
        target: p.target as PageRequest['target'],
        tried: p.tried as string[],
      };
      return [JSON.stringify(pagerdutyEvent(req, 'routing-key')), JSON.stringify(slackMessage(req))];
    });

    // Fixtures for the replay test (with MEDIC_RECORD_HISTORIES=1): the masking path of each outcome.
    await recordHistory('runbook-secret-healed', client.workflow.getHandle(heals!));
    await recordHistory('runbook-secret-escalated', client.workflow.getHandle(echoFails!));
    await recordHistory('runbook-secret-activity-failed', client.workflow.getHandle(activityFails!));

    // Progress and `medic status`, read the way the CLI reads them.
    const statuses: string[] = [];
    const plain = colours(process.stdout, { NO_COLOR: '1' });
    for (const id of [heals!, echoFails!, activityFails!]) {
      const res = await c.app.inject({ url: `/v1/executions/${id}`, headers: { 'x-test-identity': ADMIN } });
      expect(res.statusCode).toBe(200);
      statuses.push(res.body, statusText(res.json() as StatusBody, plain));
      const progress = await client.workflow.getHandle(id).query<{ history: unknown[] }>('progress');
      statuses.push(JSON.stringify(progress));
    }

    // The worker logged both failures (the activity's and the workflow's), masked.
    await worker.waitFor(/Workflow failed/);
    await worker.waitFor(/Activity failed/);
    const output = worker.output();
    expect(output).toContain(`ftp://127.0.0.1/${MASK}/${MASK}`);
    expect(output).toContain(`token=${MASK}`);

    const printed = [
      output,
      JSON.stringify(healed),
      ...failures.map((f) => `${f.message} ${JSON.stringify(f.details)}`),
      sink.requests.map((r) => r.body).join('\n'),
      ...formats,
      ...statuses,
    ];
    for (const text of printed) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toMatch(/(?<![A-Za-z0-9_])ab1(?![A-Za-z0-9_])/);
    }
    // The short secret did not eat "grab1t" (or anything else but itself).
    expect(JSON.stringify(healed)).toContain('grab1t');
  }, 240_000);
});
