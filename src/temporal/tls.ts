// How medic authenticates to Temporal, from the `temporal { ... }` block that coordinator.hcl
// and worker.hcl share: TLS (mTLS when a certificate pair is given) and an API key (Temporal
// Cloud). Files are read when connecting, so a renewed certificate is picked up on the next
// (re)connect; the API key file is read again whenever it changes, so a rotated key needs no restart.
import * as fs from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import type { TemporalConfig } from '../config/temporal';
import { readSecretFile } from '../config/secret';

/** undefined: plaintext (no tls block, no API key); otherwise TLS, with mTLS when a cert pair is given. */
export function temporalTls(config: TemporalConfig): TLSConfig | undefined {
  const tls = config.tls;
  if (!tls) return config.apiKeyFile ? {} : undefined;
  const [ca, crt, key] = [tls.caFile, tls.certFile, tls.keyFile].map((f) => (f ? fs.readFileSync(f) : undefined));
  return {
    ...(tls.serverName && { serverNameOverride: tls.serverName }),
    ...(ca && { serverRootCACertificate: ca }),
    ...(crt && key && { clientCertPair: { crt, key } }),
  };
}

/** The API key as the SDK takes it: a function, re-reading the file when its mtime changes. */
export function temporalApiKey(config: TemporalConfig): (() => string) | undefined {
  const file = config.apiKeyFile;
  if (!file) return undefined;
  let cached = { mtimeMs: fs.statSync(file).mtimeMs, value: readSecretFile(file, 'temporal api_key_file') };
  return () => {
    const mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs;
    if (mtimeMs !== undefined && mtimeMs !== cached.mtimeMs) {
      try {
        cached = { mtimeMs, value: readSecretFile(file, 'temporal api_key_file') };
      } catch {
        // Mid-rotation (empty or unreadable for a moment): keep the key we have.
      }
    }
    return cached.value.reveal();
  };
}

/** address, TLS and API key of a connection, for Connection.connect and NativeConnection.connect. */
export function temporalConnection(config: TemporalConfig): { address: string; tls?: TLSConfig; apiKey?: () => string } {
  const tls = temporalTls(config);
  const apiKey = temporalApiKey(config);
  return { address: config.address, ...(tls && { tls }), ...(apiKey && { apiKey }) };
}
