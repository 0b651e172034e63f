// Target and params templates of trigger rules: `{{ $labels.<name> }}`, `{{ $value }}` and
// `{{ $node }}` (the node the daemon runs on), substituted as plain text. Nothing is evaluated,
// so a label value cannot inject anything.

export type TemplatePart = { text: string } | { label: string } | { value: true } | { node: true };

export class TemplateError extends Error {
  override name = 'TemplateError';
}

const PLACEHOLDER = /\{\{\s*(.*?)\s*\}\}/g;
const LABEL = /^\$labels\.([A-Za-z_][A-Za-z0-9_]*)$/;

/** Parses a template; throws TemplateError naming the placeholder it does not understand. */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (m.index! > last) parts.push({ text: template.slice(last, m.index) });
    const expr = m[1]!;
    const label = LABEL.exec(expr);
    if (label) parts.push({ label: label[1]! });
    else if (expr === '$value') parts.push({ value: true });
    else if (expr === '$node') parts.push({ node: true });
    else throw new TemplateError(`unknown placeholder {{ ${expr} }}: use {{ $labels.<name> }}, {{ $value }} or {{ $node }}`);
    last = m.index! + m[0].length;
  }
  const rest = template.slice(last);
  if (rest.includes('{{') || rest.includes('}}'))
    throw new TemplateError(`unbalanced "{{" or "}}" in ${JSON.stringify(template)}`);
  if (rest) parts.push({ text: rest });
  return parts;
}

/** The labels of a parsed template, to check them against what a rule can provide. */
export function templateLabels(parts: TemplatePart[]): string[] {
  return parts.flatMap((p) => ('label' in p ? [p.label] : []));
}

/** Renders a parsed template for one series; a missing label is an error, not an empty string. */
export function renderTemplate(parts: TemplatePart[], labels: Record<string, string>, value: string, node?: string): string {
  return parts
    .map((p) => {
      if ('text' in p) return p.text;
      if ('value' in p) return value;
      if ('node' in p) {
        if (node === undefined) throw new TemplateError('{{ $node }}: this daemon has no node name');
        return node;
      }
      const v = labels[p.label];
      if (v === undefined) throw new TemplateError(`label "${p.label}" is missing from the series`);
      return v;
    })
    .join('');
}

/** Renders every value of a map of templates; the first failure names its key. */
export function renderAll(
  templates: Record<string, TemplatePart[]>,
  labels: Record<string, string>,
  value: string,
  node?: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, parts] of Object.entries(templates)) {
    try {
      out[key] = renderTemplate(parts, labels, value, node);
    } catch (err) {
      throw new TemplateError(`${key}: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * A node name from a label such as node_exporter's `instance` (`host:9100`, `10.0.0.1:9100`,
 * `[2001:db8::1]:9100`): the value without its port. A value without a port is kept as it is.
 */
export function nodeFromLabel(labels: Record<string, string>, label: string): string {
  const v = labels[label];
  if (v === undefined) throw new TemplateError(`node_from: label "${label}" is missing from the series`);
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(v);
  if (bracketed) return bracketed[1]!;
  const hostPort = /^([^:]+):\d+$/.exec(v);
  const node = hostPort ? hostPort[1]! : v;
  if (!node) throw new TemplateError(`node_from: label "${label}" = ${JSON.stringify(v)} names no host`);
  return node;
}
