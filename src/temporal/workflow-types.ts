// The workflow types this build of medic exports from workflows/: what a workflow config may
// name, what the worker bundle must contain.
import * as workflows from '../../workflows';

export const WORKFLOW_TYPES: ReadonlySet<string> = new Set(
  Object.entries(workflows)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k),
);
