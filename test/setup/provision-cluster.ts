// `npm run provision:cluster`: builds (or reuses, from the per-machine cache) the Temporal
// server and SQL tool, then brings a cluster up once and down again to prove it works.
// `-- --up`: keep the cluster running until Ctrl-C and print how to point medic and the
// benchmarks at it (MEDIC_BENCH_CLUSTER_FILE).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureClusterBinaries, clusterCacheDir } from './cluster/binaries';
import { startCluster } from './cluster/cluster';

async function main(): Promise<void> {
  const up = process.argv.includes('--up');
  const log = (line: string): void => void process.stdout.write(`[provision:cluster] ${line}\n`);
  const t0 = Date.now();
  const binaries = await ensureClusterBinaries(log);
  log(`temporal server and sql tool ready in ${clusterCacheDir()} (${Date.now() - t0} ms)`);
  const t1 = Date.now();
  const cluster = await startCluster({ binaries, log });
  log(`cluster up in ${Date.now() - t1} ms: ${cluster.address} (namespace ${cluster.namespace}, mTLS)`);
  if (!up) {
    await cluster.stop();
    log('cluster stopped (run with -- --up to keep one running)');
    return;
  }
  const file = path.join(cluster.dir, 'cluster.json');
  fs.writeFileSync(file, JSON.stringify({ address: cluster.address, namespace: cluster.namespace, tls: cluster.tls }, null, 2));
  log(`connection details in ${file}; e.g. MEDIC_BENCH_CLUSTER_FILE=${file} npm run bench:storm`);
  log(
    `temporal { address = "${cluster.address}"  tls { ca_file = "${cluster.tls.caFile}" cert_file = "${cluster.tls.certFile}" key_file = "${cluster.tls.keyFile}" server_name = "${cluster.tls.serverName}" } }`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await cluster.stop();
}

main().catch((err: Error) => {
  process.stderr.write(`provision:cluster failed: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
