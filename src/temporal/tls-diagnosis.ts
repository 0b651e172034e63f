// Why a TLS connection to Temporal fails, in words an operator can act on: which file, which
// name, expired or untrusted. Local checks of the configured files first, then one raw TLS
// handshake with the same files (the SDK reports only "failed to connect"). A certificate
// problem is permanent: daemons stop with this explanation instead of retrying forever.
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { TemporalConfig, TemporalTls } from '../config/temporal';

/** Thrown when Temporal cannot be reached because of a certificate problem; retrying cannot fix it. */
export class TemporalTlsError extends Error {
  override name = 'TemporalTlsError';
}

function readable(file: string, what: string, problems: string[]): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    problems.push(`${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return undefined;
  }
}

function validity(cert: X509Certificate, file: string, what: string, now: Date): string | undefined {
  if (new Date(cert.validTo) < now) return `${what} ${file} expired on ${new Date(cert.validTo).toISOString()}`;
  if (new Date(cert.validFrom) > now) return `${what} ${file} is not valid before ${new Date(cert.validFrom).toISOString()}`;
  return undefined;
}

/** Problems visible without the network: unreadable files, expired certificates, a key that does not match. */
export function checkTlsFiles(t: TemporalTls, now = new Date()): string[] {
  const problems: string[] = [];
  if (t.caFile) {
    const pem = readable(t.caFile, 'ca_file', problems);
    if (pem) {
      try {
        const p = validity(new X509Certificate(pem), t.caFile, 'ca_file', now);
        if (p) problems.push(p);
      } catch {
        problems.push(`ca_file ${t.caFile} is not a PEM certificate`);
      }
    }
  }
  if (t.certFile && t.keyFile) {
    const certPem = readable(t.certFile, 'cert_file', problems);
    const keyPem = readable(t.keyFile, 'key_file', problems);
    let cert: X509Certificate | undefined;
    if (certPem) {
      try {
        cert = new X509Certificate(certPem);
        const p = validity(cert, t.certFile, 'cert_file (client certificate)', now);
        if (p) problems.push(p);
      } catch {
        problems.push(`cert_file ${t.certFile} is not a PEM certificate`);
      }
    }
    if (keyPem) {
      try {
        const key = createPrivateKey(keyPem);
        const fromKey = createPublicKey(key).export({ type: 'spki', format: 'der' });
        if (cert && !cert.publicKey.export({ type: 'spki', format: 'der' }).equals(fromKey)) {
          problems.push(`key_file ${t.keyFile} is not the key of cert_file ${t.certFile}`);
        }
      } catch {
        problems.push(`key_file ${t.keyFile} is not a PEM private key`);
      }
    }
  }
  return problems;
}

function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`${address} is not host:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** Explains a failed handshake, or undefined when the failure is not about certificates (e.g. refused). */
function explain(
  err: NodeJS.ErrnoException,
  t: TemporalTls,
  name: string,
  server: string,
  peer?: tls.PeerCertificate,
): string | undefined {
  const code = err.code ?? '';
  const ca = t.caFile ? `ca_file ${t.caFile}` : "the system's CA store (no ca_file)";
  if (code === 'CERT_HAS_EXPIRED') return `${server}'s certificate has expired (checked against ${ca})`;
  if (code === 'CERT_NOT_YET_VALID') return `${server}'s certificate is not valid yet`;
  if (UNTRUSTED.has(code)) return `${server}'s certificate is not trusted: it is not signed by ${ca}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = peer?.subjectaltname ? ` (it is for ${peer.subjectaltname})` : '';
    return `${server}'s certificate is not valid for the name ${JSON.stringify(name)}${names}: set server_name to one of its names`;
  }
  if (/^ERR_SSL_.*ALERT/.test(code) || /alert/i.test(err.message)) {
    const reason = err.message.replace(/^.*alert /i, '').trim();
    if (!t.certFile) return `${server} wants a client certificate (${reason}): set cert_file and key_file in the tls block`;
    return `${server} refused the client certificate cert_file ${t.certFile} (${reason}): it must be signed by a CA the server trusts and be valid now`;
  }
  if (/wrong version number|packet length too long|unexpected eof/i.test(err.message))
    return `${server} does not speak TLS (${err.message.split('\n')[0]}): remove the tls block, or point address at its TLS port`;
  return undefined;
}

/**
 * One TLS handshake to `address` with the configured files, and a moment after it for the
 * server's verdict on our certificate (TLS 1.3 sends it after the handshake). undefined: the
 * handshake is fine, or the failure is not about TLS (a refused or unreachable port).
 */
export function probeTls(
  address: string,
  t: TemporalTls,
  opts: { server?: string; timeoutMs?: number } = {},
): Promise<string | undefined> {
  const server = opts.server ?? 'the Temporal server';
  const { host, port } = splitAddress(address);
  const name = t.serverName ?? host;
  return new Promise((resolve) => {
    let peer: tls.PeerCertificate | undefined;
    let settled = false;
    const done = (v: string | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const socket = tls.connect({
      host,
      port,
      servername: net.isIP(name) ? undefined : name,
      ca: t.caFile ? fs.readFileSync(t.caFile) : undefined,
      cert: t.certFile ? fs.readFileSync(t.certFile) : undefined,
      key: t.keyFile ? fs.readFileSync(t.keyFile) : undefined,
      ALPNProtocols: ['h2'],
      checkServerIdentity: (hostname, cert) => {
        peer = cert;
        return tls.checkServerIdentity(name, cert);
      },
    });
    const timer = setTimeout(() => done(undefined), opts.timeoutMs ?? 5_000);
    let secured = false;
    // Hung up right after a handshake, without a word: what servers do to a certificate they
    // refuse under TLS 1.3 when they send no alert.
    const hungUp = (): string | undefined =>
      secured
        ? t.certFile
          ? `${server} closed the connection right after the TLS handshake: it refused the client certificate cert_file ${t.certFile} (not signed by a CA it trusts, or not valid now)`
          : `${server} closed the connection right after the TLS handshake: it wants a client certificate; set cert_file and key_file in the tls block`
        : undefined;
    socket.on('error', (err: NodeJS.ErrnoException) => done(explain(err, t, name, server, peer) ?? hungUp()));
    socket.on('secureConnect', () => {
      secured = true;
      // The HTTP/2 preface: a server that accepted our certificate answers with its SETTINGS.
      socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00');
      socket.once('data', () => done(undefined));
    });
    socket.on('close', () => done(hungUp()));
  });
}

/** An explanation of why TLS to Temporal fails, or undefined when TLS is not the problem. */
export async function diagnoseTemporalTls(config: TemporalConfig): Promise<string | undefined> {
  if (!config.tls) return undefined;
  const local = checkTlsFiles(config.tls);
  if (local.length) return local.join('; ');
  return probeTls(config.address, config.tls);
}

/**
 * When the server answered but refused medic's credentials (gRPC PERMISSION_DENIED or
 * UNAUTHENTICATED anywhere in the error's causes): what was refused, in words. Undefined for
 * any other failure. Not permanent: a rotated key file is re-read on the next attempt.
 */
export function refusedCredentials(err: unknown, config: TemporalConfig): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 7 || code === 16) {
      const what = config.apiKeyFile
        ? `the API key in ${config.apiKeyFile}`
        : config.tls
          ? 'the client certificate'
          : 'the connection';
      return `Temporal at ${config.address} refused ${what} (${(e as Error).message.split('\n')[0]})`;
    }
  }
  return undefined;
}
