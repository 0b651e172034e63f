import type { RouteRule } from '../../src/config/coordinator';
import { authorize, compileAcl, routePattern } from '../../src/coordinator/acl';

const rule = (r: Partial<RouteRule> & Pick<RouteRule, 'name'>): RouteRule => ({
  method: '*',
  routePatterns: ['/*'],
  uris: [],
  allowPublic: false,
  skipLogMatch: false,
  ...r,
});

const ADMIN = 'spiffe://medic.test/sre-admin';
const acl = compileAcl([
  rule({ name: 'admins', method: 'POST', routePatterns: ['/v1/*'], uris: [ADMIN] }),
  rule({
    name: 'readers',
    method: 'GET',
    routePatterns: ['/v1/workflows', '/v1/executions/*'],
    uris: ['spiffe://medic.test/cli/*'],
  }),
  rule({
    name: 'triggers',
    method: 'POST',
    routePatterns: ['/v1/workflows/*/executions'],
    uris: ['spiffe://medic.test/trigger/*'],
  }),
  rule({ name: 'public', method: 'GET', routePatterns: ['/metrics', '/healthz'], allowPublic: true, skipLogMatch: true }),
]);

describe('routePattern', () => {
  it.each([
    ['/metrics', '/metrics', true],
    ['/metrics', '/metrics/', false],
    ['/metrics', '/metricsx', false],
    ['/v1/*', '/v1/workflows', true],
    ['/v1/*', '/v1/workflows/x/executions', true],
    ['/v1/*', '/v1', false],
    ['/v1/*', '/v1/', false],
    ['/*', '/anything/at/all', true],
    ['/v1/workflows/*/executions', '/v1/workflows/cleanDisk/executions', true],
    ['/v1/workflows/*/executions', '/v1/workflows/a/b/executions', false],
    ['/v1/workflows/*/executions', '/v1/workflows//executions', false],
    ['/v1/work*', '/v1/workflows', true],
    ['/v1/work*', '/v1/workflows/x', false],
    ['/a.b', '/aXb', false],
  ])('%s against %s is %s', (pattern, path, expected) => {
    expect(routePattern(pattern).test(path)).toBe(expected);
  });
});

describe('authorize', () => {
  it.each<[string, string, string, string | null, boolean, string | undefined, string[]]>([
    // description, method, path, identity, allowed, admitting rule, rules consulted
    ['an admin may trigger', 'POST', '/v1/workflows/x/executions', ADMIN, true, 'admins', ['admins', 'triggers']],
    [
      'a trigger identity under the /* prefix may trigger',
      'POST',
      '/v1/workflows/x/executions',
      'spiffe://medic.test/trigger/dc1',
      true,
      'triggers',
      ['admins', 'triggers'],
    ],
    [
      'the prefix covers deeper paths',
      'POST',
      '/v1/workflows/x/executions',
      'spiffe://medic.test/trigger/dc1/host',
      true,
      'triggers',
      ['admins', 'triggers'],
    ],
    [
      'the prefix itself is not under the prefix',
      'POST',
      '/v1/workflows/x/executions',
      'spiffe://medic.test/trigger',
      false,
      undefined,
      ['admins', 'triggers'],
    ],
    [
      'a lookalike prefix is not admitted',
      'POST',
      '/v1/workflows/x/executions',
      'spiffe://medic.test/triggerX/dc1',
      false,
      undefined,
      ['admins', 'triggers'],
    ],
    ['exact URIs match exactly', 'POST', '/v1/workflows/x/executions', `${ADMIN}/sub`, false, undefined, ['admins', 'triggers']],
    [
      'another trust domain is not admitted',
      'POST',
      '/v1/workflows/x/executions',
      'spiffe://evil.test/sre-admin',
      false,
      undefined,
      ['admins', 'triggers'],
    ],
    ['an anonymous caller may not trigger', 'POST', '/v1/workflows/x/executions', null, false, undefined, ['admins', 'triggers']],
    ['the method must match', 'GET', '/v1/workflows/x/executions', 'spiffe://medic.test/trigger/dc1', false, undefined, []],
    ['a reader may list workflows', 'GET', '/v1/workflows', 'spiffe://medic.test/cli/alice', true, 'readers', ['readers']],
    [
      'a reader may not trigger',
      'POST',
      '/v1/workflows/x/executions',
      'spiffe://medic.test/cli/alice',
      false,
      undefined,
      ['admins', 'triggers'],
    ],
    ['public routes need no identity', 'GET', '/metrics', null, true, 'public', ['public']],
    ['HEAD is covered by a GET rule', 'HEAD', '/healthz', null, true, 'public', ['public']],
    ['public routes are public only for their method', 'POST', '/metrics', null, false, undefined, []],
    ['unknown paths are denied by default', 'GET', '/admin', ADMIN, false, undefined, []],
    ['dot segments never match', 'GET', '/metrics/../v1/workflows', null, false, undefined, []],
    ['encoded slashes never match', 'POST', '/v1/workflows/x%2Fy/executions', ADMIN, false, undefined, []],
    ['empty segments never match', 'GET', '//metrics', null, false, undefined, []],
  ])('%s', (_description, method, path, identity, allowed, ruleName, consulted) => {
    const d = authorize(acl, { method, path, identity });
    expect(d.allowed).toBe(allowed);
    expect(d.rule).toBe(ruleName);
    expect(d.consulted).toEqual(consulted);
  });

  it('denies everything when there are no rules', () => {
    expect(authorize(compileAcl([]), { method: 'GET', path: '/metrics', identity: ADMIN }).allowed).toBe(false);
  });

  it('a method "*" rule covers every method', () => {
    const any = compileAcl([rule({ name: 'any', routePatterns: ['/v1/*'], uris: [ADMIN] })]);
    for (const method of ['GET', 'POST', 'DELETE'])
      expect(authorize(any, { method, path: '/v1/x', identity: ADMIN }).allowed).toBe(true);
  });

  it('reports skip_log_match of the admitting rule only', () => {
    expect(authorize(acl, { method: 'GET', path: '/metrics', identity: null }).skipLog).toBe(true);
    expect(authorize(acl, { method: 'POST', path: '/v1/workflows/x/executions', identity: ADMIN }).skipLog).toBe(false);
  });

  it('names the consulted rules and the caller, never the identities a rule admits', () => {
    const d = authorize(acl, { method: 'POST', path: '/v1/workflows/x/executions', identity: 'spiffe://medic.test/stranger' });
    expect(d.reason).toBe('route rules admins, triggers do not admit spiffe://medic.test/stranger');
    expect(d.reason).not.toContain('sre-admin');
    expect(d.reason).not.toContain('trigger/');
  });
});
