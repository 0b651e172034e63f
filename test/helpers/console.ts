// Route rules a console test needs: public sign-in pages and assets, sign-out, and the page and
// its views for the given identities (actions stay under the /v1 routes' own rules).
import type { FastifyRequest } from 'fastify';
import type { RouteRule } from '../../src/config/coordinator';

/** The caller a console test names in the x-test-identity header (as TLS would give it). */
export function headerIdentity(request: FastifyRequest): { identity: string | null } {
  const id = request.headers['x-test-identity'];
  return { identity: typeof id === 'string' ? id : null };
}

export function consoleRules(uris: string[]): RouteRule[] {
  const rule = (name: string, method: string, routePatterns: string[], admits: string[]): RouteRule => ({
    name,
    method,
    routePatterns,
    uris: admits,
    allowPublic: admits.length === 0,
    skipLogMatch: false,
  });
  return [
    rule('console-public', 'GET', ['/ui/assets/*', '/ui/auth/*'], []),
    rule('console-logout', 'POST', ['/ui/auth/logout'], []),
    rule('console', 'GET', ['/ui/', '/ui/api/*'], uris),
  ];
}
