// Before the trigger daemon starts polling: one dry-run trigger per configured workflow, so a
// client certificate the coordinator refuses (or an ACL that does not admit this daemon) stops
// the daemon at once with the reason, instead of every firing rule failing quietly later.
// An unreachable coordinator is not fatal (the daemon retries); a TLS problem is explained.
import type { CoordinatorClient as CoordinatorClientConfig } from '../config/trigger';
import type { CoordinatorClient } from '../client/coordinator-client';
import { checkTlsFiles, probeTls } from '../temporal/tls-diagnosis';

/** Thrown when the coordinator refuses this daemon for good: wrong certificate, untrusted CA, or ACL. */
export class TriggerPreflightError extends Error {
  override name = 'TriggerPreflightError';
}

/** Resolves when the coordinator admits this daemon's identity (or cannot be reached now); throws TriggerPreflightError otherwise. */
export async function preflight(
  client: Pick<CoordinatorClient, 'trigger'>,
  config: CoordinatorClientConfig,
  workflows: string[],
): Promise<void> {
  const local = checkTlsFiles(config);
  if (local.length) throw new TriggerPreflightError(local.join('; '));
  for (const workflow of new Set(workflows)) {
    // The ACL runs before the body is read: a 403 here is about who we are, not what we send.
    const outcome = await client.trigger(workflow, { target: {} }, { dryRun: true });
    if (outcome.kind === 'rejected' && (outcome.status === 403 || outcome.status === 401)) {
      const details = (outcome.body as { details?: { identity?: string | null; certificate?: string } } | undefined)?.details;
      throw new TriggerPreflightError(
        `the coordinator at ${config.address} refused this daemon (${outcome.status}: ${outcome.message}; ` +
          `identity ${details?.identity ?? 'none'}${details?.certificate ? `, certificate: ${details.certificate}` : ''}) ` +
          `with cert_file ${config.certFile ?? '(none)'}: use a certificate signed by the coordinator's client_ca_file whose SPIFFE ID a route_rule admits`,
      );
    }
    if (outcome.kind === 'unavailable' && config.address.startsWith('https://')) {
      const url = new URL(config.address);
      const why = await probeTls(`${url.hostname}:${url.port || 443}`, config, {
        server: `the coordinator at ${config.address}`,
      });
      if (why) throw new TriggerPreflightError(why);
      return;
    }
  }
}
