// The HCL examples in README.md are what operators copy: each one must at least parse.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Diagnostics, formatDiagnostic } from '../../src/config/diagnostics';
import { parseHcl } from '../../src/config/hcl';

const README = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
const blocks = [...README.matchAll(/```hcl\n([\s\S]*?)```/g)].map((m) => ({
  line: README.slice(0, m.index).split('\n').length + 1,
  text: m[1]!,
}));

describe('README.md HCL examples', () => {
  it('has examples to check', () => {
    expect(blocks.length).toBeGreaterThan(3);
  });

  it.each(blocks.map((b) => [b.line, b.text]))('the example at README.md:%d parses', async (line, text) => {
    const diag = new Diagnostics();
    await parseHcl(`README.md:${line}`, text as string, diag);
    expect(diag.all.map(formatDiagnostic)).toEqual([]);
  });
});
