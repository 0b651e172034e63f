// Runbook template values escaped for where they land (workflows/template.ts): PromQL string
// literals, URL parts, argv elements; and the masking of secret values (src/params/resolve.ts),
// short secrets included.
import { MASK, type ParamSpec } from '../../src/params/schema';
import { SHORT_SECRET, maskValues, secretValues } from '../../src/params/resolve';
import { TemplateError, fillTemplate, promqlQuote, urlPart } from '../../workflows/shared/template';
import { readWorkflow } from '../../src/config/workflow';
import { decode } from '../helpers/hcl';

const HOSTILE = ['a"b', 'a\\b', 'a\nb', 'a}b', 'a/b', 'a?b', 'a#b', 'a%b', 'a@b', '..', "a'b", 'x"} or vector(1) #'];
const run = (value: string, node = 'web-1') => ({ target: { node }, params: { v: value } });

describe('PromQL: a value in a string literal stays inside it', () => {
  it.each([
    ['a"b', 'a\\"b'],
    ['a\\b', 'a\\\\b'],
    ['a\nb', 'a\\nb'],
    ['a}b', 'a}b'],
    ["a'b", "a'b"],
    ['a\u0001b', 'a\\x01b'],
    ['x"} or vector(1) #', 'x\\"} or vector(1) #'],
  ])('in "...": %j -> %j', (value, escaped) => {
    expect(fillTemplate('up{job="{{params.v}}"}', run(value), 'promql')).toBe(`up{job="${escaped}"}`);
  });

  it("escapes a single quote in '...' and leaves the double quote", () => {
    expect(fillTemplate("up{job='{{params.v}}'}", run(`it's "x"`), 'promql')).toBe(`up{job='it\\'s "x"'}`);
  });

  it('parses back to the value: every escaped literal is a valid JSON string with the same text', () => {
    for (const value of HOSTILE) {
      const body = fillTemplate('"{{params.v}}"', run(value), 'promql');
      // Go's and PromQL's double-quoted escapes that we emit (\\ \" \n \xHH) are JSON's too, but \x.
      expect(JSON.parse(body.replace(/\\x([0-9a-f]{2})/g, '\\u00$1'))).toBe(value);
    }
  });

  it('refuses a value outside a string unless it is a plain token, and a backquote in a raw string', () => {
    expect(fillTemplate('rate(x[{{params.v}}])', run('5m'), 'promql')).toBe('rate(x[5m])');
    for (const value of ['5m]) or vector(1', 'a"b', 'a b', 'a}b'])
      expect(() => fillTemplate('rate(x[{{params.v}}])', run(value), 'promql')).toThrow(/outside a string literal/);
    expect(fillTemplate('up{job=`{{params.v}}`}', run('a"b\\'), 'promql')).toBe('up{job=`a"b\\`}');
    expect(() => fillTemplate('up{job=`{{params.v}}`}', run('a`b'), 'promql')).toThrow(TemplateError);
  });

  it('knows where strings start and end: escaped quotes, the other quote, comments', () => {
    expect(promqlQuote('up{a="x')).toBe('"');
    expect(promqlQuote('up{a="x\\"')).toBe('"');
    expect(promqlQuote('up{a="x"} and b{c="')).toBe('"');
    expect(promqlQuote('up{a="it\'s"} + ')).toBeUndefined();
    expect(promqlQuote('up{a=\'say "hi"\', b=')).toBeUndefined();
    expect(promqlQuote('up # "comment\nx{a="')).toBe('"');
  });
});

describe('URL: a value cannot change the host, the path structure or add query params', () => {
  const url = 'http://{{node}}:8080/api/{{params.v}}/status?name={{params.v}}#{{params.v}}';
  it.each([
    ['a"b', 'a%22b'],
    ['a\\b', 'a%5Cb'],
    ['a}b', 'a%7Db'],
    ['a/b', 'a%2Fb'],
    ['a?b', 'a%3Fb'],
    ['a#b', 'a%23b'],
    ['a%b', 'a%25b'],
    ['a@b', 'a%40b'],
    ['a&x=1', 'a%26x%3D1'],
    ['a b+c', 'a%20b%2Bc'],
  ])('%j is percent-encoded (%s) in the path, the query and the fragment', (value, encoded) => {
    const filled = fillTemplate(url, run(value), 'url');
    expect(filled).toBe(`http://web-1:8080/api/${encoded}/status?name=${encoded}#${encoded}`);
    const parsed = new URL(filled);
    expect(parsed.host).toBe('web-1:8080');
    expect(parsed.pathname).toBe(`/api/${encoded}/status`);
    expect([...parsed.searchParams]).toEqual([['name', value]]);
  });

  it('refuses a "." or ".." path segment (URL parsers resolve them, encoded or not)', () => {
    for (const value of ['..', '.'])
      expect(() => fillTemplate('http://h/api/{{params.v}}/x', run(value), 'url')).toThrow(/path segment/);
    expect(fillTemplate('http://h/api/v{{params.v}}', run('..'), 'url')).toBe('http://h/api/v..');
    expect(fillTemplate('http://h/?q={{params.v}}', run('..'), 'url')).toBe('http://h/?q=..');
  });

  it('takes only a host (or host:port) in the host and only digits in the port', () => {
    expect(fillTemplate('http://{{params.v}}/x', run('10.0.0.1:9100'), 'url')).toBe('http://10.0.0.1:9100/x');
    expect(fillTemplate('http://127.0.0.1:{{params.v}}/health', run('8080'), 'url')).toBe('http://127.0.0.1:8080/health');
    for (const value of ['1@169.254.169.254', '80/evil', '80#', 'evil.example:80', '80?x'])
      expect(() => fillTemplate('http://127.0.0.1:{{params.v}}/health', run(value), 'url')).toThrow(/port of a URL/);
    for (const value of ['evil@good', 'a/b', 'h?x', 'h#x', 'a b'])
      expect(() => fillTemplate('http://{{params.v}}/x', run(value), 'url')).toThrow(/host of a URL/);
    expect(() => fillTemplate('{{params.v}}://h/', run('http'), 'url')).toThrow(/scheme/);
  });

  it('knows which part of the URL a placeholder is in', () => {
    expect(urlPart('ht')).toBe('scheme');
    expect(urlPart('http://h')).toBe('authority');
    expect(urlPart('http://h/a')).toBe('path');
    expect(urlPart('http://h/a?b=')).toBe('query');
    expect(urlPart('http://h/a?b=1#')).toBe('fragment');
  });
});

describe('argv and text', () => {
  it('keeps a value whole in one argument, whatever it holds', () => {
    for (const value of HOSTILE) expect(fillTemplate('--name={{params.v}}', run(value), 'argv')).toBe(`--name=${value}`);
  });

  it('refuses a value that would start an argument with "-" (an option)', () => {
    expect(() => fillTemplate('{{params.v}}', run('-rf'), 'argv')).toThrow(/starts an argument/);
    expect(fillTemplate('x{{params.v}}', run('-rf'), 'argv')).toBe('x-rf');
  });

  it('leaves text for people as it is (and is the default)', () => {
    for (const value of HOSTILE) expect(fillTemplate('v: {{params.v}}', run(value))).toBe(`v: ${value}`);
  });

  it('never quotes the value in its errors (it may be a secret)', () => {
    const err = (() => {
      try {
        fillTemplate('http://h:{{params.v}}/', run('s3cr3tvalue'), 'url');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toContain('{{params.v}}');
    expect(err?.message).not.toContain('s3cr3tvalue');
  });
});

describe('medic validate on where placeholders stand', () => {
  it('refuses a placeholder in a URL scheme and warns about one outside a PromQL string', async () => {
    const { errors, warnings } = await decode(
      `workflow = "runbook"
task_queue_target = "node"
step {
  name = "get"
  kind = "http_check"
  url = "{{params.scheme}}://127.0.0.1/{{params.path}}"
}
step {
  name = "rate"
  kind = "prometheus_check"
  query = "rate(x{job=\\"{{params.job}}\\"}[{{params.window}}]) > 0"
}
`,
      (d) => readWorkflow('fix', d),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^step\[0\]\.url: placeholder \{\{params\.scheme\}\} stands before ":\/\/"/),
      ]),
    );
    expect(warnings).toEqual([
      expect.stringMatching(/^step\[1\]\.query: placeholder \{\{params\.window\}\} stands outside a string literal/),
    ]);
  });
});

describe('masking secret values', () => {
  const spec = (over: Partial<ParamSpec> = {}): ParamSpec => ({
    type: 'string',
    settable: true,
    secret: true,
    list: false,
    ...over,
  });

  it('masks the value and the forms templates put it in (URL-encoded, escaped in a string literal)', () => {
    const secrets = secretValues({ t: spec() }, { t: 'p@ss "w/rd"' });
    const text = `raw p@ss "w/rd" url p%40ss%20%22w%2Frd%22 json "p@ss \\"w/rd\\""`;
    expect(maskValues(text, secrets)).toBe(`raw ${MASK} url ${MASK} json "${MASK}"`);
  });

  it(`masks a secret shorter than ${SHORT_SECRET} characters only as a whole token, not inside words`, () => {
    const secrets = secretValues({ pin: spec() }, { pin: 'ab1' });
    expect(maskValues('pin=ab1; "ab1" (ab1)\nab1', secrets)).toBe(`pin=${MASK}; "${MASK}" (${MASK})\n${MASK}`);
    expect(maskValues('tab1 ab12 xab1 ab1_x grab1t', secrets)).toBe('tab1 ab12 xab1 ab1_x grab1t');
    const long = secretValues({ t: spec() }, { t: 'abcdef' });
    expect(maskValues('xxabcdefyy', long)).toBe(`xx${MASK}yy`);
  });

  it('treats regular-expression characters in a secret literally', () => {
    const secrets = secretValues({ t: spec() }, { t: 'a.c*(x)[y]$' });
    expect(maskValues('abc a.c*(x)[y]$', secrets)).toBe(`abc ${MASK}`);
  });

  it('masks in one pass: the mask itself is never masked again', () => {
    const secrets = secretValues({ a: spec(), b: spec() }, { a: 'longsecret', b: '**' });
    expect(maskValues('longsecret **', secrets)).toBe(`${MASK} ${MASK}`);
  });
});
