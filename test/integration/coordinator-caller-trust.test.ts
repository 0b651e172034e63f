// Caller trust against a real coordinator (the shipped workflow configs, the run's Temporal): each
// attack of issue 12 is refused with 400/403 naming the field, and nothing starts. Raw paths go
// over a real socket, byte for byte, so no client library normalises them first.
import * as net from 'node:net';
import * as path from 'node:path';
import { loadConfigDir } from '../../src/config/load';
import { DEFAULT_BODY_LIMIT } from '../../src/config/coordinator';
import { ADMIN, testCoordinator, trigger, type TestCoordinator } from '../helpers/coordinator';
import { unique } from '../helpers/temporal';
import { rawRequest } from '../helpers/raw-http';

let c: TestCoordinator;
let port: number;

beforeAll(async () => {
  const { config } = await loadConfigDir(path.join(__dirname, '..', '..', 'config'));
  c = await testCoordinator([...config.workflows.values()], { config: { bodyLimit: DEFAULT_BODY_LIMIT } });
  await c.app.listen({ host: '127.0.0.1', port: 0 });
  port = (c.app.server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await c.close();
});

function raw(method: string, target: string, body = '', identity: string | null = ADMIN) {
  return rawRequest(port, method, target, { body, headers: identity ? { 'x-test-identity': identity } : {} });
}

const startedSince = (before: number) => c.audit.slice(before).filter((e) => e.decision === 'started');

describe('parameter schemas refuse what callers may not change', () => {
  it.each<[string, string, Record<string, string>, string, RegExp]>([
    ['cleanDisk: patterns "*" (locked)', 'cleanDisk', { patterns: '*' }, 'params.patterns', /locked/],
    ['cleanDisk: older_than "0s" (locked)', 'cleanDisk', { older_than: '0s' }, 'params.older_than', /locked/],
    ['cleanDisk: a mountpoint with ".."', 'cleanDisk', { mountpoint: '/var/../etc' }, 'params.mountpoint', /segments|match/],
    ['restartService: unit "-x" (option injection)', 'restartService', { unit: '-x' }, 'params.unit', /"-"/],
    ['restartService: unit "../x"', 'restartService', { unit: '../x' }, 'params.unit', /systemd unit name/],
    ['restartService: unit "a b"', 'restartService', { unit: 'a b' }, 'params.unit', /systemd unit name/],
    ['restartService: a newline in a value', 'restartService', { expect_body: 'ok\nx' }, 'params.expect_body', /control/],
    [
      'restartService: a health URL to another host',
      'restartService',
      { health_url: 'http://169.254.169.254/latest' },
      'params.health_url',
      /host/,
    ],
    [
      'restartService: a health URL with user info',
      'restartService',
      { health_url: 'http://127.0.0.1@169.254.169.254/' },
      'params.health_url',
      /user info/,
    ],
    ['restartService: attempts (locked)', 'restartService', { attempts: '1000' }, 'params.attempts', /locked/],
    ['healDemo: port "1@169.254.169.254"', 'healDemo', { port: '1@169.254.169.254' }, 'params.port', /whole number/],
    ['rebootNode: an unknown param', 'rebootNode', { command: 'rm' }, 'params.command', /unknown parameter/],
  ])('%s: 400 naming the field, nothing started', async (_what, workflow, params, field, why) => {
    const before = c.audit.length;
    const res = await trigger(c.app, workflow, { target: { node: unique('ct'), datacenter: 'dc1' }, params });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', details: { field } });
    expect(res.json().message).toMatch(why);
    expect(res.json().message).toContain(field);
    expect(startedSince(before)).toEqual([]);
    expect(c.audit.slice(before)).toContainEqual(expect.objectContaining({ decision: 'invalid', workflow }));
  });

  it.each(['nginx', 'nginx.service', 'getty@tty1.service'])('restartService accepts the ordinary unit name %s', async (unit) => {
    const res = await trigger(c.app, 'restartService', { target: { node: unique('ct') }, params: { unit } }, { dryRun: true });
    expect(res.statusCode).toBe(200);
  });
});

describe('the edge', () => {
  it.each([
    ['an escaped "/"', '/v1/workflows/cleanDisk%2fexecutions'],
    ['escaped dots', '/v1/%2e%2e/metrics'],
    ['an escaped NUL', '/v1/workflows/ping%00/executions'],
    ['an escaped "#"', '/v1/workflows/ping%23/executions'],
    ['a raw "#"', '/v1/workflows/ping/executions#x'],
    ['an undecodable escape', '/%zz'],
    ['bad UTF-8', '/v1/workflows/%c3%28/executions'],
  ])("refuses a path with %s before routing: 400 in medic's error shape, audited, nothing started", async (_what, target) => {
    const before = c.audit.length;
    const res = await raw('POST', target, JSON.stringify({ target: { node: unique('edge') } }));
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      error: 'invalid_request',
      message: expect.stringMatching(/^the request path /),
      details: { field: 'path' },
    });
    expect(c.audit.slice(before)).toEqual([expect.objectContaining({ decision: 'invalid', method: 'POST', path: target })]);
  });

  it('answers an anonymous caller "forbidden" and names no rules', async () => {
    const res = await raw('POST', '/v1/workflows/cleanDisk/executions', JSON.stringify({ target: { node: 'h1' } }), null);
    expect(res).toMatchObject({ status: 403, json: { error: 'forbidden', message: 'forbidden', details: {} } });
  });

  it('limits bodies to 64 KiB on the API, and takes up to 4 MiB on the Alertmanager route', async () => {
    const big = JSON.stringify({ target: { node: 'h1' }, reason: 'x'.repeat(70 * 1024) });
    const api = await raw('POST', '/v1/workflows/cleanDisk/executions', big);
    expect(api).toMatchObject({ status: 413, json: { error: 'payload_too_large', details: { limit_bytes: 65536 } } });
    const alerts = JSON.stringify({ version: '4', status: 'resolved', alerts: [], groupKey: 'x'.repeat(3 * 1024 * 1024) });
    expect((await raw('POST', '/v1/alertmanager', alerts)).status).toBe(200);
    const tooBig = JSON.stringify({ version: '4', status: 'resolved', alerts: [], groupKey: 'x'.repeat(5 * 1024 * 1024) });
    expect((await raw('POST', '/v1/alertmanager', tooBig)).status).toBe(413);
  });
});
