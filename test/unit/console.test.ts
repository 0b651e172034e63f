// The web console's pure parts: the console block of coordinator.hcl, the claim -> identity
// mapping, sealed cookies, the audit trail ring, and HTML escaping.
import { readConsole } from '../../src/config/console';
import { identityFromClaims } from '../../src/coordinator/console/oidc';
import { escapeHtml, messagePage } from '../../src/coordinator/console/page';
import { CookieSealer, readCookie, setCookie } from '../../src/coordinator/console/session';
import { AuditTrail } from '../../src/telemetry/audit';
import { decode } from '../helpers/hcl';

describe('console block', () => {
  it('reads every setting, with the client secret file relative to the config file', async () => {
    const { value, errors, warnings } = await decode(
      `console {
  url              = "https://medic.example.com:8443/"
  session_key_file = "console.key"
  session_ttl      = "12h"
  temporal_ui_url  = "https://temporal.example.com"
  oidc {
    issuer             = "https://idp.example.com/realms/ops"
    client_id          = "medic"
    client_secret_file = "oidc-secret"
    claim              = "groups"
    identities         = { "sre" = "spiffe://example.com/sre/alice-group" }
  }
}
`,
      (d) => readConsole(d.block('console')),
      '/etc/medic/coordinator.hcl',
    );
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    expect(value).toEqual({
      url: 'https://medic.example.com:8443',
      sessionKeyFile: '/etc/medic/console.key',
      sessionTtlMs: 12 * 3_600_000,
      temporalUiUrl: 'https://temporal.example.com',
      oidc: {
        issuer: 'https://idp.example.com/realms/ops',
        clientId: 'medic',
        clientSecretFile: '/etc/medic/oidc-secret',
        claim: 'groups',
        identities: { sre: 'spiffe://example.com/sre/alice-group' },
        scopes: ['profile', 'email', 'groups'],
      },
    });
  });

  it('names each bad key by its path', async () => {
    const { errors, warnings } = await decode(
      `console {
  url         = "http://medic.example.com"
  session_ttl = "30s"
  colour      = "blue"
  oidc {
    issuer     = "https://idp.example.com?x=1"
    identities = { "sre" = "not-a-spiffe-id" }
  }
}
`,
      (d) => readConsole(d.block('console')),
    );
    expect(errors).toEqual([
      'console.url: "http://medic.example.com" must be https:// (plain http only on a loopback address)',
      'console.session_ttl: must be between 1m and 168h',
      'console.oidc.issuer: "https://idp.example.com?x=1" must not carry a query, fragment or credentials',
      'console.oidc.client_id: is required',
      'console.oidc.client_secret_file: is required',
      'console.oidc.identities.sre: "not-a-spiffe-id" is not a SPIFFE ID',
      'console.colour: unknown key (known here: oidc, session_key_file, session_ttl, temporal_ui_url, url)',
    ]);
    expect(warnings).toEqual([]);
  });

  it('defaults without a block: an 8 h session, no OIDC', async () => {
    const { value } = await decode('', (d) => readConsole(d.block('console')));
    expect(value).toEqual({ sessionTtlMs: 8 * 3_600_000 });
  });
});

describe('identityFromClaims', () => {
  const map = { sre: 'spiffe://example.com/sre', 'db-oncall': 'spiffe://example.com/db', constructor: 'spiffe://example.com/x' };
  it.each([
    [{ groups: ['staff', 'sre'] }, 'spiffe://example.com/sre'],
    [{ groups: ['db-oncall', 'sre'] }, 'spiffe://example.com/db'],
    [{ groups: 'sre' }, 'spiffe://example.com/sre'],
    [{ groups: ['staff'] }, undefined],
    [{ groups: [42, { sre: 1 }] }, undefined],
    [{ other: ['sre'] }, undefined],
    [{ groups: ['toString', '__proto__'] }, undefined],
  ])('%j -> %s', (claims, identity) => {
    expect(identityFromClaims(claims as Record<string, unknown>, 'groups', map)?.identity).toBe(identity);
  });
});

describe('CookieSealer', () => {
  const sealer = CookieSealer.random();
  it('opens what it sealed, for the same purpose only', () => {
    const text = sealer.seal('flow', { state: 's' });
    expect(sealer.open('flow', text)).toEqual({ state: 's' });
    expect(sealer.open('session', text)).toBeUndefined();
    expect(CookieSealer.random().open('flow', text)).toBeUndefined();
  });

  it('refuses a changed body, a changed MAC and an expired session', () => {
    const good = sealer.sealSession({ sid: 'a', identity: 'spiffe://x/y', exp: 2_000 });
    expect(sealer.openSession(good, 1_999)).toEqual({ sid: 'a', identity: 'spiffe://x/y', exp: 2_000 });
    expect(sealer.openSession(good, 2_000)).toBeUndefined();
    const [body, mac] = good.split('.') as [string, string];
    const other = Buffer.from(JSON.stringify({ sid: 'a', identity: 'spiffe://x/admin', exp: 2_000 })).toString('base64url');
    expect(sealer.openSession(`${other}.${mac}`, 0)).toBeUndefined();
    // Every other last character: one that changes the MAC's bytes, and those that only change
    // the spare bits base64url decoding ignores (the same MAC spelled otherwise: refused too).
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const c of alphabet.replace(mac.slice(-1), ''))
      expect([c, sealer.openSession(`${body}.${mac.slice(0, -1)}${c}`, 0)]).toEqual([c, undefined]);
    expect(sealer.openSession(`${body}.${mac.slice(0, 1) === 'A' ? 'B' : 'A'}${mac.slice(1)}`, 0)).toBeUndefined();
    expect(sealer.openSession(body, 0)).toBeUndefined();
  });

  it('derives one CSRF token per session and compares it exactly', () => {
    expect(sealer.csrfMatches('a', sealer.csrfToken('a'))).toBe(true);
    expect(sealer.csrfMatches('b', sealer.csrfToken('a'))).toBe(false);
    expect(sealer.csrfMatches('a', undefined)).toBe(false);
  });

  it('reads and writes cookie headers', () => {
    expect(readCookie('a=1; medic_console=x.y; b=2', 'medic_console')).toBe('x.y');
    expect(readCookie('xmedic_console=1', 'medic_console')).toBeUndefined();
    expect(setCookie('n', 'v', { maxAgeSeconds: 60, secure: true, sameSite: 'Strict' })).toBe(
      'n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure',
    );
  });
});

describe('AuditTrail', () => {
  it('keeps the latest lines up to its capacity, newest first, filtered exactly', () => {
    const trail = new AuditTrail(3);
    for (const [i, node] of ['n1', 'n2', 'n1', 'n2'].entries())
      trail.record({ decision: i % 2 ? 'refused' : 'started', identity: 'spiffe://x/a', workflow: 'w', target: { node } });
    expect(trail.search().map((e) => [e.decision, e.target?.node])).toEqual([
      ['refused', 'n2'],
      ['started', 'n1'],
      ['refused', 'n2'],
    ]);
    expect(trail.search({ node: 'n1' }).length).toBe(1);
    expect(trail.search({ decisions: ['refused'], limit: 1 }).map((e) => e.target?.node)).toEqual(['n2']);
    expect(trail.search({ identity: 'spiffe://x/b' })).toEqual([]);
  });
});

describe('escaping', () => {
  it('escapes markup in text and attributes', () => {
    expect(escapeHtml(`<img src=x onerror="alert(1)">&'`)).toBe('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;');
    expect(messagePage('t', '<script>alert(1)</script>')).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
