// Who is calling: the SPIFFE ID in the URI SAN of a client certificate that verified against
// the client CA and is within its validity period. Anything else is no identity (anonymous).
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isSpiffeId } from '../naming/spiffe';

export interface PeerCertificate {
  /** The TLS stack verified the chain against the client CA (socket.authorized). */
  authorized: boolean;
  /** Why it did not, e.g. CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
  authorizationError?: string;
  /** Node's rendering, e.g. "URI:spiffe://td/x, DNS:a"; undefined when no certificate was sent. */
  subjectAltName?: string;
  validFrom?: Date;
  validTo?: Date;
}

export interface CallerIdentity {
  /** The verified SPIFFE ID, or null. */
  identity: string | null;
  /** Why a presented certificate gave no identity (about the caller's own certificate only). */
  problem?: string;
}

export { isSpiffeId };

/** The identity a peer certificate establishes; pure, so the rules are table-tested. */
export function identityFromCertificate(peer: PeerCertificate | undefined, now = new Date()): CallerIdentity {
  if (!peer || peer.subjectAltName === undefined) return { identity: null };
  if (!peer.authorized)
    return { identity: null, problem: `certificate not verified (${peer.authorizationError ?? 'unknown reason'})` };
  if ((peer.validFrom && now < peer.validFrom) || (peer.validTo && now > peer.validTo)) {
    return { identity: null, problem: 'certificate outside its validity period' };
  }
  // Node quotes entries that hold unusual characters (URI:"..."); such a SAN cannot be
  // split unambiguously, so it gives no identity.
  if (peer.subjectAltName.includes('"')) return { identity: null, problem: 'certificate has a quoted subjectAltName entry' };
  const uris = peer.subjectAltName
    .split(', ')
    .filter((e) => e.startsWith('URI:'))
    .map((e) => e.slice(4));
  if (uris.length !== 1) return { identity: null, problem: `certificate must carry exactly one URI SAN, found ${uris.length}` };
  const uri = uris[0]!;
  if (!isSpiffeId(uri)) return { identity: null, problem: 'certificate URI SAN is not a SPIFFE ID' };
  return { identity: uri };
}

/** Reads the peer certificate of a TLS socket (nothing for plain sockets or injected requests). */
export function peerCertificate(socket: unknown): PeerCertificate | undefined {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (!tls || typeof tls.getPeerX509Certificate !== 'function') return undefined;
  const cert = tls.getPeerX509Certificate();
  if (!cert) return undefined;
  return {
    authorized: tls.authorized === true,
    authorizationError: tls.authorizationError ? String(tls.authorizationError) : undefined,
    subjectAltName: cert.subjectAltName ?? '',
    validFrom: new Date(cert.validFrom),
    validTo: new Date(cert.validTo),
  };
}

// One TLS connection carries many requests (keep-alive): read its certificate once.
const bySocket = new WeakMap<object, { at: number; caller: CallerIdentity }>();
const RECHECK_MS = 60_000;

/** The identity of a request's TLS connection, cached per connection and rechecked each minute (expiry). */
export function tlsCallerIdentity(request: FastifyRequest): CallerIdentity {
  const socket = request.raw.socket as object | undefined;
  if (!socket) return { identity: null };
  const now = Date.now();
  const cached = bySocket.get(socket);
  if (cached && now - cached.at < RECHECK_MS) return cached.caller;
  const caller = identityFromCertificate(peerCertificate(socket), new Date(now));
  bySocket.set(socket, { at: now, caller });
  return caller;
}

export type IdentifyCaller = (request: FastifyRequest) => CallerIdentity;

declare module 'fastify' {
  interface FastifyRequest {
    caller: CallerIdentity;
  }
}

/** Decorates every request with `request.caller`, before any other onRequest hook runs. */
export const identityPlugin = fp<{ identify: IdentifyCaller }>(
  async (app: FastifyInstance, opts) => {
    app.decorateRequest('caller', null as unknown as CallerIdentity);
    app.addHook('onRequest', async (request) => {
      request.caller = opts.identify(request);
    });
  },
  { name: 'medic-identity', fastify: '5.x' },
);
