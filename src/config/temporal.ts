// The `temporal { ... }` block shared by coordinator.hcl and worker.hcl.
import * as path from 'node:path';
import type { Decoder } from './decoder';

/** Client-side TLS files: a client certificate and key (for mTLS), a CA, a server name. */
export interface TemporalTls {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  serverName?: string;
}

/** Reads cert_file, key_file, ca_file and server_name of a block that connects somewhere over TLS. */
export function readClientTls(t: Decoder): TemporalTls {
  const tls: TemporalTls = {
    certFile: configPath(t.file, t.string('cert_file', { nonEmpty: true })),
    keyFile: configPath(t.file, t.string('key_file', { nonEmpty: true })),
    caFile: configPath(t.file, t.string('ca_file', { nonEmpty: true })),
    serverName: t.string('server_name', { nonEmpty: true }),
  };
  if (!!tls.certFile !== !!tls.keyFile) t.error(undefined, 'cert_file and key_file go together');
  return tls;
}

export interface TemporalConfig {
  address: string;
  namespace: string;
  tls?: TemporalTls;
  /** A 256-bit key: every payload is encrypted in Temporal history (secret params). Same file for coordinators and workers. */
  payloadKeyFile?: string;
  /** A file holding an API key (Temporal Cloud), sent as `Authorization: Bearer`; implies TLS. */
  apiKeyFile?: string;
}

export const DEFAULT_TEMPORAL: TemporalConfig = { address: '127.0.0.1:7233', namespace: 'default' };

/** Resolves a file path written in config relative to the directory of that config file. */
export function configPath(file: string, p: string | undefined): string | undefined {
  return p === undefined ? undefined : path.resolve(path.dirname(file), p);
}

export function readTemporal(d: Decoder | undefined): TemporalConfig {
  if (!d) return { ...DEFAULT_TEMPORAL };
  const address = d.string('address', { nonEmpty: true }) ?? DEFAULT_TEMPORAL.address;
  if (!/^[^\s:]+:\d{1,5}$/.test(address) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(address)) {
    d.error('address', `${JSON.stringify(address)} is not host:port`);
  }
  const namespace = d.string('namespace', { nonEmpty: true }) ?? DEFAULT_TEMPORAL.namespace;
  const payloadKeyFile = configPath(d.file, d.string('payload_key_file', { nonEmpty: true }));
  const apiKeyFile = configPath(d.file, d.string('api_key_file', { nonEmpty: true }));
  const t = d.block('tls');
  let tls: TemporalTls | undefined;
  if (t) {
    tls = readClientTls(t);
    t.finish();
  }
  d.finish();
  return {
    address,
    namespace,
    tls,
    ...(payloadKeyFile !== undefined && { payloadKeyFile }),
    ...(apiKeyFile && { apiKeyFile }),
  };
}
