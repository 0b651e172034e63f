// The TLS options of a Temporal connection, from the `temporal { tls { ... } }` block that
// coordinator.hcl and worker.hcl share. Files are read when connecting, so a renewed
// certificate is picked up on the next (re)connect.
import { promises as fs } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import type { TemporalConfig } from '../config/temporal';

/** undefined: plaintext (no tls block); otherwise TLS, with mTLS when a cert pair is given. */
export async function temporalTls(config: TemporalConfig): Promise<TLSConfig | undefined> {
  const tls = config.tls;
  if (!tls) return undefined;
  const [ca, crt, key] = await Promise.all([tls.caFile, tls.certFile, tls.keyFile].map((f) => (f ? fs.readFile(f) : undefined)));
  return {
    ...(tls.serverName && { serverNameOverride: tls.serverName }),
    ...(ca && { serverRootCACertificate: ca }),
    ...(crt && key && { clientCertPair: { crt, key } }),
  };
}
