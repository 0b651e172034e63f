import { Decoder } from '../../src/config/decoder';
import { Diagnostics, formatDiagnostic } from '../../src/config/diagnostics';

function decoder(body: Record<string, unknown>): [Decoder, Diagnostics] {
  const diag = new Diagnostics();
  return [new Decoder(body, 'f.hcl', '', diag), diag];
}

describe('Decoder', () => {
  it('reads typed values and accepts numbers written as strings', () => {
    const [d, diag] = decoder({ s: 'x', n: '3', m: 4, b: true, t: '15m', l: ['a'], p: { k: 'v', n: 1 } });
    expect(d.string('s')).toBe('x');
    expect(d.number('n', { positive: true, integer: true })).toBe(3);
    expect(d.number('m')).toBe(4);
    expect(d.bool('b', false)).toBe(true);
    expect(d.duration('t')).toBe(900_000);
    expect(d.strings('l')).toEqual(['a']);
    expect(d.stringMap('p')).toEqual({ k: 'v', n: '1' });
    d.finish();
    expect(diag.all).toEqual([]);
  });

  it('reports every problem with its attribute path, not only the first', () => {
    const [d, diag] = decoder({ n: 'x', z: 0, t: '15x', b: 'yes', l: 'a', constraint: [{ period: 1 }, { bad: 1 }] });
    d.number('n');
    d.number('z', { positive: true });
    d.duration('t');
    d.bool('b', false);
    d.strings('l');
    d.string('missing', { required: true });
    for (const c of d.blocks('constraint')) {
      c.duration('period');
      c.finish();
    }
    d.finish();
    expect(diag.all.map(formatDiagnostic)).toEqual([
      'f.hcl: n: "x" is not a number',
      'f.hcl: z: must be greater than 0, got 0',
      'f.hcl: t: "15x" is not a duration (e.g. "30s", "15m", "1h30m")',
      'f.hcl: b: expected true or false, got "yes"',
      'f.hcl: l: expected a list of strings, got "a"',
      'f.hcl: missing: is required',
      'f.hcl: constraint[0].period: 1 is not a duration (e.g. "30s", "15m", "1h30m")',
      'f.hcl: constraint[1].bad: unknown key (known here: period)',
    ]);
  });

  it('refuses HCL expressions, which it does not evaluate', () => {
    const [d, diag] = decoder({ a: '${var.x}' });
    expect(d.string('a')).toBeUndefined();
    expect(diag.errors[0]!.path).toBe('a');
  });

  it('refuses a single block written twice', () => {
    const [d, diag] = decoder({ temporal: [{}, {}] });
    expect(d.block('temporal')).toBeUndefined();
    expect(diag.errors[0]!.message).toMatch(/only once/);
  });

  it('reads labelled blocks and flags a label used twice', () => {
    const [d, diag] = decoder({ rule: { a: [{ q: 1 }], b: [{}, {}] } });
    expect(d.labeled('rule').map((r) => r.label)).toEqual(['a', 'b']);
    expect(diag.errors.map((e) => e.path)).toEqual(['rule.b']);
  });
});
