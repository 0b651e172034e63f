// Starts one real Temporal dev server on free loopback ports for the whole jest run and
// bundles the workflows once; test files read both locations from the environment.
// MEDIC_TEST_TEMPORAL_ADDRESS set by the caller: use that server instead of starting one.
// MEDIC_NO_TEMPORAL=1: unit tests only, start nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureTemporalBinary } from '../../src/temporal/binary';
import { buildLedgerBundle, buildWorkflowBundle } from '../../src/temporal/bundle-workflows';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { stateDir } from '../../src/paths';

declare global {
  var __medicDevServer: DevServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.MEDIC_NO_TEMPORAL === '1') return;
  const started = Date.now();
  const bundleDir = stateDir('test');
  fs.mkdirSync(bundleDir, { recursive: true });
  const bundlePath = path.join(bundleDir, `workflow-bundle-${process.pid}.js`);
  const ledgerBundle = path.join(bundleDir, `ledger-bundle-${process.pid}.js`);
  const [server] = await Promise.all([
    process.env.MEDIC_TEST_TEMPORAL_ADDRESS ? undefined : ensureTemporalBinary().then((binary) => startDevServer({ binary })),
    // The same build step as `npm run build`: bundle plus manifest, which the worker checks.
    buildWorkflowBundle(bundlePath),
    buildLedgerBundle(ledgerBundle),
  ]);
  process.env.MEDIC_TEST_WORKFLOW_BUNDLE = bundlePath;
  process.env.MEDIC_TEST_LEDGER_BUNDLE = ledgerBundle;
  if (server) {
    globalThis.__medicDevServer = server;
    process.env.MEDIC_TEST_TEMPORAL_ADDRESS = server.address;
  }
  process.stderr.write(
    `\n[medic tests] temporal dev server ${process.env.MEDIC_TEST_TEMPORAL_ADDRESS}, workflows bundled, in ${Date.now() - started} ms\n`,
  );
}
