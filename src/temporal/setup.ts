// `medic temporal setup`: what a Temporal cluster must have before medic runs on it, checked
// and (for search attributes) made, idempotently: the connection (TLS problems explained), the
// namespace and its retention, and medic's search attributes.
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import type { TemporalConfig } from '../config/temporal';
import { formatDuration } from '../duration';
import { SEARCH_ATTRIBUTES } from '../naming/search-attributes';
import { checkTlsFiles, diagnoseTemporalTls } from './tls-diagnosis';
import { temporalConnection } from './tls';

/** gRPC status codes the setup tells apart. */
const GRPC = { notFound: 5, alreadyExists: 6, permissionDenied: 7, unauthenticated: 16 } as const;

export interface SetupOptions {
  /** The longest constraint period of the configured workflows (and the file that sets it). */
  longestPeriod?: { ms: number; file: string };
  say: (line: string) => void;
  connectTimeoutMs?: number;
}

export type SetupResult =
  | { ok: true; registered: string[] }
  | { ok: false; reason: 'unreachable' | 'tls' | 'namespace' | 'permission' | 'search-attributes'; message: string };

function code(err: unknown): number | undefined {
  return isGrpcServiceError(err) ? err.code : (err as { code?: number } | undefined)?.code;
}

/** Whose credentials medic presented: the API key file, the client certificate, or none. */
function credentials(config: TemporalConfig): string {
  return config.apiKeyFile
    ? `the API key in ${config.apiKeyFile}`
    : config.tls?.certFile
      ? `the identity of cert_file ${config.tls.certFile}`
      : 'this (anonymous) identity';
}

/**
 * A refusal by the server's authorizer: the step, the permission it needs (read, or the operator's
 * admin on the namespace, in the words of Temporal Cloud and of the server's default JWT claim
 * mapper), whose credentials lack it, and what to do.
 */
function permissionMessage(what: string, needs: 'read' | 'admin', config: TemporalConfig, err: unknown): string {
  const ns = config.namespace;
  const who = credentials(config);
  const permission =
    needs === 'admin'
      ? `the operator permission: admin on namespace ${ns} (Temporal Cloud: Namespace Admin; a server with the ` +
        `default JWT claim mapper: "${ns}:admin" or "temporal-system:admin" in the token's permissions)`
      : `the read permission on namespace ${ns} (coordinators and workers need write: "${ns}:write" with the default JWT claim mapper)`;
  const hint = config.apiKeyFile
    ? ''
    : ' No api_key_file is set in the temporal block: a server that authorizes by token needs one.';
  const todo =
    needs === 'admin'
      ? " Run medic temporal setup once with an operator's credentials, or ask the cluster's operator to register the search attributes listed by --help."
      : '';
  return `${what} needs ${permission}, which ${who} lacks (${(err as Error).message.split('\n')[0]}).${hint}${todo}`;
}

export async function setupTemporal(config: TemporalConfig, opts: SetupOptions): Promise<SetupResult> {
  const { say } = opts;
  if (config.tls) {
    const local = checkTlsFiles(config.tls);
    if (local.length) return { ok: false, reason: 'tls', message: local.join('\n') };
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...temporalConnection(config), connectTimeout: opts.connectTimeoutMs ?? 5_000 });
  } catch (err) {
    // The server answered but its claim mapper rejected the credentials outright (even the
    // connection check, open to any identity, is refused then): an expired or foreign token.
    const cause = (err as { cause?: unknown }).cause;
    if (code(cause) === GRPC.permissionDenied || code(cause) === GRPC.unauthenticated)
      return {
        ok: false,
        reason: 'permission',
        message:
          `Temporal at ${config.address} refused ${credentials(config)} on connecting ` +
          `(${(cause as Error).message.split('\n')[0]}): the server does not accept it as a credential ` +
          '(an expired token, one signed by a key it does not trust, or one its claim mapper cannot read; ' +
          'its log says which under "Authorization error")',
      };
    const why = await diagnoseTemporalTls(config).catch(() => undefined);
    if (why) return { ok: false, reason: 'tls', message: `cannot connect to Temporal at ${config.address}: ${why}` };
    return {
      ok: false,
      reason: 'unreachable',
      message: `cannot reach Temporal at ${config.address}: ${(err as Error).message.split('\n')[0]}`,
    };
  }
  const mode = config.tls?.certFile ? 'mTLS' : config.apiKeyFile ? 'TLS + API key' : config.tls ? 'TLS' : 'plaintext';
  say(`connected to Temporal at ${config.address} (${mode})`);
  try {
    const namespace = config.namespace;
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace });
      const retentionMs = Number(ns.config?.workflowExecutionRetentionTtl?.seconds ?? 0) * 1000;
      say(`namespace ${namespace}: exists, retention ${retentionMs ? formatDuration(retentionMs) : 'unset'}`);
      const longest = opts.longestPeriod;
      if (longest && retentionMs && retentionMs < longest.ms) {
        say(
          `warning: retention ${formatDuration(retentionMs)} is shorter than the longest constraint period ` +
            `${formatDuration(longest.ms)} (${longest.file}): visibility counts and medic list miss closed executions ` +
            'older than the retention (the leases still enforce the constraint); raise the retention to at least the period',
        );
      }
    } catch (err) {
      if (code(err) === GRPC.notFound)
        return {
          ok: false,
          reason: 'namespace',
          message: `namespace ${namespace} does not exist on ${config.address}: an operator creates it, e.g. temporal operator namespace create --namespace ${namespace} --retention 7d`,
        };
      if (code(err) === GRPC.permissionDenied || code(err) === GRPC.unauthenticated)
        return {
          ok: false,
          reason: 'permission',
          message: permissionMessage(`describing namespace ${namespace}`, 'read', config, err),
        };
      throw err;
    }

    const registered: string[] = [];
    let existing: Record<string, unknown>;
    try {
      existing = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
    } catch (err) {
      if (code(err) === GRPC.permissionDenied || code(err) === GRPC.unauthenticated)
        return {
          ok: false,
          reason: 'permission',
          message: permissionMessage(`listing search attributes of namespace ${namespace}`, 'read', config, err),
        };
      throw err;
    }
    const missing: Record<string, number> = {};
    for (const key of Object.values(SEARCH_ATTRIBUTES)) {
      const want = encodeSearchAttributeIndexedValueType(key.type)!;
      const have = existing[key.name];
      if (have === undefined) missing[key.name] = want;
      else if (have !== want)
        return {
          ok: false,
          reason: 'search-attributes',
          message: `search attribute ${key.name} exists in namespace ${namespace} with another type (${String(have)}); medic needs ${key.type}`,
        };
    }
    if (Object.keys(missing).length) {
      try {
        await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
      } catch (err) {
        if (code(err) === GRPC.permissionDenied || code(err) === GRPC.unauthenticated)
          return {
            ok: false,
            reason: 'permission',
            message: permissionMessage(`registering search attributes in namespace ${namespace}`, 'admin', config, err),
          };
        // Another setup registered them at the same moment: fine, they are there.
        if (code(err) !== GRPC.alreadyExists) throw err;
      }
      registered.push(...Object.keys(missing));
    }
    const present = Object.values(SEARCH_ATTRIBUTES)
      .map((k) => k.name)
      .filter((n) => !registered.includes(n));
    say(
      `search attributes: ${registered.length ? `registered ${registered.join(', ')}` : 'nothing to register'}` +
        (present.length ? `; already present: ${present.join(', ')}` : ''),
    );
    return { ok: true, registered };
  } finally {
    await connection.close();
  }
}
