// `console { ... }` in coordinator.hcl: the web console's sessions, its links, and OIDC sign-in.
import type { Decoder } from './decoder';
import { isSpiffeId } from '../naming/spiffe';
import { configPath } from './temporal';

export interface OidcConfig {
  /** The provider's issuer URL (discovery at <issuer>/.well-known/openid-configuration). */
  issuer: string;
  clientId: string;
  /** The client secret, read from this file at start (never in coordinator.hcl, never logged). */
  clientSecretFile: string;
  /** The ID-token claim whose values map to identities (a string or a list of strings), e.g. "groups". */
  claim: string;
  /** Claim value -> SPIFFE ID the route rules know (`spiffe://example.com/sre/alice-group`). */
  identities: Record<string, string>;
  /** Scopes asked for besides "openid". */
  scopes: string[];
}

export interface ConsoleConfig {
  /** The console's public origin (https://medic.example.com:8443): OIDC redirect and Origin checks; default the request's Host. */
  url?: string;
  /** Signs session cookies; every replica behind one name needs the same key. Absent: a random key per process. */
  sessionKeyFile?: string;
  /** How long a sign-in lasts. */
  sessionTtlMs: number;
  /** The Temporal UI (http://temporal-ui:8080): each execution links to its page there. */
  temporalUiUrl?: string;
  oidc?: OidcConfig;
}

export const DEFAULT_SESSION_TTL_MS = 8 * 3_600_000;
const SESSION_TTL_RANGE_MS = [60_000, 7 * 24 * 3_600_000] as const;

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** An http(s) URL without query or fragment; plain http only on loopback (tests, medic dev). */
function readUrl(d: Decoder, key: string, opts: { required?: boolean } = {}): string | undefined {
  const text = d.string(key, { nonEmpty: true, required: opts.required });
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    d.error(key, `${JSON.stringify(text)} is not a URL`);
    return undefined;
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    d.error(key, `${JSON.stringify(text)} must be https:// (plain http only on a loopback address)`);
    return undefined;
  }
  if (url.search || url.hash || url.username || url.password) {
    d.error(key, `${JSON.stringify(text)} must not carry a query, fragment or credentials`);
    return undefined;
  }
  return text.replace(/\/+$/, '');
}

function readOidc(d: Decoder): OidcConfig | undefined {
  const issuer = readUrl(d, 'issuer', { required: true });
  const clientId = d.string('client_id', { required: true, nonEmpty: true });
  const clientSecretFile = configPath(d.file, d.string('client_secret_file', { required: true, nonEmpty: true }));
  const claim = d.string('claim', { nonEmpty: true }) ?? 'groups';
  const identities = d.stringMap('identities') ?? {};
  if (!d.has('identities')) d.error('identities', 'is required: which claim values sign in as which SPIFFE ID');
  else if (Object.keys(identities).length === 0) d.warning('identities', 'empty: nobody can sign in with OIDC');
  for (const [value, id] of Object.entries(identities)) {
    if (!isSpiffeId(id)) d.diag.error(d.file, `${d.at('identities')}.${value}`, `${JSON.stringify(id)} is not a SPIFFE ID`);
  }
  const scopes = d.strings('scopes') ?? ['profile', 'email', claim];
  d.finish();
  if (!issuer || !clientId || !clientSecretFile) return undefined;
  return { issuer, clientId, clientSecretFile, claim, identities, scopes: scopes.filter((s) => s !== 'openid') };
}

export function readConsole(d: Decoder | undefined): ConsoleConfig {
  if (!d) return { sessionTtlMs: DEFAULT_SESSION_TTL_MS };
  const url = readUrl(d, 'url');
  const sessionKeyFile = configPath(d.file, d.string('session_key_file', { nonEmpty: true }));
  let sessionTtlMs = d.duration('session_ttl', { positive: true }) ?? DEFAULT_SESSION_TTL_MS;
  if (sessionTtlMs < SESSION_TTL_RANGE_MS[0] || sessionTtlMs > SESSION_TTL_RANGE_MS[1]) {
    d.error('session_ttl', 'must be between 1m and 168h');
    sessionTtlMs = DEFAULT_SESSION_TTL_MS;
  }
  const temporalUiUrl = readUrl(d, 'temporal_ui_url');
  const o = d.block('oidc');
  const oidc = o ? readOidc(o) : undefined;
  if (oidc && !sessionKeyFile)
    d.warning(
      'session_key_file',
      'not set: sessions are signed with a key made at start, so they end when the coordinator restarts and other replicas do not accept them',
    );
  d.finish();
  return {
    ...(url && { url }),
    ...(sessionKeyFile && { sessionKeyFile }),
    sessionTtlMs,
    ...(temporalUiUrl && { temporalUiUrl }),
    ...(oidc && { oidc }),
  };
}
