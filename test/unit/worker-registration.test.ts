import { applyOverrides } from '../../src/worker/run';
import { backoffDelay, ConnectAbortedError, connectWithRetry } from '../../src/temporal/connect';
import { assertSharedRegistration, registrationProblems } from '../../src/worker/registration';
import { WORKFLOW_TYPES } from '../../src/temporal/workflow-types';
import type { WorkerConfig } from '../../src/config/worker';
import type { Log } from '../../src/telemetry/line-log';
import { fillTemplate, unknownPlaceholders } from '../../workflows/shared/template';

describe('the startup registration check', () => {
  const code = new Set(['ping', 'restartService', 'runbook']);

  it('passes when the bundle holds what the code exports and the configs name', () => {
    expect(
      registrationProblems({
        bundleTypes: ['ping', 'restartService', 'runbook'],
        codeTypes: code,
        configuredTypes: new Map([['fixIt', 'runbook']]),
      }),
    ).toEqual([]);
  });

  it('catches a stale bundle and a config naming an unregistered type', () => {
    expect(
      registrationProblems({
        bundleTypes: ['ping', 'restartService', 'oldOne'],
        codeTypes: code,
        configuredTypes: new Map([['fixIt', 'runbook']]),
      }),
    ).toEqual([
      'the workflow bundle is stale: it lacks [runbook] and has extra [oldOne]; rebuild with npm run build',
      'workflow config fixIt names type "runbook", which the bundle does not register',
    ]);
  });

  it('exports the four remediation workflows and ping', () => {
    expect([...WORKFLOW_TYPES].sort()).toEqual(['cleanDisk', 'ping', 'rebootNode', 'restartService', 'runbook']);
  });

  it('refuses queue workers that do not share one registration', () => {
    const activities = { a: 1, b: 2 };
    expect(() =>
      assertSharedRegistration(['q1', 'q2', 'q3'].map((taskQueue) => ({ taskQueue, codePath: '/b.js', activities }))),
    ).not.toThrow();
    expect(() =>
      assertSharedRegistration([
        { taskQueue: 'q1', codePath: '/b.js', activities },
        { taskQueue: 'q2', codePath: '/b.js', activities: { a: 1 } },
      ]),
    ).toThrow('q2 would not register the same workflows and activities as q1');
  });

  it('checks command-line overrides like worker.hcl values', () => {
    const config = { datacenter: 'dc1', nodeType: 'web', node: 'h1' } as WorkerConfig;
    expect(applyOverrides(config, { node: 'h2' })).toMatchObject({ datacenter: 'dc1', node: 'h2' });
    expect(() => applyOverrides(config, { datacenter: 'node' })).toThrow('reserved for node queues');
    expect(() => applyOverrides(config, { node: 'a:b' })).toThrow('node "a:b" must be');
  });
});

describe('connecting to Temporal', () => {
  const quiet: Log = () => undefined;

  it('backs off exponentially up to a cap', () => {
    const noJitter = () => 0;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, undefined, noJitter))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
  });

  it('spreads reconnects with jitter: up to half of each delay is cut at random', () => {
    expect(backoffDelay(6, undefined, () => 0.999)).toBe(15_015);
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(6)));
    expect(delays.size).toBeGreaterThan(10);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(15_000);
      expect(d).toBeLessThanOrEqual(30_000);
    }
  });

  it('retries until the connection succeeds, logging each failure', async () => {
    const lines: string[] = [];
    let calls = 0;
    const conn = await connectWithRetry(
      async () => {
        if (++calls < 3) throw new Error('connection refused');
        return 'connected';
      },
      {
        address: 'x:7233',
        signal: new AbortController().signal,
        log: (_l, m, f) => lines.push(`${m} ${f?.attempt}`),
        policy: { initialDelayMs: 1, maxDelayMs: 5, factor: 2 },
      },
    );
    expect(conn).toBe('connected');
    expect(lines).toEqual(['cannot reach Temporal; retrying 1', 'cannot reach Temporal; retrying 2', 'connected to Temporal 3']);
  });

  it('gives up when stopped, without waiting out the backoff', async () => {
    const stop = new AbortController();
    const attempt = connectWithRetry(() => Promise.reject(new Error('down')), {
      address: 'x:7233',
      signal: stop.signal,
      log: quiet,
    });
    setTimeout(() => stop.abort(), 50);
    await expect(attempt).rejects.toBeInstanceOf(ConnectAbortedError);
  });
});

describe('runbook placeholders', () => {
  const input = { target: { node: 'web-1', datacenter: 'dc1' }, params: { unit: 'nginx' } };

  it('fills node, datacenter and params', () => {
    expect(fillTemplate('{{ node }}/{{datacenter}}/{{params.unit}}', input)).toBe('web-1/dc1/nginx');
  });

  it('fails on a missing value or an unknown name rather than filling ""', () => {
    expect(() => fillTemplate('{{node_type}}', input)).toThrow('{{node_type}} has no value');
    expect(() => fillTemplate('{{params.constructor}}', input)).toThrow('has no value');
    expect(() => fillTemplate('{{env.HOME}}', input)).toThrow('unknown placeholder');
    expect(unknownPlaceholders('{{node}} {{env.HOME}}')).toEqual(['env.HOME']);
  });
});
