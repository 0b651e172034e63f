// The HCL examples in README.md, CONTRIBUTING.md and docs/ are what operators copy: each one must at least parse.
import { Diagnostics, formatDiagnostic } from '../../src/config/diagnostics';
import { parseHcl } from '../../src/config/hcl';
import { documentationFiles, readDocumentation, splitMarkdown } from '../helpers/docs';

const examples = documentationFiles().flatMap((file) =>
  splitMarkdown(readDocumentation(file))
    .blocks.filter((b) => b.lang === 'hcl')
    .map((b) => ({ file, line: b.line, text: b.text })),
);

describe('HCL examples in the documentation', () => {
  it('finds the examples of every configuration page', () => {
    const files = new Set(examples.map((e) => e.file));
    for (const page of [
      'docs/configuration/coordinator.md',
      'docs/configuration/workflows.md',
      'docs/configuration/worker.md',
      'docs/configuration/triggers.md',
    ]) {
      expect(files).toContain(page);
    }
  });

  it.each(examples.map((e) => [`${e.file}:${e.line}`, e]))('the example at %s parses', async (_where, example) => {
    const diag = new Diagnostics();
    // Blank lines before the block put the parser's line numbers on the Markdown file's lines.
    await parseHcl(example.file, '\n'.repeat(example.line - 1) + example.text, diag);
    expect(diag.all.map(formatDiagnostic)).toEqual([]);
  });
});
