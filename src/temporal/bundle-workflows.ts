// Build step: bundles workflows/ once (`npm run build`), so a worker loads the bundle
// instead of running webpack at start-up.
import { bundleWorkflowCode } from '@temporalio/worker';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../paths';

export function workflowBundlePath(): string {
  return path.join(packageRoot(), 'dist', 'workflow-bundle.js');
}

export async function buildWorkflowBundle(): Promise<string> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(packageRoot(), 'workflows', 'index.ts'),
    logger: { info() {}, warn() {}, error: console.error, debug() {}, trace() {}, log() {} },
  });
  const out = workflowBundlePath();
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, code);
  return out;
}

if (require.main === module) {
  buildWorkflowBundle().then(
    (out) => process.stdout.write(`workflow bundle: ${path.relative(process.cwd(), out)}\n`),
    (err: Error) => {
      process.stderr.write(`cannot bundle workflows: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
