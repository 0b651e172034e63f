// Stops the cluster suite's Temporal server and PostgreSQL (by pid) and removes the bundle.
import * as fs from 'node:fs';
import { manifestPath } from '../../src/temporal/bundle-workflows';

export default async function clusterGlobalTeardown(): Promise<void> {
  await globalThis.__medicCluster?.stop();
  const bundle = process.env.MEDIC_TEST_WORKFLOW_BUNDLE;
  if (bundle) for (const f of [bundle, manifestPath(bundle)]) fs.rmSync(f, { force: true });
}
