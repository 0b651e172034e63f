import { parseTemplate, renderAll, renderTemplate, TemplateError } from '../../src/config/rule-template';

describe('trigger templates', () => {
  const labels = { instance: 'host1:9100', dc: 'ams1' };

  it.each([
    ['{{ $labels.instance }}', 'host1:9100'],
    ['{{$labels.dc}}-{{ $labels.dc }}', 'ams1-ams1'],
    ['value={{ $value }}', 'value=0.03'],
    ['plain', 'plain'],
    ['', ''],
  ])('renders %j as %j', (template, expected) => {
    expect(renderTemplate(parseTemplate(template), labels, '0.03')).toBe(expected);
  });

  it.each(['{{ .Labels.x }}', '{{ $labels }}', '{{ $labels.a-b }}', '{{ printf "%s" 1 }}', 'a }}', '{{ $value '])(
    'refuses %j',
    (template) => {
      expect(() => parseTemplate(template)).toThrow(TemplateError);
    },
  );

  it('makes a missing label an error that names the label', () => {
    expect(() => renderTemplate(parseTemplate('{{ $labels.role }}'), labels, '1')).toThrow('label "role" is missing');
  });

  it('substitutes label values as text, never as templates', () => {
    expect(renderTemplate(parseTemplate('{{ $labels.x }}'), { x: '{{ $labels.y }}' }, '1')).toBe('{{ $labels.y }}');
  });

  it('names the field whose template failed', () => {
    expect(() => renderAll({ node: parseTemplate('{{ $labels.nope }}') }, labels, '1')).toThrow(/^node: label "nope"/);
  });
});
