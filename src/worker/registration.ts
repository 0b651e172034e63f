// The startup check against the seed's "common gotcha" (a workflow not registered on the queue
// it is started on): the bundle holds exactly the workflow types this medic exports, every
// workflow type named in config/workflows/*.hcl is among them, and the three queue workers
// share one registration.
import * as fs from 'node:fs';
import { manifestPath, type BundleManifest } from '../temporal/bundle-workflows';

/** Thrown at start when the worker would run with a workflow missing from some queue. */
export class RegistrationError extends Error {
  override name = 'RegistrationError';
}

export function readManifest(bundlePath: string): BundleManifest {
  const file = manifestPath(bundlePath);
  let manifest: BundleManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as BundleManifest;
  } catch (err) {
    throw new RegistrationError(
      `cannot read the workflow bundle manifest ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); rebuild with npm run build`,
    );
  }
  if (!Array.isArray(manifest.workflowTypes))
    throw new RegistrationError(`${file} lists no workflowTypes; rebuild with npm run build`);
  return manifest;
}

export interface RegistrationFacts {
  /** What the bundle holds (its manifest). */
  bundleTypes: readonly string[];
  /** What this build of medic exports from workflows/. */
  codeTypes: ReadonlySet<string>;
  /** Workflow types named by config/workflows/*.hcl, keyed by the config naming them. */
  configuredTypes: ReadonlyMap<string, string>;
}

/** Every reason this worker would misregister, empty when it is sound. */
export function registrationProblems(facts: RegistrationFacts): string[] {
  const problems: string[] = [];
  const bundle = new Set(facts.bundleTypes);
  const missingFromBundle = [...facts.codeTypes].filter((t) => !bundle.has(t)).sort();
  const extraInBundle = [...bundle].filter((t) => !facts.codeTypes.has(t)).sort();
  if (missingFromBundle.length || extraInBundle.length) {
    problems.push(
      `the workflow bundle is stale: it lacks [${missingFromBundle.join(', ')}] and has extra [${extraInBundle.join(', ')}]; rebuild with npm run build`,
    );
  }
  for (const [name, type] of [...facts.configuredTypes].sort()) {
    if (!bundle.has(type))
      problems.push(`workflow config ${name} names type ${JSON.stringify(type)}, which the bundle does not register`);
  }
  return problems;
}

/** Throws RegistrationError when the queue workers do not share one bundle and one activity set. */
export function assertSharedRegistration(
  workers: ReadonlyArray<{ taskQueue: string; codePath?: string; activities: object }>,
  queuesPolled = workers.length,
): void {
  if (queuesPolled === 0) throw new RegistrationError('no task queues to poll');
  const [first, ...rest] = workers;
  if (!first) return; // activity-only (role "node"): no workflows to share
  const names = (a: object) => Object.keys(a).sort().join(',');
  for (const w of rest) {
    if (w.codePath !== first.codePath || names(w.activities) !== names(first.activities)) {
      throw new RegistrationError(`${w.taskQueue} would not register the same workflows and activities as ${first.taskQueue}`);
    }
  }
}
