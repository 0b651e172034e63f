// One Temporal server process (frontend, history, matching, worker) on PostgreSQL with frontend
// mTLS: its YAML config, free ports (membership ports <= 32767: they are stored as smallint),
// readiness over mTLS, and stop / SIGKILL / restart on the same ports by pid. Optionally it
// authorizes every call (default authorizer, JWT claim mapper, internal-frontend for itself).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection, type TLSConfig } from '@temporalio/client';
import { portIsFree } from '../../../src/temporal/dev-server';
import { LEDGER_QUEUE } from '../../../src/naming/task-queues';

export interface ServerPorts {
  frontend: number;
  frontendHttp: number;
  frontendMembership: number;
  history: number;
  historyMembership: number;
  matching: number;
  matchingMembership: number;
  worker: number;
  workerMembership: number;
  /** Only when the server authorizes: the frontend its own system worker uses (no authorization). */
  internalFrontend?: { grpc: number; membership: number };
}

export interface ServerTlsFiles {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** The client certificate the server's own system worker presents to the frontend. */
  systemWorkerCertFile: string;
  systemWorkerKeyFile: string;
  serverName: string;
}

export interface ServerSetup {
  binary: string;
  dir: string;
  postgres: { host: string; port: number; user: string };
  tls: ServerTlsFiles;
  historyShards?: number;
  log?: (line: string) => void;
  /** Database names in PostgreSQL (several servers can share one PostgreSQL); temporal, temporal_visibility by default. */
  databases?: { temporal: string; visibility: string };
  /** Authorize every call: Temporal's default authorizer and JWT claim mapper, keys from a JWKS URI. */
  authorization?: ServerAuthorization;
}

export interface ServerAuthorization {
  /** jwtKeyProvider.keySourceURIs: where the server fetches the JWKS (http(s) or file). */
  keySourceUri: string;
  /** A token with the system admin permission (temporal-system:admin): readiness and operator steps. */
  operatorToken: string;
}

/** A free port in [low, high] (the kernel's port 0 hands out ports above 32767). */
export async function freePortInRange(low: number, high: number, taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!taken.has(port) && (await portIsFree(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${low}-${high}`);
}

export async function pickPorts(internalFrontend = false): Promise<ServerPorts> {
  const taken = new Set<number>();
  const p = (): Promise<number> => freePortInRange(20_000, 32_767, taken);
  return {
    ...(internalFrontend && { internalFrontend: { grpc: await p(), membership: await p() } }),
    frontend: await p(),
    frontendHttp: await p(),
    frontendMembership: await p(),
    history: await p(),
    historyMembership: await p(),
    matching: await p(),
    matchingMembership: await p(),
    worker: await p(),
    workerMembership: await p(),
  };
}

function yamlConfig(s: ServerSetup, ports: ServerPorts, dynamicConfigFile: string): string {
  const store = (db: string, maxConns: number): string => `      sql:
        pluginName: "postgres12"
        databaseName: "${db}"
        connectAddr: "${s.postgres.host}:${s.postgres.port}"
        connectProtocol: "tcp"
        user: "${s.postgres.user}"
        password: ""
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: "1h"`;
  const rpc = (grpc: number, membership: number, http?: number): string =>
    `    rpc:\n      grpcPort: ${grpc}\n      membershipPort: ${membership}\n      bindOnLocalHost: true\n${http ? `      httpPort: ${http}\n` : ''}`;
  const t = s.tls;
  const db = s.databases ?? { temporal: 'temporal', visibility: 'temporal_visibility' };
  // With an authorizer, the server's own system worker reaches the frontend through
  // internal-frontend (which skips authorization, over the internode TLS: none here on loopback);
  // without internal-frontend it would be refused like any caller without a token.
  const auth = s.authorization
    ? `  authorization:
    authorizer: "default"
    claimMapper: "default"
    permissionsClaimName: "permissions"
    jwtKeyProvider:
      keySourceURIs: ["${s.authorization.keySourceUri}"]
      refreshInterval: 1m
`
    : '';
  const internalFrontend = ports.internalFrontend
    ? `  internal-frontend:\n${rpc(ports.internalFrontend.grpc, ports.internalFrontend.membership)}`
    : '';
  return `log:
  stdout: true
  level: warn
persistence:
  numHistoryShards: ${s.historyShards ?? 4}
  defaultStore: default
  visibilityStore: visibility
  datastores:
    default:
${store(db.temporal, 20)}
    visibility:
${store(db.visibility, 10)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  tls:
    frontend:
      server:
        certFile: "${t.serverCertFile}"
        keyFile: "${t.serverKeyFile}"
        requireClientAuth: true
        clientCaFiles: ["${t.caFile}"]
      client:
        serverName: "${t.serverName}"
        rootCaFiles: ["${t.caFile}"]
    systemWorker:
      certFile: "${t.systemWorkerCertFile}"
      keyFile: "${t.systemWorkerKeyFile}"
      client:
        serverName: "${t.serverName}"
        rootCaFiles: ["${t.caFile}"]
${auth}services:
  frontend:
${rpc(ports.frontend, ports.frontendMembership, ports.frontendHttp)}  history:
${rpc(ports.history, ports.historyMembership)}  matching:
${rpc(ports.matching, ports.matchingMembership)}  worker:
${rpc(ports.worker, ports.workerMembership)}${internalFrontend}clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${ports.frontend}"
      httpAddress: "127.0.0.1:${ports.frontendHttp}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: "${dynamicConfigFile}"
  pollInterval: "10s"
`;
}

// A freshly added search attribute is usable at once (as on the dev server), and visibility
// queries are not throttled below what the storm tests send, and the ledger queue has one
// partition, as docs/operations/production.md asks of a cluster.
const DYNAMIC_CONFIG = `system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.namespaceRPS.visibility:
  - value: 1000
matching.numTaskqueueReadPartitions:
  - value: 1
    constraints:
      taskQueueName: ${LEDGER_QUEUE}
matching.numTaskqueueWritePartitions:
  - value: 1
    constraints:
      taskQueueName: ${LEDGER_QUEUE}
`;

export interface TemporalServerProcess {
  address: string;
  ports: ServerPorts;
  configFile: string;
  pid(): number;
  /** SIGTERM, SIGKILL after 15 s. */
  stop(): Promise<void>;
  /** SIGKILL, no shutdown of any kind. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and config (after stop or kill). */
  restart(): Promise<void>;
  output(): string;
}

export function clientTls(t: { caFile: string; serverName: string; certFile: string; keyFile: string }): TLSConfig {
  return {
    serverNameOverride: t.serverName,
    serverRootCACertificate: fs.readFileSync(t.caFile),
    clientCertPair: { crt: fs.readFileSync(t.certFile), key: fs.readFileSync(t.keyFile) },
  };
}

/** Waits until the frontend answers a system call over mTLS (the cluster has joined its ring). */
async function waitReady(
  address: string,
  tls: TLSConfig,
  apiKey: string | undefined,
  child: ChildProcess,
  out: () => string,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`temporal server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${out()}`);
    try {
      const conn = await Connection.connect({ address, tls, connectTimeout: 2000, ...(apiKey && { apiKey }) });
      try {
        await conn.workflowService.describeNamespace({ namespace: 'temporal-system' });
        return;
      } finally {
        await conn.close();
      }
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`temporal server at ${address} not ready after ${timeoutMs} ms: ${String(last)}\n${out()}`);
}

export async function startTemporalServer(s: ServerSetup, readyTls: TLSConfig): Promise<TemporalServerProcess> {
  const ports = await pickPorts(!!s.authorization);
  fs.mkdirSync(s.dir, { recursive: true });
  const dynamicConfigFile = path.join(s.dir, 'dynamic-config.yaml');
  fs.writeFileSync(dynamicConfigFile, DYNAMIC_CONFIG);
  const configFile = path.join(s.dir, 'temporal-server.yaml');
  fs.writeFileSync(configFile, yamlConfig(s, ports, dynamicConfigFile));
  const address = `127.0.0.1:${ports.frontend}`;
  let child: ChildProcess;
  let head = '';
  let tail = '';
  const out = (): string => (head === tail ? head : `${head}\n...\n${tail}`);

  async function launch(): Promise<void> {
    head = '';
    tail = '';
    // `start` runs frontend, history, matching and worker unless told; internal-frontend is asked for.
    const services = ports.internalFrontend
      ? ['frontend', 'internal-frontend', 'history', 'matching', 'worker'].flatMap((name) => ['--service', name])
      : [];
    const noAuth = s.authorization ? [] : ['--allow-no-auth'];
    child = spawn(s.binary, ['--config-file', configFile, ...noAuth, 'start', ...services], {
      cwd: s.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const onData = (b: Buffer): void => {
      const text = b.toString();
      if (head.length < 3000) head = (head + text).slice(0, 3000);
      tail = (tail + text).slice(-3000);
      if (s.log) for (const line of text.split('\n')) if (line.trim()) s.log(line);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await waitReady(address, readyTls, s.authorization?.operatorToken, child, out);
  }

  function end(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const c = child;
    if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
      c.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      c.kill(signal);
    });
  }

  await launch();
  return {
    address,
    ports,
    configFile,
    pid: () => child.pid!,
    stop: () => end('SIGTERM', 15_000),
    kill: () => end('SIGKILL', 0),
    restart: launch,
    output: out,
  };
}
