// Builds coordinators for tests: config objects in code, a test-only identity (a request
// header read by an injected identify function; production reads the TLS certificate), and an
// audit sink that keeps its lines.
import type { Client } from '@temporalio/client';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { DEFAULT_ALERTMANAGER } from '../../src/config/callers';
import type { CoordinatorConfig, RouteRule } from '../../src/config/coordinator';
import type { Constraint, WorkflowConfig } from '../../src/config/workflow';
import type { QueueTarget } from '../../src/naming/task-queues';
import { buildCoordinator, type CoordinatorDeps } from '../../src/coordinator/app';
import type { AuditEntry } from '../../src/telemetry/audit';
import { LiveConfig } from '../../src/coordinator/live-config';
import { createMetrics } from '../../src/coordinator/metrics';
import { TemporalGateway } from '../../src/temporal/gateway';
import { connectClient, temporalAddress, unique } from './temporal';

export const ADMIN = 'spiffe://medic.test/sre-admin';
export const TRIGGER_DC1 = 'spiffe://medic.test/trigger/dc1';
export const STRANGER = 'spiffe://medic.test/stranger';

export const TEST_RULES: RouteRule[] = [
  { name: 'admins', method: '*', routePatterns: ['/v1/*'], uris: [ADMIN], allowPublic: false, skipLogMatch: false },
  {
    name: 'triggers',
    method: 'POST',
    routePatterns: ['/v1/workflows/*/executions'],
    uris: ['spiffe://medic.test/trigger/*'],
    allowPublic: false,
    skipLogMatch: false,
  },
  {
    name: 'public',
    method: 'GET',
    routePatterns: ['/metrics', '/healthz', '/readyz', '/openapi.json'],
    uris: [],
    allowPublic: true,
    skipLogMatch: true,
  },
];

export function coordinatorConfig(over: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  return {
    file: 'test/coordinator.hcl',
    listen: { host: '127.0.0.1', port: 0 },
    enableTls: false,
    bodyLimit: 16 * 1024,
    routeRules: TEST_RULES,
    admission: { visibilityQps: 10 },
    temporal: { address: temporalAddress(), namespace: 'default' },
    alertmanager: { ...DEFAULT_ALERTMANAGER },
    ...over,
  };
}

export function workflowConfig(name: string, over: Partial<WorkflowConfig> = {}): WorkflowConfig {
  return {
    name,
    file: `test/workflows/${name}.hcl`,
    workflowType: 'ping',
    taskQueueTarget: 'node' as QueueTarget,
    constraints: [],
    timeoutMs: 3_600_000,
    params: {},
    ...over,
  };
}

export function constraint(kind: Constraint['kind'], value: number, periodMs: number, isGlobal = false): Constraint {
  return { kind, value, periodMs, isGlobal };
}

export interface TestCoordinator {
  app: FastifyInstance;
  live: LiveConfig;
  temporal: TemporalGateway;
  audit: AuditEntry[];
  logs: string[];
  close(): Promise<void>;
}

export async function testCoordinator(
  workflows: WorkflowConfig[],
  opts: { config?: Partial<CoordinatorConfig>; deps?: Partial<CoordinatorDeps>; temporal?: TemporalGateway } = {},
): Promise<TestCoordinator> {
  const cfg = coordinatorConfig(opts.config);
  const live = new LiveConfig(cfg, new Map(workflows.map((w) => [w.name, w])));
  const temporal = opts.temporal ?? (await TemporalGateway.connect(cfg.temporal));
  const audit: AuditEntry[] = [];
  const logs: string[] = [];
  const app = await buildCoordinator({
    config: live,
    temporal,
    metrics: createMetrics({ defaultMetrics: false }),
    audit: (e) => audit.push(e),
    log: (m) => logs.push(m),
    identify: (request) => {
      const id = request.headers['x-test-identity'];
      return { identity: typeof id === 'string' ? id : null };
    },
    admission: { startMarginMs: 1_000 },
    // The ledger workflow as bundled for this test run (test/setup/global-setup.ts), not a stale dist/.
    ledgerBundle: process.env.MEDIC_TEST_LEDGER_BUNDLE,
    ...opts.deps,
    // Each coordinator its own audit journal unless a test shares one between replicas.
    auditJournal: { id: unique('medic-audit-journal'), ...opts.deps?.auditJournal },
  });
  return {
    app,
    live,
    temporal,
    audit,
    logs,
    close: async () => {
      await app.close();
      await temporal.close();
    },
  };
}

/** A trigger through app.inject, as `identity`. */
export function trigger(
  app: FastifyInstance,
  workflow: string,
  body: unknown,
  opts: { identity?: string | null; dryRun?: boolean } = {},
): Promise<LightMyRequestResponse> {
  const identity = opts.identity === undefined ? ADMIN : opts.identity;
  return app.inject({
    method: 'POST',
    url: `/v1/workflows/${workflow}/executions${opts.dryRun ? '?dry_run=true' : ''}`,
    headers: identity ? { 'x-test-identity': identity } : {},
    payload: body as object,
  });
}

export interface CoordinatorTestFile {
  /** A Temporal client for the file (connected in beforeAll). */
  readonly client: Client;
  /** Closed after the file. */
  coordinators: TestCoordinator[];
  /** Workflow ids terminated after the file. */
  started: string[];
}

/** The hooks of a file of in-process coordinator tests: a Temporal client, and cleanup after all. */
export function coordinatorTestFile(): CoordinatorTestFile {
  let connected: Awaited<ReturnType<typeof connectClient>> | undefined;
  const file: CoordinatorTestFile = {
    get client() {
      if (!connected) throw new Error('the Temporal client connects in beforeAll');
      return connected.client;
    },
    coordinators: [],
    started: [],
  };
  beforeAll(async () => {
    connected = await connectClient();
  });
  afterAll(async () => {
    await Promise.all(
      file.started.map((id) =>
        file.client.workflow
          .getHandle(id)
          .terminate('test done')
          .catch(() => undefined),
      ),
    );
    await Promise.all(file.coordinators.map((c) => c.close()));
    await connected?.close();
  });
  return file;
}
