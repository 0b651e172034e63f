// The close watcher's recorded histories replay against the current ledger bundle (where the
// watcher runs): a change to the watcher that would break one running under the code before it
// fails here. test/fixtures/watcher-histories/<level>/: `unpatched` was recorded with the watcher
// before its diagnose and resume patches, `medic-watcher-resume-v1` with them,
// `medic-watcher-retry-v1` with its retried pages too.
//
// With MEDIC_RECORD_HISTORIES=1 the scenario below drives a watcher on the dev server through a
// page that fails once and is tried again, and a continue-as-new, and records both runs under
// MEDIC_WATCHER_HISTORY_LEVEL (default the newest patch), never over an existing file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ApplicationFailure } from '@temporalio/common';
import { LEDGER_QUEUE, generalQueue, nodeQueue } from '../../src/naming/task-queues';
import { startSearchAttributes } from '../../src/naming/search-attributes';
import { createWatcherActivities } from '../../src/watcher/activities';
import { WATCHER_RESUME_PATCH, WATCHER_RETRY_PATCH, type WatcherState } from '../../src/watcher/state';
import type { WorkflowInput } from '../../workflows/shared/input';
import { HISTORY_SUFFIX } from '../helpers/histories';
import { connectClient, connectWorkerConnection, eventually, unique } from '../helpers/temporal';

const DIR = path.join(__dirname, '..', 'fixtures', 'watcher-histories');
const recording = process.env.MEDIC_RECORD_HISTORIES === '1';

function ledgerBundle(): { codePath: string } {
  const codePath = process.env.MEDIC_TEST_LEDGER_BUNDLE;
  if (!codePath) throw new Error('no ledger bundle: integration tests need the jest global setup');
  return { codePath };
}

const files = fs.existsSync(DIR)
  ? fs
      .readdirSync(DIR)
      .flatMap((level) => fs.readdirSync(path.join(DIR, level)).map((f) => `${level}/${f}`))
      .filter((f) => f.endsWith(HISTORY_SUFFIX))
      .sort()
  : [];

(recording ? describe.skip : describe)('recorded close watcher histories', () => {
  it('cover the watcher before and after its patches, each through a continue-as-new', () => {
    for (const level of ['unpatched', WATCHER_RESUME_PATCH, WATCHER_RETRY_PATCH])
      for (const run of ['first-run', 'carried']) expect(files).toContain(`${level}/close-watcher-${run}${HISTORY_SUFFIX}`);
  });

  it.each(files)('replay without non-determinism: %s', async (file) => {
    const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(DIR, file)));
    await Worker.runReplayHistory({ workflowBundle: ledgerBundle() }, history);
  });
});

(recording ? describe : describe.skip)('recording close watcher histories (MEDIC_RECORD_HISTORIES=1)', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  let connection: NativeConnection;
  const workers: Worker[] = [];
  const running: Promise<void>[] = [];
  const dc = unique('dc');
  let pageCalls = 0;

  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient());
    connection = await connectWorkerConnection();
    workers.push(
      await Worker.create({
        connection,
        taskQueue: LEDGER_QUEUE,
        workflowBundle: ledgerBundle(),
        activities: createWatcherActivities(() => client),
      }),
      // The datacenter's general queue: the sink, as a general worker serves it.
      await Worker.create({
        connection,
        taskQueue: generalQueue(dc),
        // The sink refuses the first page (a failure worth another try): the watcher keeps it pending.
        activities: {
          page: async () => {
            if (pageCalls++ === 0) throw ApplicationFailure.nonRetryable('sink down', 'SinkDown');
            return { delivered: true, detail: 'recorded' };
          },
        },
      }),
    );
    running.push(...workers.map((w) => w.run()));
  });
  afterAll(async () => {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await connection.close();
    await closeClient();
  });

  async function record(name: string, history: temporal.api.history.v1.IHistory): Promise<void> {
    const dir = path.join(DIR, process.env.MEDIC_WATCHER_HISTORY_LEVEL ?? WATCHER_RETRY_PATCH);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${name}${HISTORY_SUFFIX}`), temporal.api.history.v1.History.encode(history).finish(), {
      flag: 'wx',
    });
  }

  it('a watcher that pages a terminated run (with diagnose steps on a node that does not answer), once more after a failed attempt, and continues as new', async () => {
    const id = unique('watcher');
    const options = {
      scope: `MedicDatacenter = '${dc}'`,
      pollMs: 300,
      maxHistoryEvents: 40,
      diagnoseWithinMs: 1_000,
      retryMs: 500,
    };
    const watcher = await client.workflow.start('medicCloseWatcher', {
      taskQueue: LEDGER_QUEUE,
      workflowId: id,
      args: [options],
    });
    await eventually(() => watcher.query<WatcherState>('watcherState').catch(() => undefined), 30_000, 'the watcher');
    const input: WorkflowInput = {
      workflow: 'hangs',
      target: { node: unique('gone'), datacenter: dc },
      params: {},
      diagnose: [{ name: 'uptime', kind: 'command', command: '/usr/bin/uptime', args: [] }],
      activityQueue: nodeQueue('gone'),
    };
    const run = await client.workflow.start('runbook', {
      taskQueue: generalQueue(dc),
      workflowId: unique('hangs'),
      args: [input],
      typedSearchAttributes: startSearchAttributes({ workflow: 'hangs', node: input.target.node, datacenter: dc }),
    });
    await run.terminate('recorded');
    await eventually(
      async () => ((await watcher.query<WatcherState>('watcherState')).paged === 1 ? true : undefined),
      60_000,
      'the page',
    );
    expect(pageCalls).toBe(2);
    await eventually(
      async () => ((await client.workflow.getHandle(id).describe()).runId !== watcher.firstExecutionRunId ? true : undefined),
      60_000,
      'continue-as-new',
    );
    // A few polls of the carried run.
    const carried = client.workflow.getHandle(id);
    await eventually(async () => ((await carried.describe()).historyLength > 12 ? true : undefined), 30_000, 'polls');
    await record('close-watcher-first-run', await client.workflow.getHandle(id, watcher.firstExecutionRunId).fetchHistory());
    await carried.terminate('recorded');
    await record('close-watcher-carried', await carried.fetchHistory());
  }, 120_000);
});
