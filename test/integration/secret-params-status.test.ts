// Secret params in what a run produced, against a real coordinator, Temporal and medic worker: a
// runbook echoes its secret token, so the value sits in the result, the progress query and the
// failure. GET /v1/executions/{id}, GET /v1/executions, `medic status`, audit and logs show none of it.
import { statusText, type StatusBody } from '../../src/cli/queries';
import { colours } from '../../src/cli/output';
import { MASK } from '../../src/params/schema';
import { ADMIN, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { eventually } from '../helpers/temporal';
import type { RunbookStep } from '../../workflows/shared/input';

const MARKER = `tok${Date.now().toString(36)}x${Math.random().toString(36).slice(2, 10)}`;
const TERMINAL = ['COMPLETED', 'FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED'];

const echo = (over: Partial<RunbookStep> = {}): RunbookStep =>
  ({ name: 'show', kind: 'command', command: '/usr/bin/echo', args: ['token={{params.token}}'], ...over }) as RunbookStep;

const secretRunbook = (name: string, steps: RunbookStep[]) =>
  workflowConfig(name, {
    workflowType: 'runbook',
    steps,
    paramSchema: { token: { type: 'string', pattern: '[a-z0-9]+', settable: true, secret: true, list: false } },
  });

let c: TestCoordinator;
let worker: TestWorker;

beforeAll(async () => {
  worker = await startTestWorker({ settings: { allowedCommands: ['/usr/bin/echo'] } });
  c = await testCoordinator([
    secretRunbook('secretHeals', [echo()]),
    // Fails once, waits (the progress query shows the output meanwhile), fails again: escalated.
    secretRunbook('secretFails', [echo({ expectExit: 1, attempts: 2, retryDelayMs: 4_000 })]),
  ]);
}, 60_000);

afterAll(async () => {
  await c?.close();
  await worker?.stop();
});

const get = (url: string) => c.app.inject({ url, headers: { 'x-test-identity': ADMIN } });

/** Reads GET /v1/executions/{id} until the run has ended; every answer on the way. */
async function watch(id: string): Promise<Array<{ body: string; json: StatusBody & Record<string, unknown> }>> {
  const seen: Array<{ body: string; json: StatusBody & Record<string, unknown> }> = [];
  await eventually(
    async () => {
      const res = await get(`/v1/executions/${id}`);
      expect(res.statusCode).toBe(200);
      seen.push({ body: res.body, json: res.json() });
      if (TERMINAL.includes(res.json().status)) return true;
      await new Promise((r) => setTimeout(r, 250));
      return undefined;
    },
    90_000,
    `execution ${id} to end`,
  );
  return seen;
}

describe('secret params in execution status', () => {
  it('are masked in GET /v1/executions/{id} (result, progress, failure), the list, medic status, audit and logs', async () => {
    const target = { node: worker.node, datacenter: worker.datacenter };
    const started = await Promise.all(
      ['secretHeals', 'secretFails'].map((wf) => trigger(c.app, wf, { target, params: { token: MARKER } })),
    );
    for (const s of started) expect(s.statusCode).toBe(202);
    const [heals, fails] = started.map((s) => s.json().workflow_id as string);
    const [healing, failing] = await Promise.all([watch(heals!), watch(fails!)]);

    // The run did produce the secret (echo printed it); what comes back has the mask in its place.
    const healed = healing.at(-1)!.json;
    expect(healed.status).toBe('COMPLETED');
    expect(JSON.stringify(healed.result)).toContain(`token=${MASK}`);
    const failed = failing.at(-1)!.json;
    expect(failed.status).toBe('FAILED');
    expect(failed.failure).toContain(`token=${MASK}`);
    const retrying = failing.find((r) => (r.json.progress as { detail?: string } | undefined)?.detail?.includes('retrying'));
    expect(retrying?.json.progress).toMatchObject({ detail: expect.stringContaining(`token=${MASK}`) });

    const list = await eventually(async () => {
      // This node's runs only: other test files start thousands of executions meanwhile.
      const res = await get(`/v1/executions?node=${encodeURIComponent(worker.node)}&limit=1000`);
      // Visibility may answer 503 under load: ask again.
      if (res.statusCode !== 200) return undefined;
      const ids = (res.json().executions as Array<{ workflow_id: string }>).map((e) => e.workflow_id);
      return ids.includes(heals!) && ids.includes(fails!) ? res.body : undefined;
    });

    const plain = colours(process.stdout, { NO_COLOR: '1' });
    const printed = [
      ...healing.map((r) => r.body),
      ...failing.map((r) => r.body),
      list,
      ...healing.map((r) => statusText(r.json, plain)),
      ...failing.map((r) => statusText(r.json, plain)),
      JSON.stringify(c.audit),
      c.logs.join('\n'),
    ];
    for (const text of printed) expect(text).not.toContain(MARKER);
  }, 150_000);
});
