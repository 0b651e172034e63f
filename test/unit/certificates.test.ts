import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  writeDevCertificates,
} from '../../src/tls/certificates';

describe('generated certificates', () => {
  const ca = createCertificateAuthority('test CA');
  const caCert = new X509Certificate(ca.cert);

  it('a CA that signs what it issues', () => {
    expect(caCert.ca).toBe(true);
    const client = new X509Certificate(issueClientCertificate(ca, 'spiffe://medic.test/a').cert);
    expect(client.verify(caCert.publicKey)).toBe(true);
    expect(client.checkIssued(caCert)).toBe(true);
    expect(client.ca).toBe(false);
  });

  it('a client certificate carries its SPIFFE ID as the URI SAN', () => {
    const client = new X509Certificate(issueClientCertificate(ca, 'spiffe://medic.test/cli/alice').cert);
    expect(client.subjectAltName).toBe('URI:spiffe://medic.test/cli/alice');
  });

  it('a server certificate names localhost and the loopback addresses', () => {
    const server = new X509Certificate(issueServerCertificate(ca).cert);
    expect(server.subjectAltName).toContain('DNS:localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
  });

  it('validity can be set, e.g. to make an expired certificate', () => {
    const expired = new X509Certificate(
      issueClientCertificate(ca, 'spiffe://medic.test/old', {
        notBefore: new Date('2020-01-01'),
        notAfter: new Date('2020-02-01'),
      }).cert,
    );
    expect(new Date(expired.validTo).getTime()).toBeLessThan(Date.now());
  });

  it('writes a dev set with keys readable by the owner only', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-certs-'));
    try {
      const set = writeDevCertificates(dir, { admin: 'spiffe://medic.dev/sre-admin' });
      expect(new X509Certificate(fs.readFileSync(set.clients.admin!.certFile)).subjectAltName).toBe(
        'URI:spiffe://medic.dev/sre-admin',
      );
      expect(fs.statSync(set.server.keyFile).mode & 0o777).toBe(0o600);
      expect(fs.existsSync(set.caFile)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
