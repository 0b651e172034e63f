// TLS problems toward Temporal explained (which file, which name, expired or untrusted), against
// real TLS servers on loopback with generated certificates; the same probe the daemons run
// before they give up on a connection.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  writeKeyPair,
  type CertificateAuthority,
} from '../../src/tls/certificates';
import { checkTlsFiles, diagnoseTemporalTls, refusedCredentials } from '../../src/temporal/tls-diagnosis';
import type { TemporalConfig, TemporalTls } from '../../src/config/temporal';

let dir: string;
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;
let caFile: string;
let otherCaFile: string;
const servers: net.Server[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-tls-diagnosis-'));
  ca = createCertificateAuthority('diagnosis CA');
  otherCa = createCertificateAuthority('some other CA');
  caFile = path.join(dir, 'ca.pem');
  otherCaFile = path.join(dir, 'other-ca.pem');
  fs.writeFileSync(caFile, ca.cert);
  fs.writeFileSync(otherCaFile, otherCa.cert);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A TLS server like Temporal's frontend: requires a client certificate signed by `ca`. */
async function frontend(opts: { serverCa?: CertificateAuthority; dnsNames?: string[]; notAfter?: Date } = {}): Promise<string> {
  const pair = issueServerCertificate(opts.serverCa ?? ca, {
    dnsNames: opts.dnsNames ?? ['temporal.test'],
    ipAddresses: [],
    ...(opts.notAfter && { notBefore: new Date(opts.notAfter.getTime() - 86_400_000), notAfter: opts.notAfter }),
  });
  const server = tls.createServer(
    { key: pair.key, cert: pair.cert, ca: ca.cert, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] },
    (socket) => socket.on('data', () => socket.write('\x00\x00\x00\x04\x00\x00\x00\x00\x00')).on('error', () => {}),
  );
  server.on('tlsClientError', () => {});
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

function client(
  name: string,
  from: CertificateAuthority = ca,
  validity: { notBefore?: Date; notAfter?: Date } = {},
): TemporalTls {
  const files = writeKeyPair(dir, name, issueClientCertificate(from, `spiffe://medic.test/${name}`, validity));
  return { caFile, certFile: files.certFile, keyFile: files.keyFile, serverName: 'temporal.test' };
}

const config = (address: string, t: TemporalTls) => ({ address, namespace: 'default', tls: t });

it('finds nothing wrong with a good certificate pair, CA and server name', async () => {
  expect(await diagnoseTemporalTls(config(await frontend(), client('good')))).toBeUndefined();
});

it('names the client certificate file that has expired, and when', () => {
  const t = client('expired', ca, { notBefore: new Date('2020-01-01'), notAfter: new Date('2021-01-01') });
  expect(checkTlsFiles(t)).toEqual([`cert_file (client certificate) ${t.certFile} expired on 2021-01-01T00:00:00.000Z`]);
});

it('names a key file that does not belong to the certificate', () => {
  const a = client('pair-a');
  const b = client('pair-b');
  expect(checkTlsFiles({ ...a, keyFile: b.keyFile })).toEqual([
    `key_file ${b.keyFile} is not the key of cert_file ${a.certFile}`,
  ]);
});

it('names a file that cannot be read', () => {
  const t = { ...client('missing'), caFile: path.join(dir, 'nope.pem') };
  expect(checkTlsFiles(t)).toEqual([`ca_file ${path.join(dir, 'nope.pem')} cannot be read: ENOENT`]);
});

it('says the server is untrusted when ca_file did not sign its certificate', async () => {
  const address = await frontend({ serverCa: otherCa });
  expect(await diagnoseTemporalTls(config(address, client('untrusted')))).toBe(
    `the Temporal server's certificate is not trusted: it is not signed by ca_file ${caFile}`,
  );
});

it('says which name the server certificate does not cover, and which names it has', async () => {
  const address = await frontend({ dnsNames: ['frontend.example'] });
  const why = await diagnoseTemporalTls(config(address, client('wrong-name')));
  expect(why).toContain(`not valid for the name "temporal.test" (it is for DNS:frontend.example)`);
  expect(why).toContain('set server_name');
});

it("says the server's certificate has expired", async () => {
  const address = await frontend({ notAfter: new Date(Date.now() - 86_400_000) });
  expect(await diagnoseTemporalTls(config(address, client('server-expired')))).toMatch(/server's certificate has expired/);
});

it('says the server refused a client certificate from a CA it does not trust, naming the file', async () => {
  const address = await frontend();
  const t = client('stranger', otherCa);
  expect(await diagnoseTemporalTls(config(address, t))).toMatch(
    new RegExp(`refused the client certificate cert_file ${t.certFile!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.+\\)`),
  );
});

it('says when the server wants a client certificate and none is configured', async () => {
  const address = await frontend();
  expect(await diagnoseTemporalTls(config(address, { caFile, serverName: 'temporal.test' }))).toMatch(
    /wants a client certificate.*set cert_file and key_file/,
  );
});

it('says when the port speaks plaintext', async () => {
  const plain = net.createServer((s) => s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n')).on('error', () => {}));
  servers.push(plain);
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
  expect(await diagnoseTemporalTls(config(address, client('plain')))).toMatch(/does not speak TLS/);
});

it('leaves a refused port to the retry loop (not a certificate problem)', async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  expect(await diagnoseTemporalTls(config(`127.0.0.1:${port}`, client('refused')))).toBeUndefined();
});

describe('refusedCredentials', () => {
  const base = { address: '127.0.0.1:7233', namespace: 'default' } as TemporalConfig;
  it('names the API key file when the server refuses it, found through the error causes', () => {
    const denied = Object.assign(new Error('7 PERMISSION_DENIED: Request unauthorized.'), { code: 7 });
    const wrapped = new Error('failed to connect', { cause: denied });
    expect(refusedCredentials(wrapped, { ...base, apiKeyFile: '/etc/medic/temporal.key' })).toBe(
      'Temporal at 127.0.0.1:7233 refused the API key in /etc/medic/temporal.key (7 PERMISSION_DENIED: Request unauthorized.)',
    );
    const unauthenticated = Object.assign(new Error('16 UNAUTHENTICATED: token expired'), { code: 16 });
    expect(refusedCredentials(unauthenticated, base)).toMatch(
      /^Temporal at 127\.0\.0\.1:7233 refused the connection \(16 UNAUTHENTICATED/,
    );
  });
  it('is undefined when the server could not be reached', () => {
    expect(
      refusedCredentials(Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 }), base),
    ).toBeUndefined();
    expect(refusedCredentials(new Error('timed out'), base)).toBeUndefined();
  });
});
