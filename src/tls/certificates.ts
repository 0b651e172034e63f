// Real X.509 certificates for mTLS: a CA, server certificates, and client certificates whose
// identity is a SPIFFE ID in the URI SAN. Tests, benchmarks and `medic dev` make their
// certificates here; nothing shells out to openssl.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import forge from 'node-forge';

/** A PEM certificate and its PEM private key. */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface CertificateAuthority extends KeyPair {
  commonName: string;
}

export interface Validity {
  notBefore?: Date;
  notAfter?: Date;
}

const DAY_MS = 86_400_000;

function newKey(): { privatePem: string; publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  // Node generates the key (fast, native); forge only builds and signs the certificate.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privatePem) as forge.pki.rsa.PrivateKey;
  return { privatePem, privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f; // positive
  return bytes.toString('hex');
}

function setValidity(cert: forge.pki.Certificate, v: Validity, defaultDays: number): void {
  const notBefore = v.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = v.notAfter ?? new Date(notBefore.getTime() + defaultDays * DAY_MS);
}

/** A self-signed CA that can sign server and client certificates. */
export function createCertificateAuthority(commonName = 'medic dev CA', validity: Validity = {}): CertificateAuthority {
  const { privatePem, privateKey, publicKey } = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  setValidity(cert, validity, 3650);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { commonName, cert: forge.pki.certificateToPem(cert), key: privatePem };
}

type AltName = { type: 2; value: string } | { type: 6; value: string } | { type: 7; ip: string };

function issue(
  ca: CertificateAuthority,
  commonName: string,
  altNames: AltName[],
  usage: 'server' | 'client',
  v: Validity,
): KeyPair {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key) as forge.pki.rsa.PrivateKey;
  const { privatePem, publicKey } = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  setValidity(cert, v, 365);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' },
    { name: 'subjectAltName', altNames },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: privatePem };
}

/** A server certificate for the given DNS names and IP addresses (default: localhost, 127.0.0.1, ::1). */
export function issueServerCertificate(
  ca: CertificateAuthority,
  opts: { dnsNames?: string[]; ipAddresses?: string[] } & Validity = {},
): KeyPair {
  const dns = opts.dnsNames ?? ['localhost'];
  const ips = opts.ipAddresses ?? ['127.0.0.1', '::1'];
  const altNames: AltName[] = [
    ...dns.map((value) => ({ type: 2 as const, value })),
    ...ips.map((ip) => ({ type: 7 as const, ip })),
  ];
  return issue(ca, dns[0] ?? ips[0] ?? 'medic', altNames, 'server', opts);
}

/** A client certificate whose identity is `spiffeId` (a URI SAN), e.g. spiffe://medic.dev/sre-admin. */
export function issueClientCertificate(ca: CertificateAuthority, spiffeId: string, validity: Validity = {}): KeyPair {
  return issue(ca, spiffeId.replace(/^spiffe:\/\//, ''), [{ type: 6, value: spiffeId }], 'client', validity);
}

export interface CertificateFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Writes a certificate and key as `<name>.pem` and `<name>-key.pem` (key readable by the owner only). */
export function writeKeyPair(dir: string, name: string, pair: KeyPair): { certFile: string; keyFile: string } {
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}-key.pem`);
  fs.writeFileSync(certFile, pair.cert);
  fs.writeFileSync(keyFile, pair.key, { mode: 0o600 });
  return { certFile, keyFile };
}

export interface DevCertificates {
  dir: string;
  caFile: string;
  server: { certFile: string; keyFile: string };
  /** Keyed by the name given in `clients`. */
  clients: Record<string, { certFile: string; keyFile: string; spiffeId: string }>;
}

/**
 * A CA (`ca.pem`), a server certificate (`server.pem`) and one client certificate per entry
 * of `clients` (name -> SPIFFE ID), written into `dir`. Used by `medic dev`, tests and benches.
 */
export function writeDevCertificates(
  dir: string,
  clients: Record<string, string>,
  server: { dnsNames?: string[] } = {},
): DevCertificates {
  const ca = createCertificateAuthority();
  fs.mkdirSync(dir, { recursive: true });
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.cert);
  fs.writeFileSync(path.join(dir, 'ca-key.pem'), ca.key, { mode: 0o600 });
  const out: DevCertificates = {
    dir,
    caFile,
    server: writeKeyPair(dir, 'server', issueServerCertificate(ca, server)),
    clients: {},
  };
  for (const [name, spiffeId] of Object.entries(clients)) {
    out.clients[name] = { ...writeKeyPair(dir, name, issueClientCertificate(ca, spiffeId)), spiffeId };
  }
  return out;
}
