import * as fs from 'node:fs';
import { manifestPath } from '../../src/temporal/bundle-workflows';

export default async function globalTeardown(): Promise<void> {
  await globalThis.__medicDevServer?.stop();
  const bundle = process.env.MEDIC_TEST_WORKFLOW_BUNDLE;
  if (bundle) for (const f of [bundle, manifestPath(bundle)]) fs.rmSync(f, { force: true });
  const ledger = process.env.MEDIC_TEST_LEDGER_BUNDLE;
  if (ledger) fs.rmSync(ledger, { force: true });
}
