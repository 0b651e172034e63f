// Signing in to the console: OIDC (authorization code + PKCE) and medic dev's one-time link both
// end in a sealed session cookie naming a SPIFFE ID; signing out ends it. The route rules still
// decide what that identity may see and do.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditSink } from '../telemetry/audit';
import { consoleOrigin, csrfProblem, requestSession } from './guard';
import { SignInError, type RelyingParty, type SignInFlow } from './oidc';
import { messagePage } from './page';
import { FLOW_COOKIE, newSessionId, readCookie, SESSION_COOKIE, setCookie, type CookieSealer, type Session } from './session';

/** medic dev's sign-in without setup: a token printed in its banner, good for one sign-in. */
export interface DevSignIn {
  token: string;
  identity: string;
}

export interface SignInSettings {
  sealer: CookieSealer;
  sessionTtlMs: number;
  /** The configured public URL of the console (else the request's own origin). */
  url?: string;
  oidc?: RelyingParty;
  dev?: DevSignIn;
  audit: AuditSink;
  log(message: string): void;
}

const HIDDEN = { hide: true } as const;
const CALLBACK = '/ui/auth/callback';

function html(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

function sameToken(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function signInRoutes(app: FastifyInstance, s: SignInSettings): Promise<void> {
  const secure = (request: FastifyRequest): boolean => request.protocol === 'https';

  /** Starts a session for `identity` and sends the browser on to the console (a same-origin step, so the Strict cookie goes along). */
  const signIn = (request: FastifyRequest, reply: FastifyReply, who: Omit<Session, 'sid' | 'exp'>): FastifyReply => {
    const session: Session = { sid: newSessionId(), exp: Date.now() + s.sessionTtlMs, ...who };
    s.audit({
      decision: 'signed_in',
      identity: session.identity ?? null,
      method: request.method,
      path: request.url.split('?')[0],
      reason: `${who.via} sign-in of ${who.name ?? 'unknown'}`,
    });
    reply.header('set-cookie', [
      setCookie(SESSION_COOKIE, s.sealer.sealSession(session), {
        maxAgeSeconds: s.sessionTtlMs / 1000,
        secure: secure(request),
        sameSite: 'Strict',
      }),
      setCookie(FLOW_COOKIE, '', { maxAgeSeconds: 0, secure: secure(request), sameSite: 'Lax', path: '/ui/auth/' }),
    ]);
    return html(
      reply,
      200,
      messagePage('medic: signed in', `Signed in as ${who.identity} (${who.name}).`, [['Open the console', '/ui/']], '/ui/'),
    );
  };

  const refuse = (request: FastifyRequest, reply: FastifyReply, message: string): FastifyReply => {
    s.audit({
      decision: 'sign_in_refused',
      identity: null,
      method: request.method,
      path: request.url.split('?')[0],
      reason: message,
    });
    return html(reply, 403, messagePage('medic: not signed in', message, s.oidc ? [['Try again', '/ui/auth/login']] : []));
  };

  app.get('/ui/auth/login', { schema: HIDDEN }, async (request, reply) => {
    if (!s.oidc) return html(reply, 404, messagePage('medic: no sign-in', 'This coordinator has no console.oidc block.'));
    const origin = consoleOrigin(request, s.url);
    if (!origin) return html(reply, 400, messagePage('medic: bad request', 'The request has no usable Host.'));
    try {
      const { url, flow } = await s.oidc.start(`${origin}${CALLBACK}`);
      reply.header(
        'set-cookie',
        setCookie(FLOW_COOKIE, s.sealer.seal('flow', flow), {
          maxAgeSeconds: 600,
          secure: secure(request),
          // The provider sends the browser back from its own site: a Strict cookie would stay behind.
          sameSite: 'Lax',
          path: '/ui/auth/',
        }),
      );
      return reply.code(302).header('location', url).header('cache-control', 'no-store').send();
    } catch (err) {
      s.log(`console sign-in: ${(err as Error).message}`);
      return html(reply, 503, messagePage('medic: sign-in unavailable', (err as Error).message));
    }
  });

  app.get(CALLBACK, { schema: HIDDEN }, async (request, reply) => {
    if (!s.oidc) return html(reply, 404, messagePage('medic: no sign-in', 'This coordinator has no console.oidc block.'));
    const origin = consoleOrigin(request, s.url);
    const raw = s.sealer.open('flow', readCookie(request.headers.cookie, FLOW_COOKIE));
    if (!origin || !raw || typeof raw.state !== 'string' || typeof raw.nonce !== 'string' || typeof raw.verifier !== 'string')
      return refuse(request, reply, 'No sign-in was started in this browser (or it expired); start again.');
    const flow: SignInFlow = { state: raw.state, nonce: raw.nonce, verifier: raw.verifier, at: Number(raw.at) };
    try {
      const who = await s.oidc.finish(new URL(request.url, origin), flow);
      return signIn(request, reply, { identity: who.identity, name: who.name, via: 'oidc' });
    } catch (err) {
      if (!(err instanceof SignInError)) throw err;
      return refuse(request, reply, err.message);
    }
  });

  let devUsed = false;
  app.get<{ Querystring: { token?: string } }>(
    '/ui/auth/dev',
    {
      schema: {
        ...HIDDEN,
        querystring: { type: 'object', additionalProperties: false, properties: { token: { type: 'string', maxLength: 128 } } },
      },
    },
    async (request, reply) => {
      if (!s.dev) return html(reply, 404, messagePage('medic: no dev sign-in', 'Only medic dev signs in with a link.'));
      if (devUsed || !request.query.token || !sameToken(request.query.token, s.dev.token))
        return refuse(request, reply, 'This sign-in link is wrong or was used already (it works once).');
      devUsed = true;
      return signIn(request, reply, { identity: s.dev.identity, name: 'medic dev', via: 'dev' });
    },
  );

  app.post('/ui/auth/logout', { schema: HIDDEN }, async (request, reply) => {
    const session = requestSession(request, s.sealer);
    // This route may be public: it checks the CSRF rules itself (the identity hook only takes the identity away).
    const problem = csrfProblem(request, session, s.sealer, s.url) ?? (session ? undefined : 'no session');
    if (problem) return reply.code(403).send({ error: 'forbidden', message: problem, details: {} });
    reply.header('set-cookie', setCookie(SESSION_COOKIE, '', { maxAgeSeconds: 0, secure: secure(request), sameSite: 'Strict' }));
    return reply.send({ signed_out: true });
  });
}
