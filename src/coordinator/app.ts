// buildCoordinator(deps): the coordinator as a fastify instance that does not listen. Identity
// comes from the identity plugin, the ACL is the first onRequest hook after it, and every route
// has a schema. server.ts listens; tests call app.inject or listen on a loopback port.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import { medicVersion } from '../version';
import { DEFAULT_RECONCILE_INTERVAL_MS } from '../config/coordinator';
import { authorize, refusedPathProblem, type AccessDecision } from './acl';
import { Admission, type AdmissionDeps } from './admission';
import { AuditTrail, auditWithTrail, jsonAuditSink, type AuditSink } from '../telemetry/audit';
import { sendError } from './errors';
import { identityPlugin, tlsCallerIdentity, type IdentifyCaller } from './identity';
import type { LiveConfig } from './live-config';
import { ConfigsInUse, type ConfigsInUseOptions } from './configs-in-use';
import { createMetrics, type CoordinatorMetrics } from './metrics';
import { alertmanagerRoutes } from './routes/alertmanager';
import { CHAT_ROUTE, chatSlackRoutes } from './routes/chat-slack';
import { executionRoutes, TRIGGER_ROUTE } from './routes/executions';
import { healthRoutes } from './routes/health';
import { openapiRoutes } from './routes/openapi';
import { workflowRoutes } from './routes/workflows';
import { fleetSafetyRoutes } from './routes/fleet-safety';
import { FLEET_LEDGER_ID, FleetLedgerClient } from '../ledger/fleet/client';
import { createFleetSafety } from './fleet-wiring';
import { admitsAtFleet, LedgerClient, ledgerWorkflowId, placesOf, usesLedger } from '../ledger/client';
import type { WorkflowConfig } from '../config/workflow';
import { LedgerHealth } from '../ledger/health';
import { LedgerWorker } from './ledger-worker';
import { createLadderActivities } from './ladder';
import { startCloseWatcher, type CloseWatcherSettings } from '../watcher/start';
import type { TemporalGateway } from '../temporal/gateway';
import type { Target } from '../naming/task-queues';
import type { FleetSafety } from '../fleet/gate';
import type { WorkflowStats } from '../fleet/stats';
import { describeSchemaError, type SchemaError } from './validation-errors';
import { Approvals } from './approvals';
import { approvalRoutes } from './routes/approvals';
import { slackInteractionRoutes } from './routes/slack-interactions';
import { createApprovalActivities } from '../approval/activities';
import { AuditJournal, type AuditJournalOptions } from '../audit/journal';

export interface CoordinatorDeps {
  config: LiveConfig;
  temporal: TemporalGateway;
  metrics?: CoordinatorMetrics;
  audit?: AuditSink;
  /** Operational messages (warnings, failures); never request bodies or secrets. */
  log?: (message: string) => void;
  /** How a request's caller is identified; the TLS peer certificate unless a test says otherwise. */
  identify?: IdentifyCaller;
  /** Server certificate, key and client CA (PEM): the app then serves HTTPS with mTLS. */
  https?: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  admission?: Pick<
    AdmissionDeps,
    'startMarginMs' | 'visibilityTimeoutMs' | 'visibilityQps' | 'refusalCacheMs' | 'now' | 'afterFleetClaim'
  >;
  /** Configs in use (configs-in-use.ts): how often they are announced to the ledgers and read back. */
  configs?: ConfigsInUseOptions;
  /** The admission ledger's workflow bundle; default the built one (ledgerBundlePath()). */
  ledgerBundle?: string;
  /** The orphan grace of ledgers this coordinator starts (src/ledger/state.ts; tests shorten it). */
  ledgerOrphanGraceMs?: number;
  /** The fleet ledger's workflow id (src/ledger/fleet; tests give each their own). */
  fleetLedgerId?: string;
  /** The fleet ledger's capacity in bytes of holds (tests shrink it). */
  fleetLedgerMaxHoldBytes?: number;
  /** How often admission is reconciled against Temporal visibility (0: never); default `admission.reconcile_interval`. */
  reconcileIntervalMs?: number;
  /** How long a chat command may take before Slack gets an interim answer (Slack allows 3 s). */
  chatAnswerWithinMs?: number;
  /** How often each ledger's health and size are looked at (gauges, /readyz); default 30 s. */
  ledgerCheckIntervalMs?: number;
  /** The approvals task queue (src/approval/); tests give each file its own. */
  approvalQueue?: string;
  /** Run the close watcher (src/watcher/): `medic coordinator` does; tests give it an id and scope of their own. */
  closeWatcher?: CloseWatcherSettings;
  /** The shared audit journal (src/audit/): tests give each file its own id, name replicas, or point it at a Temporal that does not answer. */
  auditJournal?: Partial<Pick<AuditJournalOptions, 'id' | 'queue' | 'replica' | 'temporal' | 'flushMs' | 'callTimeoutMs'>>;
  /** Route sets built on the coordinator's parts (the web console, src/coordinator/console/), registered after the API's routes. */
  plugins?: CoordinatorPlugin[];
}

/** What a plugin of the coordinator may use: the running coordinator's own objects, no copies. */
export interface CoordinatorParts {
  config: LiveConfig;
  temporal: TemporalGateway;
  metrics: CoordinatorMetrics;
  admission: Admission;
  fleet: FleetSafety;
  fleetLedger: FleetLedgerClient;
  /** Effectiveness per workflow (cached; what GET /v1/stats answers). */
  stats(): Promise<WorkflowStats[]>;
  /** This process's latest audit lines (what the console shows when the journal does not answer). */
  auditTrail: AuditTrail;
  /** Every replica's audit lines, kept in Temporal (src/audit/). */
  auditJournal: AuditJournal;
  /** Writes an audit line (and keeps it in auditTrail). */
  audit: AuditSink;
  log(message: string): void;
}

export type CoordinatorPlugin = (app: FastifyInstance, parts: CoordinatorParts) => Promise<void>;

/** A feature served on the coordinator's listener (the web console): how it identifies callers, and its routes. */
export interface CoordinatorExtension {
  /** Wraps the coordinator's identify function (the TLS certificate's). */
  identify(inner: IdentifyCaller): IdentifyCaller;
  plugin: CoordinatorPlugin;
}

declare module 'fastify' {
  interface FastifyInstance {
    admission: Admission;
    configsInUse: ConfigsInUse;
    admissionLedger: LedgerClient;
    coordinatorMetrics: CoordinatorMetrics;
  }
  interface FastifyRequest {
    access: AccessDecision;
    /** Set when the request already wrote its audit line (triggers write their decision). */
    audited: boolean;
  }
}

function requestPath(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Where a request with a refused path is routed: no route has it, the ACL hook answers 400 first. */
const REFUSED_PATH_URL = '/.refused-path';
const refusedPaths = new WeakMap<object, { problem: string; url: string }>();

export async function buildCoordinator(deps: CoordinatorDeps): Promise<FastifyInstance> {
  const metrics = deps.metrics ?? createMetrics();
  const auditTrail = new AuditTrail();
  const log = deps.log ?? ((m: string) => process.stderr.write(`medic coordinator: ${m}\n`));
  // The ledger worker below runs the journal; it is started with the first batch, sent after this function returns.
  const auditJournal = new AuditJournal({
    temporal: deps.temporal.config,
    registry: metrics.registry,
    log,
    ensureWorker: () => ledgerWorker.ensure(),
    ...deps.auditJournal,
  });
  const audit = auditWithTrail(deps.audit ?? jsonAuditSink(), auditTrail, (e, time) => auditJournal.append(e, time));
  const { coordinator } = deps.config.current;
  // The orphan grace of the ledgers this coordinator starts (admission.orphan_grace; tests pass it directly).
  const orphanGraceMs = deps.ledgerOrphanGraceMs ?? coordinator.admission.orphanGraceMs;

  const app = Fastify({
    logger: false,
    bodyLimit: coordinator.bodyLimit,
    // Headers and URLs are small in this API; keep parsers from holding large inputs.
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
    // A path the router and the route rules could read differently never reaches the router:
    // it is routed to nowhere and the ACL hook refuses it (400, audited) before anything else.
    rewriteUrl(req) {
      const url = req.url ?? '/';
      const problem = refusedPathProblem(requestPath(url));
      if (!problem) return url;
      refusedPaths.set(req, { problem, url });
      return REFUSED_PATH_URL;
    },
    ...(deps.https
      ? {
          https: {
            key: deps.https.key,
            cert: deps.https.cert,
            ca: deps.https.ca,
            // Accept connections without (or with a bad) client certificate at the TLS layer, so
            // allow_public routes work; such callers simply have no identity.
            requestCert: true,
            rejectUnauthorized: false,
            minVersion: 'TLSv1.2' as const,
          },
        }
      : {}),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  });

  // The admission ledgers run in every coordinator's ledger worker, started with the first ledger call.
  const ledgerWorker = new LedgerWorker(
    deps.temporal.config,
    () => deps.temporal.client(),
    log,
    deps.ledgerBundle,
    createApprovalActivities({ audit, count: (workflow, outcome) => metrics.approvals.inc({ workflow, outcome }) }),
    deps.approvalQueue,
  );
  ledgerWorker.serveAuditJournal(auditJournal.queue);
  // The journal's last lines go before the worker stops (a closing coordinator's worker may be the only one).
  app.addHook('onClose', async () => {
    await auditJournal.close();
    await ledgerWorker.close();
  });
  const ledgerHealth = new LedgerHealth(metrics.registry);
  const fleetLedgerId = deps.fleetLedgerId ?? FLEET_LEDGER_ID;
  if (deps.closeWatcher) {
    const watcher = { temporal: deps.temporal, ensureWorker: () => ledgerWorker.ensure(), registry: metrics.registry, log };
    const stopWatcher = startCloseWatcher(watcher, deps.closeWatcher);
    app.addHook('onClose', async () => stopWatcher());
  }
  const fleetLedger = new FleetLedgerClient(
    () => ledgerWorker.ensure(),
    () => [...deps.config.current.workflows.values()].filter((w) => w.disruptive).map((w) => w.name),
    deps.temporal.callTimeoutMs,
    fleetLedgerId,
    { orphanGraceMs, maxHoldBytes: deps.fleetLedgerMaxHoldBytes },
    ledgerHealth,
  );
  const fleet = createFleetSafety({
    ledger: fleetLedger,
    config: deps.config,
    temporal: deps.temporal,
    registry: metrics.registry,
    metrics,
    audit,
    log,
  });
  // A config stays in use at a ledger for 2.5 buckets: it is announced once per bucket.
  const ledger = new LedgerClient(
    () => ledgerWorker.ensure(),
    orphanGraceMs,
    deps.temporal.callTimeoutMs,
    deps.configs?.bucketMs !== undefined ? deps.configs.bucketMs * 2.5 : undefined,
    ledgerHealth,
  );
  // With admission.fleet_constraints (on unless false), the fleet ledger admits a disruptive
  // workflow's constraints with its claim; once it does, every replica follows it there.
  const followed = new Set<string>();
  const atFleet = (wf: WorkflowConfig): boolean =>
    (deps.config.current.coordinator.admission.fleetConstraints !== false || followed.has(wf.name)) && admitsAtFleet(wf);
  // Every ledger this coordinator's config uses: the fleet ledger when a workflow is disruptive
  // (and for the constraints it admits at the fleet ledger).
  const ledgersInUse = (): string[] => {
    const wfs = [...deps.config.current.workflows.values()];
    return [
      ...wfs.filter((w) => usesLedger(w) && !atFleet(w)).map((w) => ledgerWorkflowId(w.name)),
      ...(wfs.some((w) => w.disruptive) ? [fleetLedgerId] : []),
    ];
  };
  const stopLedgerChecks = ledgerHealth.start(
    () => deps.temporal.client(),
    ledgersInUse,
    deps.ledgerCheckIntervalMs ?? 30_000,
    log,
  );
  app.addHook('onClose', async () => stopLedgerChecks());
  const configs = new ConfigsInUse(
    deps.temporal,
    () => deps.config.current.workflows,
    ledger,
    deps.configs ?? {},
    log,
    undefined,
    {
      governs: atFleet,
      announce: (client, wf) => fleetLedger.announce(client, wf.name, ledger.constraints(wf), placesOf(wf), ledger.inUseMs),
    },
  );
  const stopConfigs = configs.start();
  app.addHook('onClose', async () => stopConfigs());
  const approvals = new Approvals({
    config: deps.config,
    temporal: deps.temporal,
    metrics,
    audit,
    log,
    ensureWorker: () => ledgerWorker.ensure(),
    taskQueue: deps.approvalQueue,
  });
  app.addHook('onClose', async () => approvals.close());
  // Pending requests expire by a timer in their workflow: some ledger worker must poll for it.
  if ([...deps.config.current.workflows.values()].some((w) => w.approval)) ledgerWorker.ensure();
  const admission = new Admission({
    approvals,
    atFleet,
    followFleet: (workflow) => followed.add(workflow),
    fleet: fleet.gate,
    configs,
    ledger,
    workflows: () => deps.config.current.workflows,
    temporal: deps.temporal,
    metrics,
    audit,
    log,
    visibilityQps: coordinator.admission.visibilityQps,
    ...deps.admission,
  });
  // Escalated runs ask for their ladder's next step here (the ledger worker serves LADDER_QUEUE).
  ledgerWorker.serveLadder(
    createLadderActivities(
      (req) => admission.admitTrigger(req),
      () => deps.temporal.client(),
      () => deps.config.current.workflows,
    ),
  );
  if ([...deps.config.current.workflows.values()].some((w) => w.onUnhealed)) ledgerWorker.ensure();
  approvals.admit = (req) => admission.admitTrigger(req);
  const reconcileEvery = deps.reconcileIntervalMs ?? coordinator.admission.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS;
  if (reconcileEvery > 0) {
    const stop = admission.startReconciliation(reconcileEvery);
    app.addHook('onClose', async () => stop());
  }
  // The API speaks JSON only: without fastify's text/plain parser, other bodies are a 415.
  app.removeContentTypeParser('text/plain');
  app.decorate('admission', admission);
  app.decorate('configsInUse', configs);
  app.decorate('admissionLedger', ledger);
  app.decorate('coordinatorMetrics', metrics);
  app.decorateRequest('access', null as unknown as AccessDecision);
  app.decorateRequest('audited', false);

  await app.register(identityPlugin, { identify: deps.identify ?? tlsCallerIdentity });

  // The ACL: deny by default, before the body is read and whether or not a route exists.
  app.addHook('onRequest', async (request, reply) => {
    const refused = refusedPaths.get(request.raw);
    if (refused) {
      request.audited = true;
      request.access = { allowed: false, consulted: [], skipLog: false, reason: refused.problem };
      audit({
        decision: 'invalid',
        identity: request.caller.identity,
        method: request.method,
        path: requestPath(refused.url).slice(0, 512),
        reason: `the request path ${refused.problem}`,
      });
      return sendError(reply, 'invalid_request', `the request path ${refused.problem}`, { field: 'path' });
    }
    const decision = authorize(deps.config.current.acl, {
      method: request.method,
      path: requestPath(request.url),
      identity: request.caller.identity,
    });
    request.access = decision;
    if (decision.allowed) return;
    request.audited = true;
    const isTrigger = request.routeOptions.url === TRIGGER_ROUTE && request.method === 'POST';
    const name = (request.params as { name?: string } | undefined)?.name;
    const known = name !== undefined && deps.config.current.workflows.has(name);
    if (isTrigger) metrics.triggers.inc({ workflow: known ? name! : '_unknown', result: 'denied', source: 'api' });
    audit({
      decision: 'denied',
      identity: request.caller.identity,
      method: request.method,
      path: requestPath(request.url).slice(0, 512),
      reason: decision.reason,
      ...(isTrigger && name !== undefined ? { workflow: name } : {}),
    });
    // An anonymous caller learns nothing about the rules; a known one learns which rules it met.
    if (request.caller.identity === null) {
      return sendError(reply, 'forbidden', 'forbidden', request.caller.problem ? { certificate: request.caller.problem } : {});
    }
    return sendError(reply, 'forbidden', decision.reason ?? 'forbidden', {
      identity: request.caller.identity,
      rules_consulted: decision.consulted,
    });
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.requests.inc({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status: reply.statusCode });
    if (request.audited || !request.access?.allowed || request.access.skipLog) return;
    audit({
      decision: 'allowed',
      identity: request.caller.identity,
      method: request.method,
      path: requestPath(request.url).slice(0, 512),
      rule: request.access.rule,
      status: reply.statusCode,
    });
  });

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply) => {
    if (err.validation) {
      const first = err.validation[0] as unknown as SchemaError;
      const { field, message } = describeSchemaError(first, err.validationContext ?? 'body');
      if (request.routeOptions.url === TRIGGER_ROUTE && request.method === 'POST') {
        // A trigger refused by its schema is still a trigger decision: audit it and count it.
        request.audited = true;
        const params = request.params as { name?: string };
        const body = (request.body ?? {}) as { target?: unknown };
        admission.recordDecision(
          {
            workflow: typeof params.name === 'string' ? params.name.slice(0, 64) : '',
            target: typeof body.target === 'object' && body.target !== null ? (body.target as Target) : {},
            identity: request.caller.identity,
            source: 'api',
          },
          { result: 'invalid', code: 'invalid_request', message, details: { field } },
        );
      }
      return sendError(reply, 'invalid_request', message, { field, location: err.validationContext ?? 'body' });
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE': {
        const limit = request.routeOptions.bodyLimit ?? coordinator.bodyLimit;
        return sendError(reply, 'payload_too_large', `the body is larger than ${limit} bytes`, { limit_bytes: limit });
      }
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendError(
          reply,
          'unsupported_media_type',
          request.routeOptions.url === CHAT_ROUTE
            ? 'the body must be application/x-www-form-urlencoded (a Slack slash command)'
            : 'the body must be application/json',
          {},
        );
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendError(reply, 'invalid_request', 'the body is empty; send a JSON object', { field: '' });
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
        return sendError(reply, 'invalid_request', 'the Content-Length does not match the body', {});
    }
    if (err instanceof SyntaxError || err.statusCode === 400) {
      return sendError(reply, 'invalid_request', 'the body is not valid JSON', { field: '' });
    }
    log(`unexpected error on ${request.method} ${request.routeOptions.url ?? 'unmatched route'}: ${err.name}: ${err.message}`);
    return sendError(reply, 'internal', 'internal error; the coordinator log has the cause', {});
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 'not_found', `no route ${request.method} ${requestPath(request.url).slice(0, 256)}`, {}),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'medic coordinator',
        version: medicVersion(),
        description:
          'Authorises (mTLS + SPIFFE route rules), checks safety constraints, and starts remediation workflows on Temporal. ' +
          'Every error is {error, message, details}.',
      },
      components: {
        securitySchemes: { mtls: { type: 'mutualTLS', description: 'client certificate with a SPIFFE ID URI SAN' } as never },
      },
      security: [{ mtls: [] }],
    },
  });

  await app.register(healthRoutes, {
    temporal: deps.temporal,
    metrics,
    config: deps.config,
    ledgers: ledgerHealth,
    ledgerWorker: () => ledgerWorker.status(),
  });
  await app.register(workflowRoutes, { config: deps.config });
  await app.register(executionRoutes, { admission, temporal: deps.temporal, metrics });
  await app.register(alertmanagerRoutes, { admission, config: deps.config, metrics });
  await app.register(chatSlackRoutes, {
    admission,
    config: deps.config,
    temporal: deps.temporal,
    metrics,
    log,
    ...(deps.chatAnswerWithinMs !== undefined ? { answerWithinMs: deps.chatAnswerWithinMs } : {}),
  });
  await app.register(approvalRoutes, { approvals, metrics });
  await app.register(slackInteractionRoutes, { approvals, config: deps.config, log });
  await app.register(fleetSafetyRoutes, { ...fleet, config: deps.config, temporal: deps.temporal, metrics, audit });
  app.addHook('onClose', async () => fleet.gate.stop());
  await app.register(openapiRoutes);
  const parts: CoordinatorParts = {
    config: deps.config,
    temporal: deps.temporal,
    metrics,
    admission,
    fleet: fleet.gate,
    fleetLedger,
    stats: fleet.stats,
    auditTrail,
    auditJournal,
    audit,
    log,
  };
  for (const plugin of deps.plugins ?? []) await plugin(app, parts);
  return app;
}
