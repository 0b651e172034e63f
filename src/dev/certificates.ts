// `medic dev`'s certificates: a dev CA, the coordinator's server certificate and client
// certificates for the CLI and the trigger daemon, made on the first run and reused after.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDevCertificates } from '../tls/certificates';

/** Client identities the shipped config/coordinator.hcl admits (cli/*, trigger/*). */
export const DEV_CLIENTS = {
  cli: 'spiffe://medic.dev/cli/dev',
  trigger: 'spiffe://medic.dev/trigger/dev',
} as const;

const FILES = ['ca.pem', 'server.pem', 'server-key.pem', 'cli.pem', 'cli-key.pem', 'trigger.pem', 'trigger-key.pem'];

/** Makes the set in `dir` unless it is all there already; says which it did. */
export function ensureDevCertificates(dir: string): 'created' | 'reused' {
  if (FILES.every((f) => fs.existsSync(path.join(dir, f)))) return 'reused';
  // A partial set cannot be completed without trusting an unknown CA key: start over.
  writeDevCertificates(dir, DEV_CLIENTS, { dnsNames: ['localhost'] });
  return 'created';
}
