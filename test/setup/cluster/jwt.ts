// A JWT issuer for a Temporal server that authorizes (default authorizer + default JWT claim
// mapper): an RSA key made with node:crypto, its JWKS served over loopback HTTP (the server's
// jwtKeyProvider.keySourceURIs), and RS256 tokens whose `permissions` claim lists
// "<namespace>:<read|write|worker|admin>" ("temporal-system:admin" is the system admin).
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface JwtIssuer {
  /** Where the server fetches the public keys (a JSON Web Key Set). */
  jwksUri: string;
  /** A signed token for `subject` with these permissions, valid for `ttlSeconds` (negative: already expired). */
  token(subject: string, permissions: string[], ttlSeconds?: number): string;
  close(): Promise<void>;
}

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** An RS256 JWT (RSASSA-PKCS1-v1_5 with SHA-256, what Temporal's key provider accepts besides ES256). */
export function signJwt(privateKey: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const signingInput = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))}.${base64url(JSON.stringify(claims))}`;
  return `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), privateKey))}`;
}

export async function startJwtIssuer(kid = 'medic-test-key'): Promise<JwtIssuer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    token(subject, permissions, ttlSeconds = 3600) {
      const now = Math.floor(Date.now() / 1000);
      return signJwt(privateKey, kid, { sub: subject, permissions, iat: now, exp: now + ttlSeconds });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
