// Build step: bundles workflows/ once (`npm run build`), so a worker loads the bundle
// instead of running webpack at start-up. Beside the bundle goes a manifest of the workflow
// types it holds, which the worker checks at start (src/worker/registration.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../paths';
import { embeddedLedgerBundle, embeddedWorkflowBundle, isSingleExecutable } from '../single-executable/embedded';

export interface BundleManifest {
  workflowTypes: string[];
  sdkVersion: string;
}

/** The prebuilt bundle: dist/workflow-bundle.js, or the copy embedded in the medic executable. */
export function workflowBundlePath(): string {
  if (isSingleExecutable()) return embeddedWorkflowBundle();
  return path.join(packageRoot(), 'dist', 'workflow-bundle.js');
}

/** The ledger bundle (src/coordinator/workflows.ts): dist/ledger-bundle.js, or the embedded copy. */
export function ledgerBundlePath(): string {
  if (isSingleExecutable()) return embeddedLedgerBundle();
  return path.join(packageRoot(), 'dist', 'ledger-bundle.js');
}

/** The manifest file of a bundle: `workflow-bundle.js` -> `workflow-bundle.manifest.json`. */
export function manifestPath(bundlePath: string): string {
  return bundlePath.replace(/\.js$/, '') + '.manifest.json';
}

function sdkVersion(): string {
  return (JSON.parse(fs.readFileSync(require.resolve('@temporalio/worker/package.json'), 'utf8')) as { version: string }).version;
}

/** Bundles workflows/ into `out` and writes its manifest beside it. */
export async function buildWorkflowBundle(out = workflowBundlePath()): Promise<string> {
  // Loaded here, not at the top: a worker reads workflowBundlePath() and must not pay for the
  // bundler (webpack, memfs) or the workflow code just for that.
  const [{ bundleWorkflowCode }, { WORKFLOW_TYPES }] = await Promise.all([
    import('@temporalio/worker'),
    import('./workflow-types'),
  ]);
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(packageRoot(), 'workflows', 'index.ts'),
    // The worker's re-check of params against their schema, before any workflow code runs.
    workflowInterceptorModules: [path.join(packageRoot(), 'workflows', 'input-check.ts')],
    logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  const manifest: BundleManifest = { workflowTypes: [...WORKFLOW_TYPES].sort(), sdkVersion: sdkVersion() };
  fs.writeFileSync(manifestPath(out), JSON.stringify(manifest, null, 2) + '\n');
  return out;
}

/** Bundles the ledger workflows (src/coordinator/workflows.ts) into `out`: the coordinators' ledger workers run it. */
export async function buildLedgerBundle(out = ledgerBundlePath()): Promise<string> {
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(packageRoot(), 'src', 'coordinator', 'workflows.ts'),
    logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  return out;
}

if (require.main === module) {
  Promise.all([buildWorkflowBundle(), buildLedgerBundle()]).then(
    (outs) => process.stdout.write(outs.map((out) => `workflow bundle: ${path.relative(process.cwd(), out)}\n`).join('')),
    (err: Error) => {
      process.stderr.write(`cannot bundle workflows: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
