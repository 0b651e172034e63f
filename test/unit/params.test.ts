import { checkParams, maskParams, maskSecretValues, resolveParams } from '../../src/params/resolve';
import { MASK, publicSchema, type ParamSchema, type ParamSpec } from '../../src/params/schema';
import { valueProblem } from '../../src/params/values';

const spec = (over: Partial<ParamSpec>): ParamSpec => ({ type: 'string', settable: true, secret: false, list: false, ...over });

describe('valueProblem', () => {
  const cases: Array<[string, Partial<ParamSpec>, string, boolean]> = [
    ['a unit name', { type: 'unit' }, 'nginx', true],
    ['a unit name with its suffix', { type: 'unit' }, 'nginx.service', true],
    ['a template instance', { type: 'unit' }, 'getty@tty1.service', true],
    ['a unit starting with "-"', { type: 'unit' }, '-x', false],
    ['a unit with a path', { type: 'unit' }, '../x', false],
    ['a unit with a space', { type: 'unit' }, 'a b', false],
    ['a unit narrowed by a pattern', { type: 'unit', pattern: '(nginx|haproxy)(\\.service)?' }, 'sshd', false],
    ['any string with a newline', { type: 'string' }, 'a\nb', false],
    ['any string with NUL', { type: 'string' }, 'a\0b', false],
    ['any value starting with "-"', { type: 'string' }, '--force', false],
    ['a path', { type: 'path', prefixes: ['/var/log'] }, '/var/log/app', true],
    ['a path with ".."', { type: 'path', prefixes: ['/var/log'] }, '/var/log/../../etc', false],
    ['a path beside its prefix', { type: 'path', prefixes: ['/var/log'] }, '/var/logs', false],
    ['a relative path', { type: 'path' }, 'var/log', false],
    ['a list of paths, one outside', { type: 'path', list: true, prefixes: ['/a'] }, '/a/b, /c', false],
    ['a port number', { type: 'int', min: 1, max: 65535 }, '8090', true],
    ['a port with a host smuggled in', { type: 'int', min: 1, max: 65535 }, '1@169.254.169.254', false],
    ['a number out of range', { type: 'int', min: 1, max: 10 }, '11', false],
    ['a duration', { type: 'duration', min: 86_400_000 }, '7d', true],
    ['a duration under the minimum', { type: 'duration', min: 86_400_000 }, '0s', false],
    ['an enum value', { type: 'enum', values: ['a', 'b'] }, 'b', true],
    ['a value outside the enum', { type: 'enum', values: ['a', 'b'] }, 'c', false],
    ['host:port', { type: 'host_port' }, 'db1.example.com:5432', true],
    ['host:port with user info', { type: 'host_port' }, 'x@db1:5432', false],
    ['host:port to a host not allowed', { type: 'host_port', hosts: ['db1'] }, 'db2:5432', false],
    ['a URL to an allowed host', { type: 'url', hosts: ['127.0.0.1'] }, 'http://127.0.0.1:8080/health', true],
    ['a URL to another host', { type: 'url', hosts: ['127.0.0.1'] }, 'http://169.254.169.254/latest', false],
    ['a URL with user info', { type: 'url', hosts: ['169.254.169.254'] }, 'http://127.0.0.1@169.254.169.254/', false],
    ['a URL of another scheme', { type: 'url', hosts: ['127.0.0.1'] }, 'file://127.0.0.1/etc/passwd', false],
    ['a URL without allowed hosts', { type: 'url' }, 'http://127.0.0.1/', false],
  ];
  it.each(cases)('%s', (_name, over, value, ok) => {
    expect(valueProblem(spec(over), value) === undefined).toBe(ok);
  });

  it('never quotes the value it refuses', () => {
    expect(valueProblem(spec({ type: 'enum', values: ['a'] }), 'hunter2')).not.toContain('hunter2');
  });
});

const SCHEMA: ParamSchema = {
  unit: spec({ type: 'unit' }),
  patterns: spec({ settable: false, default: '*.gz', list: true }),
  older_than: spec({ type: 'duration', settable: false, default: '7d' }),
  token: spec({ secret: true, pattern: '[a-z0-9]+' }),
};

describe('resolveParams', () => {
  it('fills defaults and takes the settable params the caller sets', () => {
    expect(resolveParams(SCHEMA, { unit: 'nginx' })).toEqual({
      ok: true,
      params: { patterns: '*.gz', older_than: '7d', unit: 'nginx' },
    });
  });

  it('refuses locked params, naming params.<name> and why', () => {
    const r = resolveParams(SCHEMA, { patterns: '*', older_than: '0s' });
    expect(r).toEqual({
      ok: false,
      problems: [
        { field: 'params.patterns', message: expect.stringContaining('locked') },
        { field: 'params.older_than', message: expect.stringContaining('locked') },
      ],
    });
  });

  it('refuses unknown params, listing what callers may set', () => {
    const r = resolveParams(SCHEMA, { constructor: 'x' });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]).toEqual({
      field: 'params.constructor',
      message: expect.stringContaining('callers may set: token, unit'),
    });
  });

  it('refuses values that are not strings', () => {
    expect(resolveParams(SCHEMA, { unit: 1 })).toMatchObject({ ok: false, problems: [{ field: 'params.unit' }] });
  });
});

describe('checkParams (the worker re-check)', () => {
  it('flags params the schema does not declare and values its types refuse', () => {
    expect(checkParams(SCHEMA, { unit: '-rf', extra: 'x', older_than: '7d' }).map((p) => p.field)).toEqual([
      'params.unit',
      'params.extra',
    ]);
  });
});

describe('secret params', () => {
  it('are masked in params shown anywhere, and in the published schema', () => {
    const schema: ParamSchema = { token: spec({ secret: true, default: 's3cret' }), unit: spec({ type: 'unit' }) };
    expect(maskParams(schema, { token: 's3cret', unit: 'nginx' })).toEqual({ token: MASK, unit: 'nginx' });
    expect(JSON.stringify(publicSchema(schema))).not.toContain('s3cret');
  });

  it('are masked wherever a run printed them (result, progress, failure), list items included', () => {
    const schema: ParamSchema = {
      token: spec({ secret: true }),
      keys: spec({ secret: true, list: true }),
      unit: spec({ type: 'unit' }),
    };
    const params = { token: 'abc123', keys: 'k1x,k2y', unit: 'nginx' };
    const run = { result: { steps: [{ detail: 'echo: token=abc123 k2y' }] }, failure: 'k1x,k2y failed', n: 3, unit: 'nginx' };
    expect(maskSecretValues(run, schema, params)).toEqual({
      result: { steps: [{ detail: `echo: token=${MASK} ${MASK}` }] },
      failure: `${MASK} failed`,
      n: 3,
      unit: 'nginx',
    });
    expect(maskSecretValues(run, undefined, params)).toBe(run);
  });
});
