// The cluster suite's global setup: one production-shaped Temporal (PostgreSQL, frontend mTLS)
// for the run, its search attributes registered the way an operator would (`medic temporal
// setup`), and the workflow bundle. Test files read the connection from the environment.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildWorkflowBundle } from '../../src/temporal/bundle-workflows';
import { stateDir } from '../../src/paths';
import { startCluster, type Cluster } from './cluster/cluster';
import { clusterEnv, prepareForMedic, setClusterEnv } from '../helpers/cluster';

declare global {
  var __medicCluster: Cluster | undefined;
}

export default async function clusterGlobalSetup(): Promise<void> {
  const started = Date.now();
  const bundleDir = stateDir('test');
  fs.mkdirSync(bundleDir, { recursive: true });
  const bundlePath = path.join(bundleDir, `workflow-bundle-cluster-${process.pid}.js`);
  const log = (line: string): void => void process.stderr.write(`[cluster] ${line}\n`);
  const [cluster] = await Promise.all([startCluster({ log }), buildWorkflowBundle(bundlePath)]);
  globalThis.__medicCluster = cluster;
  process.env.MEDIC_TEST_WORKFLOW_BUNDLE = bundlePath;
  setClusterEnv(cluster);
  await prepareForMedic(clusterEnv(), log);
  log(`cluster ${cluster.address} ready, workflows bundled, in ${Date.now() - started} ms`);
}
