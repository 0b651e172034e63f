// Loads the config directory in a short-lived child process. The HCL parser is Go compiled to
// WebAssembly; once it has run it keeps about 75 MB resident for the life of the process (a
// worker thread does not help: the freed memory stays in the allocator). A daemon on every
// server needs the parser only at start, so it runs in a child that exits afterwards. The child
// also reports the workflow types this build exports, so the worker itself never loads the
// workflow code (an activity-only worker does not run it).
import { fork } from 'node:child_process';
import * as v8 from 'node:v8';
import type { LoadResult } from '../config/load';
import { isSingleExecutable } from '../single-executable/embedded';

/**
 * The packaged executable runs only its own entry point, so there the child is `medic
 * __load-config <dir>`, which cmd/medic.ts hands to runConfigChild.
 */
export const CONFIG_CHILD_COMMAND = '__load-config';

export interface ChildLoad {
  /** loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES }). */
  result: LoadResult;
  /** WORKFLOW_TYPES: the workflow types workflows/ exports in this build. */
  workflowTypes: string[];
}

/** loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES }), in a process of its own. */
export function loadConfigInChild(dir: string): Promise<ChildLoad> {
  return new Promise((resolve, reject) => {
    // execArgv is inherited, so the child runs this file as the parent runs it (compiled
    // JavaScript, or TypeScript through a -r hook in tests). 'advanced' keeps the Maps.
    const [modulePath, args] = isSingleExecutable() ? [CONFIG_CHILD_COMMAND, [dir]] : [__filename, [dir]];
    const child = fork(modulePath, args, { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: ChildLoad | undefined;
    child.once('message', (m) => (result = m as ChildLoad));
    child.once('error', reject);
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`config loader exited with code ${code} and no result`)),
    );
  });
}

/** The child's side: load, send the result to the parent, exit. */
export function runConfigChild(dir: string): void {
  // The parser runs once and briefly: its baseline (Liftoff) code is enough, and optimizing the
  // whole Go module in the background would double the child's CPU time (and the worker's start).
  v8.setFlagsFromString('--liftoff-only');
  Promise.all([import('../config/load'), import('../temporal/workflow-types')])
    .then(async ([{ loadConfigDir }, { WORKFLOW_TYPES }]) => {
      const result = await loadConfigDir(dir, { workflowTypes: WORKFLOW_TYPES });
      return { result, workflowTypes: [...WORKFLOW_TYPES] } satisfies ChildLoad;
    })
    .then(
      (load) => process.send!(load, () => process.exit(0)),
      (err: Error) => {
        process.stderr.write(`cannot load config: ${err.message}\n`);
        process.exit(1);
      },
    );
}

if (require.main === module && process.send) runConfigChild(process.argv[2]!);
