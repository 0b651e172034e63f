// What cluster tests need from the run's production-shaped Temporal (test/setup/cluster/):
// its address and medic's mTLS files, passed from the global setup through the environment.
import type { TemporalConfig } from '../../src/config/temporal';
import { setupTemporal } from '../../src/temporal/setup';
import type { ClientTlsFiles, Cluster } from '../setup/cluster/cluster';

/** The SDK's TLS options for a set of files (mTLS when a certificate pair is given). */
export { clientTls as sdkTls } from '../setup/cluster/temporal-server';

export interface ClusterEnv {
  address: string;
  namespace: string;
  tls: ClientTlsFiles;
  /** The cluster's PostgreSQL, where a test can start a server of its own (own databases). */
  postgres?: { host: string; port: number };
}

export function setClusterEnv(
  cluster: Pick<Cluster, 'address' | 'namespace' | 'tls'> & Partial<Pick<Cluster, 'postgres'>>,
): void {
  process.env.MEDIC_TEST_TEMPORAL_ADDRESS = cluster.address;
  process.env.MEDIC_TEST_TEMPORAL_TLS = JSON.stringify(cluster.tls);
  process.env.MEDIC_TEST_TEMPORAL_NAMESPACE = cluster.namespace;
  if (cluster.postgres) process.env.MEDIC_TEST_POSTGRES = `${cluster.postgres.host}:${cluster.postgres.port}`;
}

export function clusterEnv(): ClusterEnv {
  const address = process.env.MEDIC_TEST_TEMPORAL_ADDRESS;
  const tls = process.env.MEDIC_TEST_TEMPORAL_TLS;
  if (!address || !tls)
    throw new Error('no cluster: cluster tests run with jest -c jest.cluster.config.js (npm run test:cluster)');
  const pg = process.env.MEDIC_TEST_POSTGRES?.match(/^(.+):(\d+)$/);
  return {
    address,
    namespace: process.env.MEDIC_TEST_TEMPORAL_NAMESPACE ?? 'default',
    tls: JSON.parse(tls) as ClientTlsFiles,
    ...(pg && { postgres: { host: pg[1]!, port: Number(pg[2]) } }),
  };
}

/** A `temporal { ... }` block for coordinator.hcl / worker.hcl pointing at the cluster over mTLS (and an api_key_file when given). */
export function temporalBlock(env: ClusterEnv, tls: Partial<ClientTlsFiles> = {}, apiKeyFile?: string): string {
  const t = { ...env.tls, ...tls };
  const apiKey = apiKeyFile ? `  api_key_file = "${apiKeyFile}"\n` : '';
  return `temporal {
  address   = "${env.address}"
  namespace = "${env.namespace}"
${apiKey}  tls {
    ca_file     = "${t.caFile}"
    cert_file   = "${t.certFile}"
    key_file    = "${t.keyFile}"
    server_name = "${t.serverName}"
  }
}
`;
}

/** medic's TemporalConfig for a cluster, as coordinator.hcl's temporal block would give it. */
export function temporalConfig(env: ClusterEnv, tls: Partial<ClientTlsFiles> = {}): TemporalConfig {
  const t = { ...env.tls, ...tls };
  return {
    address: env.address,
    namespace: env.namespace,
    tls: { caFile: t.caFile, certFile: t.certFile, keyFile: t.keyFile, serverName: t.serverName },
  };
}

/** What an operator runs once per cluster: `medic temporal setup` (its module), failing loudly. */
export async function prepareForMedic(env: ClusterEnv, say: (line: string) => void = () => {}): Promise<void> {
  const result = await setupTemporal(temporalConfig(env), { say });
  if (!result.ok) throw new Error(`medic temporal setup failed on the cluster: ${result.message}`);
}
