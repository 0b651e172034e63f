import { Diagnostics } from '../../src/config/diagnostics';
import { parseHcl, syntaxDiagnostic } from '../../src/config/hcl';

describe('parseHcl', () => {
  it('turns blocks into lists and labelled blocks into maps', async () => {
    const diag = new Diagnostics();
    const body = await parseHcl('x.hcl', 'a = "1"\nb { c = 2 }\nrule "r" { d = true }\n', diag);
    expect(diag.all).toEqual([]);
    expect(body).toEqual({ a: '1', b: [{ c: 2 }], rule: { r: [{ d: true }] } });
  });

  it('reports a syntax error with the file, line and column', async () => {
    const diag = new Diagnostics();
    const body = await parseHcl('config/workflows/x.hcl', 'workflow = "a"\nvalue = \n}\n', diag);
    expect(body).toBeUndefined();
    expect(diag.errors).toHaveLength(1);
    expect(diag.errors[0]).toMatchObject({ file: 'config/workflows/x.hcl', line: 2, column: 9 });
    expect(diag.errors[0]!.message).toMatch(/Invalid expression/);
  });

  it('reports a redefined attribute where it is redefined', async () => {
    const diag = new Diagnostics();
    await parseHcl('y.hcl', 'a = 1\n\na = 2\n', diag);
    expect(diag.errors[0]).toMatchObject({ line: 3, column: 1 });
    expect(diag.errors[0]!.message).toMatch(/Attribute redefined/);
  });
});

describe('syntaxDiagnostic', () => {
  it('keeps a message it cannot place', () => {
    expect(syntaxDiagnostic('a.hcl', 'parse config: [something odd]')).toEqual({ message: 'something odd' });
  });
});
