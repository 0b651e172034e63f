// A production-shaped Temporal for tests and benchmarks: a private PostgreSQL, Temporal's own
// schemas applied with its SQL tool, certificates, and the Temporal server with frontend mTLS.
// Everything lives in one temp directory and is torn down by pid. A second server can share a
// running cluster's PostgreSQL (its own databases), e.g. one that authorizes every call.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import {
  createCertificateAuthority,
  issueClientCertificate,
  issueServerCertificate,
  writeKeyPair,
} from '../../../src/tls/certificates';
import { ensureClusterBinaries, type ClusterBinaries } from './binaries';
import { POSTGRES_USER, startPostgres, type Postgres } from './postgres';
import { clientTls, startTemporalServer, type ServerAuthorization, type TemporalServerProcess } from './temporal-server';

/** SPIFFE IDs of the client certificates every cluster gets (name -> ID). */
export const CLUSTER_IDENTITIES = {
  medic: 'spiffe://medic.cluster/medic',
  systemWorker: 'spiffe://medic.cluster/temporal-system-worker',
} as const;

export const SERVER_NAME = 'temporal.medic.cluster';
export const CLUSTER_NAMESPACE = 'default';

export interface ClientTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  serverName: string;
}

export interface Cluster {
  dir: string;
  address: string;
  namespace: string;
  /** mTLS files of medic's identity (coordinator, workers, tests). */
  tls: ClientTlsFiles;
  /** When the server authorizes: the operator's token (system admin) that connect() sends. */
  operatorToken?: string;
  /** The CA that signs the server's and clients' certificates (cert and key PEM). */
  ca: { cert: string; key: string };
  /** Where its databases live (owned by this cluster unless it was given one). */
  postgres: Pick<Postgres, 'host' | 'port'>;
  server: TemporalServerProcess;
  /** A client connection over mTLS as medic (with the operator's token when the server authorizes). */
  connect(): Promise<Connection>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  dir?: string;
  log?: (line: string) => void;
  binaries?: ClusterBinaries;
  /** Retention of the namespace the cluster creates (an operator's step); 3 days by default. */
  retentionDays?: number;
  /** Use this running PostgreSQL (another cluster's) instead of starting one; databasePrefix must then differ. */
  postgres?: Pick<Postgres, 'host' | 'port'>;
  /** Names the databases <prefix> and <prefix>_visibility; "temporal" by default. */
  databasePrefix?: string;
  /** Authorize every call (default authorizer and JWT claim mapper; see temporal-server.ts). */
  authorization?: ServerAuthorization;
}

function runTool(tool: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', (err) => reject(err));
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(tool)} ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`)),
    );
  });
}

/** create-database, setup-schema -v 0.0, update-schema to the newest version, for one database. */
async function applySchema(
  b: ClusterBinaries,
  pg: Pick<Postgres, 'host' | 'port'>,
  database: string,
  schema: 'temporal' | 'visibility',
): Promise<void> {
  const common = ['--plugin', 'postgres12', '--ep', pg.host, '-p', String(pg.port), '-u', POSTGRES_USER, '--db', database];
  await runTool(b.sqlTool, [...common, 'create-database']);
  await runTool(b.sqlTool, [...common, 'setup-schema', '-v', '0.0']);
  await runTool(b.sqlTool, [...common, 'update-schema', '-d', path.join(b.schemaDir, schema, 'versioned')]);
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  const binaries = opts.binaries ?? (await ensureClusterBinaries(log));
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'medic-cluster-'));
  // PostgreSQL runs as an unprivileged user when we are root: it must reach its data directory.
  fs.chmodSync(dir, 0o755);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    let postgres = opts.postgres;
    if (!postgres) {
      const own = await startPostgres(path.join(dir, 'postgres'));
      cleanups.push(() => own.stop());
      postgres = own;
    }
    const prefix = opts.databasePrefix ?? 'temporal';
    const databases = { temporal: prefix, visibility: `${prefix}_visibility` };
    await Promise.all([
      applySchema(binaries, postgres, databases.temporal, 'temporal'),
      applySchema(binaries, postgres, databases.visibility, 'visibility'),
    ]);
    log(`postgres on ${postgres.host}:${postgres.port}, schemas applied to ${prefix}* in ${Date.now() - t0} ms`);

    const tlsDir = path.join(dir, 'tls');
    const ca = createCertificateAuthority('medic cluster CA');
    fs.mkdirSync(tlsDir, { recursive: true });
    const caFile = path.join(tlsDir, 'ca.pem');
    fs.writeFileSync(caFile, ca.cert);
    const server = writeKeyPair(tlsDir, 'temporal-server', issueServerCertificate(ca, { dnsNames: [SERVER_NAME, 'localhost'] }));
    const medic = writeKeyPair(tlsDir, 'medic', issueClientCertificate(ca, CLUSTER_IDENTITIES.medic));
    const system = writeKeyPair(tlsDir, 'system-worker', issueClientCertificate(ca, CLUSTER_IDENTITIES.systemWorker));
    const tls: ClientTlsFiles = { caFile, serverName: SERVER_NAME, ...medic };

    const temporal = await startTemporalServer(
      {
        binary: binaries.server,
        dir: path.join(dir, 'temporal'),
        postgres: { host: postgres.host, port: postgres.port, user: POSTGRES_USER },
        databases,
        ...(opts.authorization && { authorization: opts.authorization }),
        tls: {
          caFile,
          serverCertFile: server.certFile,
          serverKeyFile: server.keyFile,
          systemWorkerCertFile: system.certFile,
          systemWorkerKeyFile: system.keyFile,
          serverName: SERVER_NAME,
        },
      },
      clientTls(tls),
    );
    cleanups.push(() => temporal.stop());
    log(`temporal server ${temporal.address} (pid ${temporal.pid()}) up ${Date.now() - t0} ms after start`);

    const operatorToken = opts.authorization?.operatorToken;
    const connect = (): Promise<Connection> =>
      Connection.connect({ address: temporal.address, tls: clientTls(tls), ...(operatorToken && { apiKey: operatorToken }) });
    // The namespace is an operator's job on a real cluster (medic's setup checks it, never makes it).
    const conn = await connect();
    try {
      await conn.workflowService
        .registerNamespace({
          namespace: CLUSTER_NAMESPACE,
          workflowExecutionRetentionPeriod: msToTs((opts.retentionDays ?? 3) * 86_400_000),
        })
        .catch((err: { code?: number }) => {
          if (err.code !== 6) throw err; // ALREADY_EXISTS
        });
    } finally {
      await conn.close();
    }
    return {
      dir,
      address: temporal.address,
      namespace: CLUSTER_NAMESPACE,
      tls,
      ...(operatorToken && { operatorToken }),
      ca,
      postgres,
      server: temporal,
      connect,
      async stop() {
        for (const c of cleanups.reverse()) await c().catch(() => {});
        if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    throw err;
  }
}
