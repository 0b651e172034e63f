// The lean engine of `medic worker` (role node): a gRPC client of Temporal's WorkflowService,
// the activity-only worker of this folder, and a /metrics listener of its own on metrics_listen.
import type { Server } from 'node:http';
import type { CreateEngine } from '../engine';
import { WorkflowServiceClient } from './api';
import { leanConverter } from './converter';
import { LeanMetrics, serveMetrics } from './metrics';
import { createLeanWorker } from './worker';

export const createLeanEngine: CreateEngine = async (config, log) => {
  const converter = leanConverter(config.temporal.payloadKeyFile);
  const metrics = new LeanMetrics();
  let server: Server | undefined;
  if (config.metricsListen) {
    const served = await serveMetrics(config.metricsListen, metrics);
    server = served.server;
    log('info', 'metrics listening', { address: served.address });
  }
  let client: WorkflowServiceClient | undefined;
  const where = { node: config.node, datacenter: config.datacenter, node_type: config.nodeType };
  return {
    async connect() {
      // A fresh channel per attempt, so renewed certificate files are read again.
      client?.close();
      client = new WorkflowServiceClient(config.temporal);
      await client.call('GetSystemInfo', {}, { timeoutMs: 10_000 });
    },
    start: async (activities) => createLeanWorker({ config, client: client!, converter, activities, log, metrics }),
    setQueues: (n) => metrics.set('queues', where, n),
    async close() {
      client?.close();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    },
  };
};
