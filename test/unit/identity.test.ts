import { identityFromCertificate, isSpiffeId, type PeerCertificate } from '../../src/coordinator/identity';

const now = new Date('2030-06-01T00:00:00Z');
const valid = { validFrom: new Date('2030-01-01T00:00:00Z'), validTo: new Date('2031-01-01T00:00:00Z') };
const peer = (p: Partial<PeerCertificate>): PeerCertificate => ({
  authorized: true,
  subjectAltName: 'URI:spiffe://td/a',
  ...valid,
  ...p,
});

describe('identityFromCertificate', () => {
  it.each<[string, PeerCertificate | undefined, string | null]>([
    ['no certificate: anonymous', undefined, null],
    ['a verified certificate with one SPIFFE URI SAN', peer({}), 'spiffe://td/a'],
    [
      'DNS and IP entries beside the URI are ignored',
      peer({ subjectAltName: 'DNS:host, URI:spiffe://td/a, IP Address:127.0.0.1' }),
      'spiffe://td/a',
    ],
    ['an unverified certificate', peer({ authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), null],
    ['an expired certificate', peer({ validTo: new Date('2030-05-31T00:00:00Z') }), null],
    ['a certificate not yet valid', peer({ validFrom: new Date('2030-07-01T00:00:00Z') }), null],
    ['two URI SANs', peer({ subjectAltName: 'URI:spiffe://td/a, URI:spiffe://td/b' }), null],
    ['no URI SAN', peer({ subjectAltName: 'DNS:host' }), null],
    ['a quoted SAN entry', peer({ subjectAltName: 'URI:"spiffe://td/a, URI:spiffe://td/admin"' }), null],
    ['a URI that is not SPIFFE', peer({ subjectAltName: 'URI:https://td/a' }), null],
    ['a SPIFFE ID with a dot-dot segment', peer({ subjectAltName: 'URI:spiffe://td/a/../admin' }), null],
  ])('%s', (_d, p, expected) => {
    expect(identityFromCertificate(p, now).identity).toBe(expected);
  });

  it('says why a presented certificate gave no identity', () => {
    expect(identityFromCertificate(peer({ authorized: false, authorizationError: 'CERT_HAS_EXPIRED' }), now).problem).toBe(
      'certificate not verified (CERT_HAS_EXPIRED)',
    );
  });
});

describe('isSpiffeId', () => {
  it.each([
    ['spiffe://medic.dev/sre-admin', true],
    ['spiffe://medic.dev/trigger/dc1', true],
    ['spiffe://medic.dev', true],
    ['spiffe://Medic.dev/x', false],
    ['spiffe://medic.dev/x/', false],
    ['spiffe://medic.dev/x y', false],
    ['spiffe://medic.dev/./x', false],
  ])('%s -> %s', (id, ok) => expect(isSpiffeId(id)).toBe(ok));
});
