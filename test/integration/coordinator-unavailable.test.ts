// Temporal unreachable: the coordinator serves anyway, answers triggers with 503 (not a crash),
// /readyz says not ready, and it connects by itself once Temporal is there.
import { ensureTemporalBinary } from '../../src/temporal/binary';
import { freePort, startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { TemporalGateway } from '../../src/temporal/gateway';
import { ADMIN, testCoordinator, trigger, workflowConfig, type TestCoordinator } from '../helpers/coordinator';
import { eventually, unique } from '../helpers/temporal';

let port: number;
let c: TestCoordinator;
let server: DevServer | undefined;

beforeAll(async () => {
  port = await freePort();
  const temporal = TemporalGateway.connectInBackground({ address: `127.0.0.1:${port}`, namespace: 'default' });
  c = await testCoordinator([workflowConfig('pingNode')], { temporal, config: { temporal: temporal.config } });
});

afterAll(async () => {
  await c.close();
  await server?.stop();
});

it('answers triggers with 503 temporal_unavailable and Retry-After while Temporal is unreachable', async () => {
  const res = await trigger(c.app, 'pingNode', { target: { node: 'h1' } });
  expect(res.statusCode).toBe(503);
  expect(res.headers['retry-after']).toBe('5');
  expect(res.json()).toEqual({
    error: 'temporal_unavailable',
    message: 'Temporal is unreachable or did not answer in time; retry later',
    details: { started: false },
  });
  expect(c.audit.at(-1)).toMatchObject({ decision: 'error', workflow: 'pingNode' });
  const status = await c.app.inject({ url: '/v1/executions/some-id', headers: { 'x-test-identity': ADMIN } });
  expect(status.statusCode).toBe(503);
  expect(status.json().error).toBe('temporal_unavailable');
});

it('is alive but not ready', async () => {
  expect((await c.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  const ready = await c.app.inject({ url: '/readyz' });
  expect(ready.statusCode).toBe(503);
  expect(ready.json()).toMatchObject({ status: 'not_ready', temporal: 'unreachable', config: 'loaded' });
  expect((await c.app.inject({ url: '/metrics' })).body).toMatch(
    /medic_coordinator_triggers_total\{workflow="pingNode",result="error",source="api"\} 1/,
  );
});

it('connects by itself once Temporal is up, and then starts workflows', async () => {
  server = await startDevServer({ binary: await ensureTemporalBinary(), port });
  await eventually(
    async () => ((await c.app.inject({ url: '/readyz' })).statusCode === 200 ? true : undefined),
    30_000,
    'readiness',
  );
  const res = await trigger(c.app, 'pingNode', { target: { node: unique('late') } });
  expect(res.statusCode).toBe(202);
});
