// A workflow change deployed while executions run: executions started by the previous release's
// workflow code (bundled from git at the commit before this change) pause mid-run, their worker is
// replaced by one with the current bundle, and they complete there (patched() keeps the old path).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createActivities, type Activities, type UnitStatus } from '../../activities';
import type { WorkflowInput } from '../../workflows/shared/input';
import type { Progress } from '../../workflows/progress';
import { testSettings } from '../helpers/medic-worker';
import { connectClient, connectWorkerConnection, eventually, unique, workflowBundle } from '../helpers/temporal';

/** The commit whose workflows/ this change replaces (the first one without workflows/patches.ts). */
function previousRelease(root: string): string {
  return execFileSync('git', ['log', '--format=%H', '-1', '--diff-filter=A', '--', 'workflows/patches.ts'], { cwd: root })
    .toString()
    .trim()
    .concat('^');
}

describe('deploying a workflow change while executions run', () => {
  const root = path.join(__dirname, '..', '..');
  let client: Client;
  let closeClient: () => Promise<void>;
  let oldCode: string;
  let scratch: string;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    // The old sources inside the checkout, so their imports resolve against this node_modules.
    scratch = fs.mkdtempSync(path.join(root, '.medic', 'previous-'));
    const commit = previousRelease(root);
    const tar = execFileSync('git', ['archive', commit, 'workflows', 'src/config/duration.ts', 'src/temporal/task-queues.ts'], {
      cwd: root,
    });
    execFileSync('tar', ['-x', '-C', scratch], { input: tar });
    ({ code: oldCode } = await bundleWorkflowCode({
      workflowsPath: path.join(scratch, 'workflows', 'index.ts'),
      logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
    }));
  }, 300_000);
  afterAll(async () => {
    await closeClient();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('executions started on the old code complete on the new worker', async () => {
    const queue = unique('deploy');
    const systemdUnit: Activities['systemdUnit'] = async (req) =>
      ({
        unit: `${req.unit}.service`,
        action: req.action,
        actionExitCode: 0,
        activeState: 'active',
        subState: 'running',
        active: true,
      }) as UnitStatus;
    const activities = { ...createActivities({ settings: testSettings('n1', 'dc1', 'web') }), systemdUnit };
    const start = async (bundle: { code: string } | { codePath: string }) => {
      const connection = await connectWorkerConnection();
      const worker = await Worker.create({
        connection,
        taskQueue: queue,
        workflowBundle: bundle,
        activities,
        maxCachedWorkflows: 10,
      });
      const running = worker.run();
      return {
        async stop() {
          worker.shutdown();
          await running;
          await connection.close();
        },
      };
    };

    const old = await start({ code: oldCode });
    const input: WorkflowInput = { workflow: 'restartService', target: { node: 'n1' }, params: { unit: 'nginx', settle: '6s' } };
    const handles = await Promise.all(
      [1, 2, 3].map(() =>
        client.workflow.start('restartService', { taskQueue: queue, workflowId: unique('deploy'), args: [input] }),
      ),
    );
    // Every execution is mid-run (in its settle timer) on the old code when the deploy happens.
    for (const h of handles) {
      await eventually(async () => ((await h.query<Progress>('progress')).step === 'settle' ? true : undefined), 60_000);
    }
    await old.stop();
    const fresh = await start(workflowBundle());
    try {
      for (const h of handles) {
        await expect(h.result()).resolves.toMatchObject({ unit: 'nginx.service', attempts: 1 });
        const history = await h.fetchHistory();
        // The old path: no patch marker was written, the run finished without the new commands.
        expect(JSON.stringify(history)).not.toContain('medic-outcomes-v1');
      }
    } finally {
      await fresh.stop();
    }
  }, 240_000);
});
