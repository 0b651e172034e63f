// OIDC sign-in for the web console: authorization code with PKCE (S256), state and nonce, by
// openid-client as the relying party. The ID token's claim maps to a SPIFFE ID; nothing else of
// the provider's answer is kept. openid-client is loaded on first use (an ES module; only a
// coordinator with an oidc block needs it).
import type * as OpenId from 'openid-client';
import type { OidcConfig } from '../config/console';
import { readSecretFile, type Secret } from '../config/secret';

/** Why a sign-in did not give an identity; the message is safe to show the person signing in. */
export class SignInError extends Error {
  override name = 'SignInError';
}

/** What the browser carries between the redirect to the provider and the way back (sealed in a cookie). */
export interface SignInFlow {
  state: string;
  nonce: string;
  verifier: string;
  /** When the flow was started (ms): a flow older than FLOW_TTL_MS is refused. */
  at: number;
}

export const FLOW_TTL_MS = 10 * 60_000;

/**
 * The identity a set of ID-token claims signs in as: the first value of `claim` (a string or a
 * list, in the provider's order) that `identities` maps. Pure, table-tested.
 */
export function identityFromClaims(
  claims: Record<string, unknown>,
  claim: string,
  identities: Record<string, string>,
): { identity: string; matched: string } | undefined {
  const raw = claims[claim];
  const values =
    typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw.filter((v): v is string => typeof v === 'string') : [];
  for (const v of values) {
    if (Object.prototype.hasOwnProperty.call(identities, v)) return { identity: identities[v]!, matched: v };
  }
  return undefined;
}

function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
}

export class RelyingParty {
  private configuration?: Promise<OpenId.Configuration>;
  private readonly secret: Secret;

  /** Reads the client secret now, so a missing file stops the coordinator at start. */
  constructor(readonly config: OidcConfig) {
    this.secret = readSecretFile(config.clientSecretFile, 'console.oidc.client_secret_file');
  }

  private lib(): typeof OpenId {
    return require('openid-client') as typeof OpenId;
  }

  /** The provider's metadata, discovered once (again after a failure). */
  private discovered(): Promise<OpenId.Configuration> {
    if (!this.configuration) {
      const lib = this.lib();
      const issuer = new URL(this.config.issuer);
      this.configuration = lib
        .discovery(
          issuer,
          this.config.clientId,
          undefined,
          lib.ClientSecretPost(this.secret.reveal()),
          // Plain http only to a provider on loopback (the config refuses it elsewhere).
          isLoopback(issuer) && issuer.protocol === 'http:' ? { execute: [lib.allowInsecureRequests] } : undefined,
        )
        .catch((err: unknown) => {
          this.configuration = undefined;
          throw new SignInError(`the OIDC provider ${this.config.issuer} cannot be reached: ${(err as Error).message}`);
        });
    }
    return this.configuration;
  }

  /** Where to send the browser, and what it must bring back. */
  async start(redirectUri: string, now = Date.now()): Promise<{ url: string; flow: SignInFlow }> {
    const lib = this.lib();
    const config = await this.discovered();
    const flow: SignInFlow = {
      state: lib.randomState(),
      nonce: lib.randomNonce(),
      verifier: lib.randomPKCECodeVerifier(),
      at: now,
    };
    const url = lib.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: ['openid', ...this.config.scopes].join(' '),
      code_challenge: await lib.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    return { url: url.href, flow };
  }

  /** Redeems the code of the way back: the identity its ID token maps to, and a name to show. */
  async finish(currentUrl: URL, flow: SignInFlow, now = Date.now()): Promise<{ identity: string; name: string }> {
    if (now - flow.at > FLOW_TTL_MS) throw new SignInError('the sign-in took too long; start again');
    const lib = this.lib();
    const config = await this.discovered();
    let claims: Record<string, unknown> | undefined;
    try {
      const tokens = await lib.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims() as Record<string, unknown> | undefined;
    } catch (err) {
      throw new SignInError(`the provider's answer was refused: ${(err as Error).message}`);
    }
    if (!claims) throw new SignInError('the provider returned no ID token');
    const mapped = identityFromClaims(claims, this.config.claim, this.config.identities);
    const who = [claims.preferred_username, claims.email, claims.name, claims.sub].find((v) => typeof v === 'string') as string;
    if (!mapped)
      throw new SignInError(`${who} signed in, but no value of the "${this.config.claim}" claim maps to a medic identity`);
    return { identity: mapped.identity, name: who };
  }
}
