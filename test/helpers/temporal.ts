// What integration tests need from the run's Temporal dev server (test/setup/global-setup.ts).
import { randomUUID } from 'node:crypto';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { closableRetry } from '../../src/temporal/closable-retry';
import { NativeConnection } from '@temporalio/worker';
import { clientTls } from '../setup/cluster/temporal-server';
import { nodeQueue } from '../../src/naming/task-queues';
import { waitFor } from './wait';

export function temporalAddress(): string {
  const address = process.env.MEDIC_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('no Temporal dev server: integration tests need the jest global setup (unset MEDIC_NO_TEMPORAL)');
  return address;
}

export function workflowBundle(): { codePath: string } {
  const codePath = process.env.MEDIC_TEST_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('no workflow bundle: integration tests need the jest global setup');
  return { codePath };
}

/** A name no other test (or earlier run) uses, for queues, nodes and workflow ids. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** mTLS options when the run's server is the cluster (test/setup/cluster-global-setup.ts), else none. */
function tlsFromEnv(): { tls?: TLSConfig } {
  const files = process.env.MEDIC_TEST_TEMPORAL_TLS;
  return files ? { tls: clientTls(JSON.parse(files)) } : {};
}

export async function connectClient(): Promise<{ client: Client; close(): Promise<void> }> {
  const retry = closableRetry();
  const connection = await Connection.connect({ address: temporalAddress(), ...tlsFromEnv(), interceptors: [retry.interceptor] });
  return { client: new Client({ connection }), close: () => retry.close(connection) };
}

export function connectWorkerConnection(): Promise<NativeConnection> {
  return NativeConnection.connect({ address: temporalAddress(), ...tlsFromEnv() });
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs` (see ./wait). */
export function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  return waitFor(what, probe, timeoutMs);
}

/** Visible executions of a medic workflow on a node (eventually consistent). */
export async function queryCount(client: Client, workflow: string, node: string): Promise<number> {
  const { count } = await client.workflow.count(`MedicWorkflow = '${workflow}' AND MedicNode = '${node}'`);
  return count;
}

/**
 * Resolves once visibility has caught up with the writes made before the call: a sentinel
 * execution started now is visible. It assumes what the dev server does: visibility indexes the
 * namespace's writes in about the order they happened, so writes made before the sentinel are
 * indexed by the time it is. Exact counts and lists wait on this.
 */
export async function visibilityCaughtUp(client: Client, timeoutMs = 20_000): Promise<void> {
  const sentinel = await client.workflow.start('ping', {
    taskQueue: nodeQueue(unique('nobody')),
    workflowId: unique('sentinel'),
  });
  try {
    await eventually(
      async () => ((await client.workflow.count(`WorkflowId = '${sentinel.workflowId}'`)).count === 1 ? true : undefined),
      timeoutMs,
      'visibility to show a sentinel started after the writes it should count',
    );
  } finally {
    await sentinel.terminate('sentinel seen').catch(() => undefined);
  }
}

/** A visibility count once visibility has caught up with the writes made before the call. */
export async function settledCount(client: Client, query: string, timeoutMs = 20_000): Promise<number> {
  await visibilityCaughtUp(client, timeoutMs);
  return (await client.workflow.count(query)).count;
}
