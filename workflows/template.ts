// Placeholders in runbook step strings: {{node}}, {{datacenter}}, {{node_type}},
// {{params.NAME}}. Plain substitution, no expressions: the result is one argv element, a URL
// or a message, never a shell string.
import type { WorkflowInput } from './input';

const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g;
const KNOWN = /^(node|datacenter|node_type|params\.[A-Za-z_][A-Za-z0-9_]*)$/;

/** The placeholders in `text` that no input can fill (for `medic validate`). */
export function unknownPlaceholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !KNOWN.test(name));
}

/** Thrown when a step names a placeholder that the workflow's input does not provide. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** Fills the placeholders of `text` from the input; a missing value is an error, not "". */
export function fillTemplate(text: string, input: Pick<WorkflowInput, 'target' | 'params'>): string {
  return text.replace(PLACEHOLDER, (_all, name: string) => {
    if (!KNOWN.test(name)) throw new TemplateError(`unknown placeholder {{${name}}}`);
    const [source, key] = name.startsWith('params.')
      ? [input.params, name.slice('params.'.length)]
      : [input.target as Record<string, string | undefined>, name];
    // Own properties only: {{params.constructor}} must not reach Object.prototype.
    const value = Object.hasOwn(source, key) ? source[key] : undefined;
    if (typeof value !== 'string' || value === '') throw new TemplateError(`placeholder {{${name}}} has no value in this run`);
    return value;
  });
}
