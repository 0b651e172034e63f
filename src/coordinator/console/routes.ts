// The console's routes under /ui/: the page, its two assets, the JSON each view polls
// (/ui/api/*), and sign-in (/ui/auth/*). The coordinator's route rules govern every one of them
// like any route; actions (pause, resume, approve) go to the /v1 API itself, with the CSRF token.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CoordinatorParts } from '../app';
import { sendError } from '../errors';
import { pauseJson } from '../routes/fleet-safety';
import { listShadowAdmissions } from '../../fleet/records';
import { listPauses } from '../../fleet/pauses';
import { isTemporalUnavailable } from '../../temporal/gateway';
import type { ConsoleAsset } from './assets';
import { requestSession } from './guard';
import { consolePage, messagePage, SECURITY_HEADERS } from './page';
import { newSessionId, SESSION_COOKIE, setCookie, type CookieSealer } from './session';
import { signInRoutes, type SignInSettings } from './sign-in';
import { auditView, holdsView, outcomesView, progressOf, refusalsView, runningView } from './views';

export interface ConsoleRouteSettings extends SignInSettings {
  sealer: CookieSealer;
  assets: Map<string, ConsoleAsset>;
  /** The Temporal UI's base URL, for links to each execution. */
  temporalUiUrl?: string;
}

const HIDDEN = { hide: true } as const;
const NAME = { type: 'string', maxLength: 256, pattern: '^[^\\u0000-\\u001f]*$' } as const;

function path(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Answers a view's JSON, or 503 when Temporal cannot be reached. */
async function answer(
  reply: FastifyReply,
  parts: CoordinatorParts,
  read: () => Promise<unknown> | unknown,
): Promise<FastifyReply> {
  try {
    return reply.header('cache-control', 'no-store').send(await read());
  } catch (err) {
    if (!isTemporalUnavailable(err)) throw err;
    parts.metrics.temporalErrors.inc({ operation: 'console' });
    reply.header('Retry-After', '5');
    return sendError(reply, 'temporal_unavailable', 'Temporal is unreachable or did not answer in time; retry later', {});
  }
}

/** Whether another plugin or a later release serves this route (the approvals API). */
function hasRoute(app: FastifyInstance, method: 'GET' | 'POST', url: string): boolean {
  return app.hasRoute({ method, url });
}

export async function consoleRoutes(app: FastifyInstance, parts: CoordinatorParts, s: ConsoleRouteSettings): Promise<void> {
  // Decided once every route is registered: the approvals API may come from a plugin after this one.
  let approvals: boolean | undefined;
  const approvalsAvailable = (): boolean => (approvals ??= hasRoute(app, 'GET', '/v1/approvals'));

  await app.register(async (ui) => {
    ui.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
      // The route rules refused the page itself: say so as a page, with the ways to sign in.
      if (reply.statusCode === 403 && path(request.url) === '/ui/') {
        reply.header('content-type', 'text/html; charset=utf-8');
        const reason = request.caller.identity
          ? `${request.caller.identity} is not admitted to the console by any route rule.`
          : 'Sign in to see the console: present a client certificate, or use the sign-in below.';
        return messagePage('medic: forbidden', reason, s.oidc ? [['Sign in', '/ui/auth/login']] : []);
      }
      return payload;
    });

    ui.get('/ui/', { schema: HIDDEN }, async (request, reply) => {
      // Every page view carries a session: a certificate user's holds only the CSRF binding.
      let session = requestSession(request, s.sealer);
      if (!session) {
        session = { sid: newSessionId(), exp: Date.now() + s.sessionTtlMs };
        reply.header(
          'set-cookie',
          setCookie(SESSION_COOKIE, s.sealer.sealSession(session), {
            maxAgeSeconds: s.sessionTtlMs / 1000,
            secure: request.protocol === 'https',
            sameSite: 'Strict',
          }),
        );
      }
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(consolePage(s.sealer.csrfToken(session.sid)));
    });

    ui.get<{ Params: { file: string } }>(
      '/ui/assets/:file',
      { schema: { ...HIDDEN, params: { type: 'object', properties: { file: NAME } } } },
      async (request, reply) => {
        const asset = s.assets.get(request.params.file);
        if (!asset) return sendError(reply, 'not_found', 'no such console asset', {});
        reply.header('etag', asset.etag).header('cache-control', 'no-cache');
        if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
        return reply.header('content-type', asset.type).send(asset.body);
      },
    );

    ui.get('/ui/api/session', { schema: HIDDEN }, async (request, reply) => {
      const session = requestSession(request, s.sealer);
      const viaSession = session?.identity !== undefined && session.identity === request.caller.identity;
      return reply.header('cache-control', 'no-store').send({
        identity: request.caller.identity,
        ...(viaSession && { name: session.name, via: session.via, expires: new Date(session.exp).toISOString() }),
        ...(!viaSession && request.caller.identity && { via: 'certificate' }),
        sign_out: viaSession,
        temporal_ui: s.temporalUiUrl ?? null,
        approvals: approvalsAvailable(),
        namespace: parts.temporal.config.namespace,
        workflows: [...parts.config.current.workflows.keys()].sort(),
      });
    });

    ui.get('/ui/api/running', { schema: HIDDEN }, async (_request, reply) =>
      answer(reply, parts, () => runningView(parts, s.temporalUiUrl)),
    );
    ui.get('/ui/api/outcomes', { schema: HIDDEN }, async (_request, reply) =>
      answer(reply, parts, () => outcomesView(parts, s.temporalUiUrl)),
    );
    ui.get<{ Params: { workflow_id: string } }>(
      '/ui/api/progress/:workflow_id',
      { schema: { ...HIDDEN, params: { type: 'object', properties: { workflow_id: NAME } } } },
      async (request, reply) =>
        answer(reply, parts, async () => ({
          progress:
            (await parts.temporal.withDeadline((c) => progressOf(c, request.params.workflow_id), 3_000).catch(() => undefined)) ??
            null,
        })),
    );
    ui.get('/ui/api/refusals', { schema: HIDDEN }, async (_request, reply) =>
      answer(reply, parts, async () => {
        const { entries, ...from } = await refusalsView(parts);
        return { refusals: entries, ...from };
      }),
    );
    ui.get('/ui/api/pauses', { schema: HIDDEN }, async (_request, reply) =>
      answer(reply, parts, async () => ({
        pauses: (await parts.temporal.withDeadline((c) => listPauses(c))).map(pauseJson),
      })),
    );
    ui.get('/ui/api/holds', { schema: HIDDEN }, async (_request, reply) => answer(reply, parts, () => holdsView(parts)));
    ui.get('/ui/api/shadow', { schema: HIDDEN }, async (_request, reply) =>
      answer(reply, parts, async () => ({
        shadow_admissions: await parts.temporal.withDeadline((c) => listShadowAdmissions(c, { limit: 100 })),
      })),
    );
    ui.get('/ui/api/stats', { schema: HIDDEN }, async (_request, reply) =>
      answer(reply, parts, async () => ({ workflows: await parts.stats() })),
    );
    ui.get<{ Querystring: { workflow?: string; node?: string; identity?: string } }>(
      '/ui/api/audit',
      {
        schema: {
          ...HIDDEN,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { workflow: NAME, node: NAME, identity: NAME },
          },
        },
      },
      async (request, reply) => {
        const q = request.query;
        return answer(reply, parts, () =>
          auditView(parts, {
            ...(q.workflow && { workflow: q.workflow }),
            ...(q.node && { node: q.node }),
            ...(q.identity && { identity: q.identity }),
          }),
        );
      },
    );

    await signInRoutes(ui, s);
  });
}
