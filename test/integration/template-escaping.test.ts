// Per-context escaping of runbook template values against a real coordinator, Temporal dev server,
// medic worker and Prometheus: hostile values that the schema accepts cannot widen a PromQL
// selector, move an HTTP check to another path or host, or add query params; a value that
// would make a ".." path segment is refused before any request goes out.
import { WorkflowFailedError, type Client } from '@temporalio/client';
import type { RunbookStep } from '../../workflows/shared/input';
import type { ParamSpec } from '../../src/params/schema';
import { startCaptureServer, type CaptureServer } from '../helpers/capture-server';
import { testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { startTestWorker, type TestWorker } from '../helpers/medic-worker';
import { startExporter, startPrometheus, type RunningPrometheus } from '../helpers/prometheus';
import { recordHistory } from '../helpers/histories';
import { connectClient, eventually } from '../helpers/temporal';

const METRIC = 'medic_template_probe';
// Unescaped, this would turn M{service="..."} into M{service="x"} or M{service=~".+"}: every series.
const WIDEN = `x"} or ${METRIC}{service=~".+`;
// Unescaped, this would climb out of /api/, add a query param and a fragment, and name a user@host.
const CLIMB = '../../admin?steal=1#@evil.example';

const free: ParamSpec = { type: 'string', settable: true, secret: false, list: false, max: 200 };

describe('template values are escaped for where they land', () => {
  let prom: RunningPrometheus;
  let exporter: Awaited<ReturnType<typeof startExporter>>;
  let site: CaptureServer;
  let worker: TestWorker;
  let c: TestCoordinator;
  let client: Client;
  let closeClient: () => Promise<void>;

  beforeAll(async () => {
    exporter = await startExporter(METRIC, { service: 'db' }, 1);
    prom = await startPrometheus({ targets: [exporter.target] });
    site = await startCaptureServer();
    worker = await startTestWorker({ settings: { prometheus: { address: prom.address, timeoutMs: 10_000 } } });
    ({ client, close: closeClient } = await connectClient());
    const runbook = (name: string, steps: RunbookStep[]) =>
      workflowConfig(name, { workflowType: 'runbook', steps, paramSchema: { service: free } });
    c = await testCoordinator([
      runbook('selectorStays', [
        // "No series for this service": true for the literal hostile name, false if it widened.
        { name: 'none', kind: 'prometheus_check', query: `${METRIC}{service="{{params.service}}"}`, expect: 'empty' },
      ]),
      runbook('urlStays', [
        { name: 'get', kind: 'http_check', url: `${site.url}/api/{{params.service}}/health?name={{params.service}}` },
      ]),
      runbook('dotSegment', [{ name: 'get', kind: 'http_check', url: `${site.url}/files/{{params.service}}` }]),
    ]);
    // The series must be there, or "empty" would prove nothing.
    await eventually(
      async () => {
        const res = await fetch(`${prom.address}/api/v1/query?query=${METRIC}`);
        const body = (await res.json()) as { data?: { result?: unknown[] } };
        return body.data?.result?.length ? true : undefined;
      },
      60_000,
      `${METRIC} scraped`,
    );
  }, 120_000);

  afterAll(async () => {
    await c?.close();
    await worker?.stop();
    await closeClient?.();
    await site?.close();
    await prom?.stop();
    await exporter?.close();
  });

  async function run(workflow: string, service: string): Promise<unknown> {
    const res = await trigger(c.app, workflow, {
      target: { node: worker.node, datacenter: worker.datacenter },
      params: { service },
    });
    expect(res.statusCode).toBe(202); // schema-valid: the caller may send it
    const handle = client.workflow.getHandle(res.json().workflow_id as string);
    const result = await handle.result().catch((e: unknown) => e);
    await recordHistory(`runbook-escaped-${workflow}`, handle);
    return result;
  }

  it('a value in a PromQL label matcher stays one label value: the selector is not widened', async () => {
    // Unescaped, the same query does select the series: the attack is real.
    const raw = await fetch(`${prom.address}/api/v1/query?query=${encodeURIComponent(`${METRIC}{service="${WIDEN}"}`)}`);
    expect(((await raw.json()) as { data: { result: unknown[] } }).data.result.length).toBeGreaterThan(0);

    const result = await run('selectorStays', WIDEN);
    expect(result).toMatchObject({ outcome: 'healed', steps: [{ name: 'none', ok: true }] });
  }, 120_000);

  it('a value in a URL path or query is percent-encoded: same host, same path, one query param', async () => {
    const result = await run('urlStays', CLIMB);
    expect(result).toMatchObject({ outcome: 'healed' });
    const got = site.requests.filter((r) => r.method === 'GET');
    expect(got).toHaveLength(1);
    const encoded = encodeURIComponent(CLIMB);
    expect(got[0]!.path).toBe(`/api/${encoded}/health?name=${encoded}`);
    expect(got[0]!.headers.host).toBe(new URL(site.url).host);
    const parsed = new URL(got[0]!.path, site.url);
    expect(parsed.pathname.split('/')).toEqual(['', 'api', encoded, 'health']);
    expect([...parsed.searchParams]).toEqual([['name', CLIMB]]);
  }, 120_000);

  it('a value that would make a ".." path segment is refused before any request', async () => {
    const before = site.requests.length;
    const err = await run('dotSegment', '..');
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause?.message).toContain('would make a "." or ".." path segment');
    expect(site.requests.length).toBe(before);
  }, 120_000);
});
