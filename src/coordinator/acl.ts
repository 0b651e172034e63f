// Route rules: who may call what. Deny by default; a request is allowed when any rule whose
// method and route pattern match it admits the caller (its SPIFFE ID is listed, exactly or
// under a "/*" prefix, or the rule has allow_public). Pure: no I/O, table-tested.
import type { RouteRule } from '../config/coordinator';

export interface CompiledRule {
  name: string;
  method: string;
  patterns: RegExp[];
  exact: Set<string>;
  /** "spiffe://td/trigger/" for "spiffe://td/trigger/*". */
  prefixes: string[];
  allowPublic: boolean;
  skipLogMatch: boolean;
}

export interface Acl {
  rules: CompiledRule[];
}

export interface AccessRequest {
  method: string;
  /** The path of the request URL, without the query string. */
  path: string;
  /** The caller's verified SPIFFE ID, or null for an anonymous caller. */
  identity: string | null;
}

export interface AccessDecision {
  allowed: boolean;
  /** The rule that admitted the caller. */
  rule?: string;
  /** Names of the rules whose method and route matched (the rule set consulted). */
  consulted: string[];
  /** The admitting rule asks not to log requests it matches. */
  skipLog: boolean;
  /** Why the request was denied, in words that name only the caller's own identity. */
  reason?: string;
}

/**
 * A route pattern as a regular expression. `*` stands for one path segment (or part of one);
 * a final `/*` stands for everything below, e.g. `/v1/*` covers `/v1/workflows/x/executions`.
 */
export function routePattern(pattern: string): RegExp {
  const segments = pattern.split('/');
  const parts = segments.map((seg, i) => {
    if (seg === '*' && i === segments.length - 1 && i > 0) return '.+';
    if (seg === '*') return '[^/]+';
    return seg
      .split('*')
      .map((lit) => lit.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*');
  });
  return new RegExp(`^${parts.join('/')}$`);
}

export function compileAcl(rules: RouteRule[]): Acl {
  return {
    rules: rules.map((r) => ({
      name: r.name,
      method: r.method.toUpperCase(),
      patterns: r.routePatterns.map(routePattern),
      exact: new Set(r.uris.filter((u) => !u.endsWith('/*'))),
      prefixes: r.uris.filter((u) => u.endsWith('/*')).map((u) => u.slice(0, -1)),
      allowPublic: r.allowPublic,
      skipLogMatch: r.skipLogMatch,
    })),
  };
}

/** True when `identity` is listed exactly or falls under a "/*" prefix of the rule. */
export function admitsIdentity(rule: CompiledRule, identity: string): boolean {
  if (rule.exact.has(identity)) return true;
  return rule.prefixes.some((p) => identity.length > p.length && identity.startsWith(p));
}

function methodMatches(rule: CompiledRule, method: string): boolean {
  // HEAD is a GET without a body: a rule for GET covers it.
  return rule.method === '*' || rule.method === method || (method === 'HEAD' && rule.method === 'GET');
}

// Paths that routers or proxies may read differently from how a pattern reads them
// (dot segments, empty segments, encoded separators) never match any rule.
const AMBIGUOUS_PATH = /(^|\/)\.\.?(\/|$)|\/\/|%2f|%2e|%5c|\\/i;

/**
 * Why a raw request path is refused before routing (400), or undefined. Escapes of "/", ".",
 * "\\", NUL or "#", a raw "#" and undecodable escapes let the router and a route pattern read
 * the path differently (the router decodes, the patterns match the raw path).
 */
export function refusedPathProblem(rawPath: string): string | undefined {
  if (/%(2f|2e|5c|00|23)/i.test(rawPath)) return 'has a %-escaped "/", ".", "\\", NUL or "#"';
  if (rawPath.includes('#')) return 'has a "#"';
  try {
    decodeURIComponent(rawPath);
  } catch {
    return 'has an escape that does not decode (a "%" not followed by two hex digits, or bad UTF-8)';
  }
  return undefined;
}

export function authorize(acl: Acl, req: AccessRequest): AccessDecision {
  const method = req.method.toUpperCase();
  if (!req.path.startsWith('/') || AMBIGUOUS_PATH.test(req.path)) {
    return {
      allowed: false,
      consulted: [],
      skipLog: false,
      reason: 'the path has dot segments, empty segments or encoded separators',
    };
  }
  const matching = acl.rules.filter((r) => methodMatches(r, method) && r.patterns.some((p) => p.test(req.path)));
  const consulted = matching.map((r) => r.name);
  const admitting = matching.find((r) => r.allowPublic || (req.identity !== null && admitsIdentity(r, req.identity)));
  if (admitting) return { allowed: true, rule: admitting.name, consulted, skipLog: admitting.skipLogMatch };
  const who = req.identity === null ? 'a caller without a verified client certificate' : req.identity;
  const reason =
    matching.length === 0
      ? `no route rule covers ${method} ${req.path}`
      : `route rule${matching.length > 1 ? 's' : ''} ${consulted.join(', ')} do${matching.length > 1 ? '' : 'es'} not admit ${who}`;
  return { allowed: false, consulted, skipLog: false, reason };
}
