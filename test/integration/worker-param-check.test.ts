// The worker's re-check of params (defence in depth) with a real worker and the real bundle: an
// input whose params its own schema refuses fails at once as InvalidInput, before any activity
// (here: a systemd restart) runs; the same input with a value the schema accepts runs.
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { WorkflowInput } from '../../workflows/shared/input';
import type { ParamSchema } from '../../src/params/schema';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { connectClient, unique } from '../helpers/temporal';

const SCHEMA: ParamSchema = {
  unit: { type: 'unit', settable: true, secret: false, list: false, pattern: 'haproxy(\\.service)?' },
  settle: { type: 'duration', default: '1ms', settable: false, secret: false, list: false },
};

let client: Client;
let closeClient: () => Promise<void>;
let worker: TestWorker;
const restarted: string[] = [];

beforeAll(async () => {
  ({ client, close: closeClient } = await connectClient());
  const systemdUnit: Activities['systemdUnit'] = async (req) => {
    if (req.action === 'restart') restarted.push(req.unit);
    return { unit: req.unit, action: req.action, actionExitCode: 0, activeState: 'active', subState: 'running', active: true };
  };
  worker = await startTestWorker({ fakes: { systemdUnit } });
});

afterAll(async () => {
  await worker.stop();
  await closeClient();
});

function run(params: Record<string, string>) {
  const input: WorkflowInput = { workflow: 'restartService', target: {}, params, paramSchema: SCHEMA };
  return client.workflow.start('restartService', {
    taskQueue: worker.queues[2]!,
    workflowId: unique('param-check'),
    args: [input],
  });
}

describe('the worker re-checks params against the schema before anything runs', () => {
  it('fails an input whose params the schema refuses as InvalidInput, and restarts nothing', async () => {
    const handle = await run({ unit: 'nginx', settle: '1ms' });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = err.cause as ApplicationFailure;
    expect(cause.type).toBe('InvalidInput');
    expect(cause.message).toContain('params.unit must match');
    expect(restarted).toEqual([]);
  });

  it('fails an input with a param the schema does not declare', async () => {
    const handle = await run({ unit: 'haproxy', settle: '1ms', extra: 'x' });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect((err.cause as ApplicationFailure).message).toContain('params.extra: not declared');
    expect(restarted).toEqual([]);
  });

  it('runs an input the schema accepts', async () => {
    const handle = await run({ unit: 'haproxy', settle: '1ms' });
    await handle.result();
    expect(restarted).toEqual(['haproxy']);
  });
});
