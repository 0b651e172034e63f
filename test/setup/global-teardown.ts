import * as fs from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  await globalThis.__medicDevServer?.stop();
  const bundle = process.env.MEDIC_TEST_WORKFLOW_BUNDLE;
  if (bundle) fs.rmSync(bundle, { force: true });
}
