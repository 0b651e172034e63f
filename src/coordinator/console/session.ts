// Signed cookies of the web console: the session (who signed in, until when) and the short-lived
// sign-in flow, each an HMAC-SHA256-sealed JSON value; and the CSRF token bound to a session.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The session cookie: HttpOnly, SameSite=Strict, Path=/. */
export const SESSION_COOKIE = 'medic_console';
/** The sign-in flow's cookie (state, nonce, PKCE verifier): SameSite=Lax, as the provider redirects back cross-site. */
export const FLOW_COOKIE = 'medic_console_flow';

export interface Session {
  /** Random per session: binds the CSRF token. */
  sid: string;
  /** The SPIFFE ID the session signs in as; absent for a session that only carries a CSRF binding (certificate users). */
  identity?: string;
  /** Who signed in, for display (the provider's name or e-mail, or "medic dev"). */
  name?: string;
  /** How: "oidc" or "dev" (medic dev's one-time link). */
  via?: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

const b64 = (b: Buffer): string => b.toString('base64url');

/** Seals and opens values with one key; a value sealed for one purpose does not open for another. */
export class CookieSealer {
  constructor(private readonly key: Buffer) {
    if (key.length < 32) throw new Error('a console session key needs at least 32 bytes');
  }

  static random(): CookieSealer {
    return new CookieSealer(randomBytes(32));
  }

  private mac(purpose: string, body: string): Buffer {
    return createHmac('sha256', this.key).update(`${purpose}\n${body}`).digest();
  }

  seal(purpose: string, value: object): string {
    const body = b64(Buffer.from(JSON.stringify(value)));
    return `${body}.${b64(this.mac(purpose, body))}`;
  }

  /** The value, or undefined when the text was not sealed by this key for this purpose. */
  open(purpose: string, text: string | undefined): Record<string, unknown> | undefined {
    if (!text || text.length > 4096) return undefined;
    const dot = text.indexOf('.');
    if (dot <= 0) return undefined;
    const body = text.slice(0, dot);
    // Compared as text: base64url decoding ignores the last character's spare bits, so a MAC
    // compared as bytes would also open under other spellings of itself.
    const given = Buffer.from(text.slice(dot + 1), 'utf8');
    const want = Buffer.from(b64(this.mac(purpose, body)), 'utf8');
    if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
    try {
      const v = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  sealSession(s: Session): string {
    return this.seal('session', s);
  }

  /** The session in a cookie value, if it is sealed by this key and has not expired. */
  openSession(text: string | undefined, now = Date.now()): Session | undefined {
    const v = this.open('session', text);
    if (!v || typeof v.sid !== 'string' || typeof v.exp !== 'number' || v.exp <= now) return undefined;
    if (v.identity !== undefined && typeof v.identity !== 'string') return undefined;
    return {
      sid: v.sid,
      exp: v.exp,
      ...(typeof v.identity === 'string' && { identity: v.identity }),
      ...(typeof v.name === 'string' && { name: v.name }),
      ...(typeof v.via === 'string' && { via: v.via }),
    };
  }

  /** The CSRF token of a session: derived, so every replica with the key checks it without shared state. */
  csrfToken(sid: string): string {
    return b64(this.mac('csrf', sid));
  }

  csrfMatches(sid: string, token: string | undefined): boolean {
    if (!token) return false;
    const given = Buffer.from(token, 'utf8');
    const want = Buffer.from(this.csrfToken(sid), 'utf8');
    return given.length === want.length && timingSafeEqual(given, want);
  }
}

export function newSessionId(): string {
  return b64(randomBytes(18));
}

/** A cookie's value from a Cookie header (the first of that name). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
  sameSite: 'Strict' | 'Lax';
  path?: string;
}

/** A Set-Cookie value; always HttpOnly. Values are sealed (base64url and "."), never raw input. */
export function setCookie(name: string, value: string, o: CookieOptions): string {
  return [
    `${name}=${value}`,
    `Path=${o.path ?? '/'}`,
    `Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}`,
    'HttpOnly',
    `SameSite=${o.sameSite}`,
    ...(o.secure ? ['Secure'] : []),
  ].join('; ');
}
