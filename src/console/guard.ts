// Who a browser request is, and whether it may act: the console's session cookie gives an
// identity (the route rules then decide, as for a certificate), and every state-changing request
// that a browser makes must come from the console's own origin with the session's CSRF token.
import type { FastifyRequest } from 'fastify';
import type { CallerIdentity, IdentifyCaller } from '../coordinator/identity';
import { isSpiffeId } from '../naming/spiffe';
import { SESSION_COOKIE, readCookie, type CookieSealer, type Session } from './session';

/** The header the console's script sends the CSRF token in. */
export const CSRF_HEADER = 'x-medic-csrf';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The origin the console is served from: the configured URL's, else the request's own scheme and Host. */
export function consoleOrigin(request: FastifyRequest, url: string | undefined): string | undefined {
  if (url) return new URL(url).origin;
  const host = request.headers.host;
  if (!host || /[\s/\\@]/.test(host)) return undefined;
  return `${request.protocol}://${host}`;
}

/** The request's verified, unexpired console session, if it carries one. */
export function requestSession(request: FastifyRequest, sealer: CookieSealer, now = Date.now()): Session | undefined {
  return sealer.openSession(readCookie(request.headers.cookie, SESSION_COOKIE), now);
}

/**
 * Why a state-changing request from a browser is refused, or undefined. A request is a browser's
 * when it carries a console session, an Origin or a Sec-Fetch-Site header (the CLI and other
 * services send none of them; a browser always sends Origin on a cross-origin POST). It must then
 * come from the console's origin and carry the CSRF token of its session.
 */
export function csrfProblem(
  request: FastifyRequest,
  session: Session | undefined,
  sealer: CookieSealer,
  url?: string,
): string | undefined {
  if (SAFE_METHODS.has(request.method)) return undefined;
  const origin = request.headers.origin;
  const site = request.headers['sec-fetch-site'];
  if (!session && origin === undefined && site === undefined) return undefined;
  const own = consoleOrigin(request, url);
  if (origin !== undefined && origin !== own) return "cross-origin request refused (Origin is not the console's)";
  if (site !== undefined && site !== 'same-origin')
    return `cross-site request refused (Sec-Fetch-Site: ${String(site).slice(0, 32)})`;
  if (!session) return 'a browser request that changes something needs a console session (load /ui/ first)';
  const token = request.headers[CSRF_HEADER];
  if (!sealer.csrfMatches(session.sid, typeof token === 'string' ? token : undefined))
    return `missing or wrong CSRF token (${CSRF_HEADER} header)`;
  return undefined;
}

/**
 * The coordinator's identify function with the console's rules: a client certificate wins; else a
 * signed-in session's identity. A browser request that fails the CSRF rules has no identity at all,
 * so the route rules refuse it (403) whoever sent it.
 */
export function consoleIdentify(inner: IdentifyCaller, sealer: CookieSealer, url?: string): IdentifyCaller {
  return (request): CallerIdentity => {
    const session = requestSession(request, sealer);
    const problem = csrfProblem(request, session, sealer, url);
    if (problem) return { identity: null, problem };
    const fromCertificate = inner(request);
    if (fromCertificate.identity !== null) return fromCertificate;
    if (session?.identity && isSpiffeId(session.identity)) return { identity: session.identity };
    return fromCertificate;
  };
}
